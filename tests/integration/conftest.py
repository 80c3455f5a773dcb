"""Session fixtures that start the real local stack once for all integration tests.

The test stack runs on its own ports and folder (so a demo stack on the default
ports is left alone), is started with the project's own ``berthwatch stack up``
and stopped at the end if this session started it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings, load_settings
from streams.stack import services

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BERTHWATCH = [sys.executable, "-m", "streams"]



def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


TEST_ENV = _read_env(Path(__file__).with_name("stack.env"))
TEST_ENV["BERTHWATCH_STACK_DIR"] = str(PROJECT_ROOT / TEST_ENV["BERTHWATCH_STACK_DIR"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``berthwatch ARGS`` in a subprocess, as a user would."""
    result = subprocess.run(
        [*BERTHWATCH, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=PROJECT_ROOT, check=False,
    )
    if check and result.returncode != 0:
        out = f"{result.stdout}\n{result.stderr}"
        raise AssertionError(f"berthwatch {' '.join(args)} failed:\n{out}")
    return result


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The real Kafka, Prometheus and Alertmanager, started once per session."""
    env = dict(TEST_ENV)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    if not any(svc.pid() for svc in services(settings)):
        shutil.rmtree(settings.stack_dir, ignore_errors=True)  # start from empty topics
    try:
        run_cli("stack", "up", timeout=600)
        yield settings
    finally:
        run_cli("stack", "down", check=False)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def http_json(url: str, params: dict[str, str] | None = None) -> Any:
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def eventually(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as e:  # service not answering yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def prom_query(settings: Settings, expr: str) -> list[dict[str, Any]]:
    body = http_json(f"{settings.prom_url}/api/v1/query", {"query": expr})
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


class Worker:
    """A real ``berthwatch worker`` subprocess with its own log file."""

    def __init__(self, log: Path, web_port: int, extra_env: dict[str, str] | None = None):
        self.log = log
        self.web_port = web_port
        env = {**os.environ, **(extra_env or {}), "BERTHWATCH_WORKER_WEB_PORT": str(web_port)}
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(
            [*BERTHWATCH, "worker"], stdout=self._fh, stderr=subprocess.STDOUT, env=env,
            cwd=PROJECT_ROOT, start_new_session=True,
        )

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode())

    def wait_ready(self, timeout: float = 90.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text()[-2000:]}")
            return "Worker]: Ready" in self.log.read_text(errors="replace")

        eventually(ready, timeout)

    def stop(self, sig: int = 15) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
        self._fh.close()


def read_topic(settings: Settings, topic: str) -> list[tuple[int, int, bytes, bytes, int,
                                                           dict[str, str]]]:
    """Every record of ``topic``: (partition, offset, key, value, timestamp ms, headers)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out = []
        remaining = {tp: end[tp] for tp in parts if end[tp] > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=1000, max_records=50_000).items():
                for m in msgs:
                    headers = {k: v.decode(errors="replace") for k, v in (m.headers or [])}
                    out.append((m.partition, m.offset, m.key, m.value, m.timestamp, headers))
                if consumer.position(tp) >= end[tp]:
                    remaining.pop(tp, None)
        assert not remaining, f"could not read {topic} to its end: {remaining}"
        return sorted(out, key=lambda r: (r[0], r[1]))
    finally:
        consumer.close()
