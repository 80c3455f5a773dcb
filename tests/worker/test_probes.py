"""The worker's probes: alive, and ready only while consuming, assigned and progressing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.worker.probes import ProgressWatch, Readiness, readiness

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


class Broker:
    def __init__(self, up: bool = True, outage: float = 0.0) -> None:
        self.is_up = up
        self.outage = outage

    def outage_s(self) -> float:
        return self.outage


def test_not_ready_while_the_broker_is_down_or_not_consuming() -> None:
    watch = ProgressWatch(60)
    down = readiness(consuming=True, broker=Broker(False, 42.4), positions={"p": 1}, lag=0,
                     watch=watch, now=0)
    assert not down.ready and down.reason == "Kafka unreachable for 42 s"
    idle = readiness(consuming=False, broker=Broker(), positions={"p": 1}, lag=0, watch=watch,
                     now=0)
    assert not idle.ready and idle.reason == "not consuming"


def test_needs_partitions() -> None:
    r = readiness(consuming=True, broker=Broker(), positions={}, lag=0, watch=ProgressWatch(60),
                  now=0)
    assert not r.ready and r.reason == "no partitions assigned"


def test_lag_without_progress_for_the_bound_is_not_ready_and_progress_makes_it_ready() -> None:
    watch = ProgressWatch(60)

    def probe(positions: dict[str, int], lag: int, now: float) -> Readiness:
        return readiness(consuming=True, broker=Broker(), positions=positions, lag=lag,
                         watch=watch, now=now)

    assert probe({"a": 5, "b": 7}, lag=100, now=0).ready
    assert probe({"a": 5, "b": 7}, lag=100, now=59.9).ready
    stuck = probe({"a": 5, "b": 7}, lag=100, now=60)
    assert not stuck.ready and stuck.details["stalled_seconds"] == 60
    assert probe({"a": 6, "b": 7}, lag=99, now=61).ready


def test_caught_up_stays_ready_however_long_it_idles() -> None:
    watch = ProgressWatch(60)
    for now in (0.0, 100.0, 10_000.0):
        assert readiness(consuming=True, broker=Broker(), positions={"a": 5}, lag=0,
                         watch=watch, now=now).ready


def test_a_new_assignment_counts_as_progress() -> None:
    watch = ProgressWatch(10)
    assert not watch.stalled({"a": 5}, lag=3, now=0)
    assert watch.stalled({"a": 5}, lag=3, now=10)
    assert not watch.stalled({"a": 5, "b": 0}, lag=3, now=11)


def test_importing_the_app_writes_nothing(tmp_path: Path) -> None:
    """The image runs as an unprivileged user under a root-owned install: importing the
    faust app must not create folders (the worker creates its state_dir when it starts)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BERTHWATCH_STACK_DIR": str(tmp_path / "st"),
           "BERTHWATCH_STATE_DIR": str(tmp_path / "state")}
    env.pop("BERTHWATCH_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", "import streams.app"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_state_dir_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BERTHWATCH_STATE_DIR": str(blocker / "x")}
    env.pop("BERTHWATCH_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", "from streams.app import main; main([])"],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: state_dir "), out.stderr
    assert "BERTHWATCH_STATE_DIR" in lines[0]
