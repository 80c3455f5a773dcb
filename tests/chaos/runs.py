"""Runs of the pipeline on the test stack that the scenarios disturb: workers on free
ports, replays as subprocesses, the settled state of a run."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.checks import Series, state_gauges
from tests.integration.harness import (
    BERTHWATCH,
    PROJECT_ROOT,
    Transition,
    Worker,
    eventually,
    free_port,
)


@dataclass
class Run:
    """What a run left: its deployment, alerts topic, state gauges (summed over its
    workers) and the seconds from the replay's start to the feed's end detected."""

    env: dict[str, str]
    alerts: list[Transition]
    gauges: dict[Series, float]
    seconds: float


def start_worker(log: Path, env: dict[str, str]) -> Worker:
    """A ``berthwatch worker`` of the deployment ``env`` on a free web port, ready."""
    worker = Worker(log, free_port(), env)
    worker.wait_ready()
    return worker


def start_replay(paths: list[Path], env: dict[str, str], log: Path,
                 *options: str) -> subprocess.Popen[bytes]:
    """``berthwatch replay OPTIONS PATHS`` in the background, its output in ``log``."""
    return subprocess.Popen([*BERTHWATCH, "replay", *options, *map(str, paths)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, **env}, cwd=PROJECT_ROOT)


def finished(replay: subprocess.Popen[bytes], log: Path, timeout: float = 400) -> str:
    """Wait for a replay to end well; its output."""
    code = replay.wait(timeout)
    out = log.read_text(errors="replace")
    assert code == 0, f"replay exited {code}: {out[-2000:]}"
    return out


def settled_gauges(workers: list[Worker], timeout: float = 60) -> dict[Series, float]:
    """The state gauges summed over ``workers`` once two readings 3 s apart agree."""
    def settled() -> dict[Series, float] | None:
        before = state_gauges(workers)
        time.sleep(3)
        return before if before and before == state_gauges(workers) else None

    gauges: dict[Series, float] = eventually(settled, timeout, interval=0.5)
    return gauges


def backtest(paths: list[Path], labels: Path) -> list[Transition]:
    """The alert transitions ``berthwatch backtest`` finds on ``paths``, in order."""
    from streams.labels import load_labels
    from streams.offline.backtest import run_backtest

    result = run_backtest(paths, load_labels(labels))
    return [(a.key, a.state, a.ts, a.severity) for a in result.output.alerts]
