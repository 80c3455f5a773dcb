"""The worker image's install, without a container engine: the project installed as the
Dockerfile installs it and run as the image's unprivileged user against the real broker,
with its probes answering and the real Prometheus scraping its process metrics.

What the test does in place of ``docker build``: it copies what the Dockerfile's build
stage copies (its ``COPY`` lines) into a fresh folder, creates a root-owned virtual
environment and runs ``pip install --no-deps`` of that copy into it (not editable; pip
builds the wheel in its usual isolated build environment). The dependencies are not
installed again: the environment sees the test environment's site-packages through a
``.pth`` line, which keeps the test to seconds. The
worker then runs as UID/GID 65534 (``setpriv``), from ``/``, without ``PYTHONPATH``, with
a state folder owned by that user, as in the image.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.settings import Settings
from tests.integration.conftest import PROJECT_ROOT, TEST_ENV, eventually, prom_query

DOCKERFILE = PROJECT_ROOT / "deploy" / "docker" / "Dockerfile"
NOBODY = 65534


def _copied_by_dockerfile() -> list[str]:
    """Sources the build stage copies from the project (``COPY`` without ``--from``)."""
    sources: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources.extend(line.split()[1:-1])
    return sources


def _pip_extras() -> str:
    match = re.search(r'pip install [^"]*"\.(\[[\w,]+\])"', DOCKERFILE.read_text())
    assert match, "the Dockerfile installs the project with pip, not editable"
    return match.group(1)


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, Path]]:
    """(berthwatch executable of a root-owned install, a state folder owned by 65534)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to install as root and run as UID 65534")
    assert "pip install -e" not in DOCKERFILE.read_text()
    root = Path(tempfile.mkdtemp(prefix="berthwatch-image-"))
    root.chmod(0o755)  # the unprivileged user reaches the install, cannot write it
    try:
        src = root / "src"
        src.mkdir()
        for name in _copied_by_dockerfile():
            path = PROJECT_ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, src / name)
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        where = "import sysconfig; print(sysconfig.get_path('purelib'))"
        purelib = subprocess.run([str(venv / "bin" / "python"), "-c", where],
                                 capture_output=True, text=True, check=True).stdout.strip()
        # the dependencies from this environment: appended after the venv's own packages
        (Path(purelib) / "test-dependencies.pth").write_text(
            "\n".join(site.getsitepackages()) + "\n")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--no-deps", "--no-cache-dir",
                        f"{src}{_pip_extras()}"],
                       check=True, timeout=300, env=env, cwd=root)
        shutil.rmtree(src)
        state = root / "state"
        state.mkdir()
        os.chown(state, NOBODY, NOBODY)
        yield venv / "bin" / "berthwatch", state
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_installed_worker_runs_unprivileged_is_ready_and_scraped(
        stack: Settings, installed: tuple[Path, Path], tmp_path: Path) -> None:
    berthwatch, state = installed
    venv = berthwatch.parent.parent
    # a port the stack's Prometheus scrapes (worker_metrics_ports), not a free one, and not
    # the web port the session's other workers take
    port = stack.worker_metrics_ports[-1]
    assert port != stack.worker_web_port
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BERTHWATCH_") and k != "PYTHONPATH"}
    env.update({k: v for k, v in TEST_ENV.items() if k != "BERTHWATCH_STACK_DIR"})
    env.update({"HOME": "/nonexistent", "BERTHWATCH_STATE_DIR": str(state),
                "BERTHWATCH_WORKER_ID": "image-test", "BERTHWATCH_WORKER_WEB_PORT": str(port),
                "BERTHWATCH_ALERTMANAGER_URL": f"http://127.0.0.1:{_free_port()}"})
    log = tmp_path / "worker.log"
    t0 = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             str(berthwatch), "worker"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd="/", start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            return _get(f"{base}/readyz")[0] == 200

        eventually(ready, timeout=120)
        took = time.monotonic() - t0
        assert _get(f"{base}/healthz") == (200, "ok\n")
        status, body = _get(f"{base}/readyz")
        assert status == 200 and body.startswith("ready: "), body
        assert _get(f"{base}/ready")[0] == 200  # the earlier name still answers

        # it runs the installed copy, as the unprivileged user, writing only its state folder
        pid_owner = os.stat(f"/proc/{proc.pid}").st_uid
        assert pid_owner == NOBODY
        exe = subprocess.run(["cat", f"/proc/{proc.pid}/cmdline"], capture_output=True,
                             check=True).stdout.split(b"\0")
        assert exe[1].decode() == str(berthwatch), exe
        assert (state / "image-test").is_dir()
        assert not [p for p in venv.rglob("*") if p.lstat().st_uid == NOBODY]

        # the real Prometheus scrapes its process metrics and build info
        where = f'instance="127.0.0.1:{port}"'
        memory = eventually(lambda: prom_query(
            stack, f'process_resident_memory_bytes{{{where}}}'), timeout=30)
        assert float(memory[0]["value"][1]) > 10e6
        build = eventually(lambda: prom_query(stack, f"berthwatch_build_info{{{where}}}"),
                           timeout=30)
        assert build[0]["metric"]["version"] == "0.1.0"
        python = eventually(lambda: prom_query(stack, f"python_info{{{where}}}"), timeout=30)
        assert build[0]["metric"]["python"] == python[0]["metric"]["version"]
        assert eventually(lambda: prom_query(stack, f"process_open_fds{{{where}}}"), timeout=30)
        print(f"installed worker ready in {took:.1f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert proc.returncode == 0, log.read_text()[-3000:]
