"""The stack commands on the real services: idempotent up, status, clean down, bad input."""

from __future__ import annotations

import socket
from pathlib import Path

from streams.settings import Settings
from streams.tools.stack import services
from tests.integration.conftest import run_cli


def _our_processes(stack_dir: Path) -> list[str]:
    """Command lines of live processes that belong to the stack in ``stack_dir``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(stack_dir) in args and ("kafka.Kafka" in args or "prometheus" in args):
            found.append(args)
    return found


def _ports(stack: Settings, offset: int) -> dict[str, str]:
    """Ports for a second stack beside the session's: its own, moved by ``offset``
    (so test stacks on other ports, a second checkout's, never collide with it)."""
    return {
        "BERTHWATCH_KAFKA_PORT": str(stack.kafka_port + offset),
        "BERTHWATCH_KAFKA_CONTROLLER_PORT": str(stack.kafka_controller_port + offset),
        "BERTHWATCH_PROMETHEUS_PORT": str(stack.prometheus_port + offset),
        "BERTHWATCH_ALERTMANAGER_PORT": str(stack.alertmanager_port + offset),
    }


def test_up_is_idempotent_and_status_reports(stack: Settings) -> None:
    pids = {svc.name: svc.pid() for svc in services(stack)}
    assert all(pids.values()), pids
    again = run_cli("stack", "up")
    assert "starting" not in again.stderr  # nothing restarted
    assert {svc.name: svc.pid() for svc in services(stack)} == pids
    status = run_cli("stack", "status")
    for svc in services(stack):
        assert f"{stack.host}:{svc.port}" in status.stdout
    assert status.stdout.count("ready") >= 3


def test_down_leaves_nothing_and_up_after_down(tmp_path: Path, stack: Settings) -> None:
    # A second, separate stack on other ports, so the session's stack stays up.
    env = {
        "BERTHWATCH_STACK_DIR": str(tmp_path / "second"),
        **_ports(stack, 100),
    }
    try:
        run_cli("stack", "up", env=env)
        assert len(_our_processes(tmp_path / "second")) == 3
        down = run_cli("stack", "down", env=env)
        assert "stopped kafka" in down.stderr
        assert _our_processes(tmp_path / "second") == []
        stopped = run_cli("stack", "status", env=env, check=False)
        assert stopped.returncode == 3 and "stopped" in stopped.stdout
        # restart on the same folder: storage is already formatted, start is warm
        run_cli("stack", "up", env=env)
        assert len(_our_processes(tmp_path / "second")) == 3
    finally:
        run_cli("stack", "down", env=env, check=False)
    assert _our_processes(tmp_path / "second") == []


def test_port_in_use_is_one_line_and_leaves_nothing(tmp_path: Path, stack: Settings) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    env = {
        "BERTHWATCH_STACK_DIR": str(tmp_path / "third"),
        **_ports(stack, 200),
        "BERTHWATCH_ALERTMANAGER_PORT": str(busy),
    }
    try:
        result = run_cli("stack", "up", env=env, check=False)
    finally:
        blocker.close()
    assert result.returncode != 0
    err = result.stderr.strip().splitlines()[-1]
    assert f"port {busy}" in err and "alertmanager" in err
    assert "Traceback" not in result.stderr
    # kafka and prometheus had started before the clash: they were stopped again
    assert _our_processes(tmp_path / "third") == []


def test_unknown_kafka_version_is_one_line(tmp_path: Path, stack: Settings) -> None:
    env = {
        "BERTHWATCH_STACK_DIR": str(tmp_path / "fourth"),
        "BERTHWATCH_CACHE_DIR": str(tmp_path / "cache"),
        "BERTHWATCH_KAFKA_VERSION": "3.9.99",
        **_ports(stack, 300),
    }
    result = run_cli("stack", "fetch", env=env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not fetch Kafka 3.9.99 jars" in lines[0]
    assert not (tmp_path / "cache" / "kafka-3.9.99" / "libs").exists()
