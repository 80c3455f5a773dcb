"""A rebalance storm: 1, 2, 1, 3 and 1 workers during one paced replay, each worker
leaving by kill -9 (no final checkpoint, no leave-group: the group waits out its
session timeout). The alerts topic holds every transition once; the last worker,
alone in the end, exports what one undisturbed worker does."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.chaos.checks import same_gauges
from tests.chaos.runs import Run, finished, settled_gauges, start_replay, start_worker
from tests.integration.harness import (
    Transition,
    Worker,
    deployment,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)

pytestmark = pytest.mark.chaos

#: five months of event time in about 130 s
SPEED = "100000"


def test_rebalance_storm(stack: Settings, spb_feed: tuple[list[Path], Path],
                         spb_backtest: list[Transition], undisturbed: Run,
                         figures: dict[str, Any], tmp_path: Path) -> None:
    paths, labels = spb_feed
    env = deployment("storm", labels)
    workers: list[Worker] = []
    alive: list[Worker] = []
    counts = []

    def join(n: int) -> None:
        for _ in range(n):
            w = start_worker(tmp_path / f"w{len(workers)}.log", env)
            workers.append(w)
            alive.append(w)
        counts.append(len(alive))

    def kill(n: int) -> None:
        for w in alive[:n]:
            w.stop(signal.SIGKILL)
            assert w.proc.returncode == -signal.SIGKILL
        del alive[:n]
        counts.append(len(alive))

    try:
        join(1)
        replay = start_replay(paths, env, tmp_path / "replay.log", "--speed", SPEED)
        t0 = time.monotonic()
        for step in (lambda: join(1), lambda: kill(1), lambda: join(2), lambda: kill(2)):
            time.sleep(15)
            step()
            assert replay.poll() is None, "the replay ended before the storm did"
        figures["workers"] = "-".join(map(str, counts))
        figures["storm_seconds"] = round(time.monotonic() - t0)
        finished(replay, tmp_path / "replay.log")
        (last,) = alive
        wait_detected_to_end([last])
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        figures["series"] = same_gauges(settled_gauges([last]), undisturbed.gauges)
    finally:
        for w in workers:
            w.stop(signal.SIGKILL)
