"""What the integration tests and the chaos suite share: the real local stack, workers,
the San Pedro Bay feed and its backtest, and helpers to read what they produced.

The test stack runs on its own ports and folder (so a demo stack on the default
ports is left alone), is started with the project's own ``berthwatch stack up``
and stopped at the end if this session started it. The session fixtures here
(``stack``, ``spb_feed``, ``spb_backtest``) are registered once, by ``tests/conftest.py``,
so a session running both suites starts the stack and simulates the feed once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.records import decode_alert
from streams.settings import Settings, load_settings
from streams.tools.stack import services

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BERTHWATCH = [sys.executable, "-m", "streams"]


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


#: the test stack's settings; BERTHWATCH_TEST_STACK_ENV names another file (a second
#: stack on other ports beside this one, e.g. for the chaos suite run by hand)
TEST_ENV = _read_env(Path(os.environ.get("BERTHWATCH_TEST_STACK_ENV")
                          or Path(__file__).with_name("stack.env")))
TEST_ENV["BERTHWATCH_STACK_DIR"] = str(PROJECT_ROOT / TEST_ENV["BERTHWATCH_STACK_DIR"])


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick), for a worker's web server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


TopicRow = tuple[int, int, bytes, bytes, int, dict[str, str]]
"""A record read back: partition, offset, key, value, timestamp (ms), headers."""


def read_topic(settings: Settings, topic: str) -> list[TopicRow]:
    """Every record of ``topic`` up to its end offsets: (partition, offset, key, value,
    timestamp ms, headers), in (partition, offset) order."""
    from streams.kafka.io import read_topic_to_end

    return [(r.partition, r.offset, r.key, r.value, r.timestamp,
             {k: v.decode(errors="replace") for k, v in r.headers})
            for r in read_topic_to_end(settings.kafka_bootstrap, topic, timeout_s=60)]


def bounded_dead_letter(dead: list[TopicRow], line: bytes, at: int) -> TopicRow:
    """The one dead letter of an over-long ``line`` (line number ``at`` of its file) among
    ``dead``, checked: its first 64 KiB, with the whole line's length and SHA-256."""
    import hashlib

    (letter,) = [d for d in dead if d[5]["error_class"] == "oversized_record"]
    value, headers = letter[3], letter[5]
    assert len(value) == 64 * 1024 and line.startswith(value)
    assert int(headers["original_length"]) == len(line)
    assert headers["original_sha256"] == hashlib.sha256(line).hexdigest()
    assert int(headers["source_offset"]) == at
    return letter


# --------------------------------------------------------------------------- workers

#: the San Pedro Bay scenario, cut to the months of the offshore queue's counting change
SPB_START, SPB_END = "2021-08-01", "2021-12-31"
FEED_NAMES = ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz")


@pytest.fixture(scope="session")
def spb_feed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """The simulated San Pedro Bay feed (the demo's, five months of it) and its labels."""
    from streams.tools.simulator import ScenarioOptions, TrackOptions, simulate

    out = tmp_path_factory.mktemp("spb-feed")
    simulate(out, "san-pedro-bay-2021", ScenarioOptions(seed=0, start=SPB_START, end=SPB_END),
             track=TrackOptions(cadence_s=1800))
    return [out / n for n in FEED_NAMES], out / "labels.json"


Transition = tuple[str, str, float, str]


@pytest.fixture(scope="session")
def spb_backtest(spb_feed: tuple[list[Path], Path]) -> list[Transition]:
    """The alert transitions ``berthwatch backtest`` finds on the same feed, in order."""
    from streams.labels import load_labels
    from streams.offline.backtest import run_backtest

    paths, labels = spb_feed
    result = run_backtest(paths, load_labels(labels))
    out = [(a.key, a.state, a.ts, a.severity) for a in result.output.alerts]
    assert len(out) >= 20, "the scenario should raise a fair number of alerts"
    return out


def deployment(name: str, labels: Path, **extra: str) -> dict[str, str]:
    """Environment of a fresh deployment on the test stack: own topics, own group."""
    import uuid

    tag = f"{name}-{uuid.uuid4().hex[:6]}"
    env = {"BERTHWATCH_TOPIC_PREFIX": f"{tag}.", "BERTHWATCH_WORKER_ID": tag,
           "BERTHWATCH_METHODOLOGY_CHANGES_FILE": str(labels),
           "BERTHWATCH_CHECKPOINT_INTERVAL_SECONDS": "1", **extra}
    run_cli("topics", "create", env=env)
    return env


def metric(worker: Worker, name: str, /, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none or down)."""
    from streams.tools.demo import worker_metric

    value = worker_metric("127.0.0.1", worker.web_port, name, **labels)
    return 0.0 if value is None else value


def published(settings: Settings, env: dict[str, str]) -> list[Transition]:
    """Every alert transition on the deployment's alerts topic (per key in order)."""
    topic = f"{env['BERTHWATCH_TOPIC_PREFIX']}alerts"
    out = []
    for _p, _o, _k, value, _ts, _h in read_topic(settings, topic):
        a = decode_alert(value)
        out.append((a.key, a.state, a.ts, a.severity))
    return out


def wait_detected_to_end(workers: list[Worker], timeout: float = 400) -> Worker:
    """Wait until a worker's detection stage has closed the feed (end-of-feed markers
    from every feed partition) and checkpointed after that; returns that worker."""
    def done() -> Worker | None:
        for w in workers:
            if w.proc.poll() is None and metric(w, "berthwatch_feed_complete") == 1:
                return w
        return None

    return eventually(done, timeout, interval=1.0)  # type: ignore[no-any-return]


def wait_published(settings: Settings, env: dict[str, str], expected: int,
                   timeout: float = 60) -> list[Transition]:
    """The alerts topic once it holds ``expected`` records and nothing more arrives."""
    eventually(lambda: len(published(settings, env)) >= expected, timeout, interval=1.0)
    time.sleep(3)  # anything doubled would arrive now
    return published(settings, env)


def same_alerts(streamed: list[Transition], backtest: list[Transition]) -> None:
    """Fail unless ``streamed`` holds every transition of ``backtest`` exactly once, nothing
    else, in the backtest's order per alert key."""
    doubled = [t for t, n in Counter(streamed).items() if n > 1]
    assert not doubled, f"published twice: {doubled[:5]}"
    lost = sorted(set(backtest) - set(streamed))
    extra = sorted(set(streamed) - set(backtest))
    assert not lost and not extra, f"lost {lost[:5]}; not in the backtest {extra[:5]}"
    # per alert key, the transitions come in the backtest's order (keys map to partitions)
    for key in {t[0] for t in backtest}:
        assert [t for t in streamed if t[0] == key] == [t for t in backtest if t[0] == key]
