"""The broker goes away under a running replay (``--wait``) and one worker: bounced
(kill -9, restarted at once) every 30 s, or killed for 60 s. The worker process keeps
running, says so in ``berthwatch_broker_up`` (0 while the broker is away, 1 after) and
resumes by itself; the replay rides the outage out; the final alerts equal the backtest.

The broker is killed as test_replay's broker-kill test does it and started again with
the project's stack module.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from streams.tools import stack as stack_mod
from streams.tools.stack import Kafka, StackError
from tests.chaos.checks import feed_matches_files, same_gauges
from tests.chaos.runs import Run, finished, settled_gauges, start_replay, start_worker
from tests.integration.harness import (
    Transition,
    Worker,
    deployment,
    eventually,
    metric,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)

pytestmark = pytest.mark.chaos



def _kill_broker(settings: Settings) -> None:
    kafka = Kafka(settings)
    pid = kafka.pid()
    assert pid is not None, "the test broker is not running"
    os.killpg(pid, signal.SIGKILL)
    kafka.pid_file.unlink(missing_ok=True)


def _start_broker(settings: Settings, timeout: float = 60) -> None:
    """The stack up again; a broker killed a moment ago may still hold its ports."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stack_mod.up(settings, report=lambda _line: None)
            return
        except StackError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _broker_up(worker: Worker) -> float:
    assert worker.proc.poll() is None, f"the worker exited: {worker.log.read_text()[-2000:]}"
    return metric(worker, "berthwatch_broker_up")


def _outages(stack: Settings, spb_feed: tuple[list[Path], Path],
             spb_backtest: list[Transition], undisturbed: Run, figures: dict[str, Any],
             tmp_path: Path, *, name: str, speed: str, every_s: float, down_s: float,
             times: int) -> None:
    """Kill the broker ``times`` times, ``every_s`` apart, each time for ``down_s``
    (0: restart at once), during a replay --wait paced at ``speed`` through one worker."""
    paths, labels = spb_feed
    env = deployment(name, labels)
    worker = start_worker(tmp_path / "worker.log", env)
    log = tmp_path / "replay.log"
    outage = 0.0
    seen_down = 0
    try:
        eventually(lambda: _broker_up(worker) == 1, timeout=30)
        replay = start_replay(paths, env, log, "--wait", "--speed", speed)
        for _ in range(times):
            time.sleep(every_s)
            assert replay.poll() is None, "the replay ended before the broker went away"
            _kill_broker(stack)
            t0 = time.monotonic()
            if down_s:
                eventually(lambda: _broker_up(worker) == 0, timeout=down_s, interval=1.0)
                seen_down += 1
                time.sleep(max(0.0, down_s - (time.monotonic() - t0)))
            else:
                seen_down += _broker_up(worker) == 0
            _start_broker(stack)
            outage += time.monotonic() - t0
            eventually(lambda: _broker_up(worker) == 1, timeout=120, interval=1.0)
        figures["outages"] = times
        figures["seconds_of_outage"] = round(outage)
        figures["broker_up_0_seen"] = seen_down
        out = finished(replay, log, timeout=600)
        assert "Traceback" not in out, out[-2000:]
        wait_detected_to_end([worker], timeout=600)
        assert worker.proc.poll() is None
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        figures["records"] = feed_matches_files(stack, env["BERTHWATCH_TOPIC_PREFIX"], paths)
        figures["series"] = same_gauges(settled_gauges([worker]), undisturbed.gauges)
    finally:
        worker.stop()
        if Kafka(stack).pid() is None:
            _start_broker(stack)  # back, and ready, for what follows


def test_broker_bounce(stack: Settings, spb_feed: tuple[list[Path], Path],
                       spb_backtest: list[Transition], undisturbed: Run,
                       figures: dict[str, Any], tmp_path: Path) -> None:
    _outages(stack, spb_feed, spb_backtest, undisturbed, figures, tmp_path, name="bounce",
             speed="100000", every_s=30, down_s=0, times=3)  # five months in 130 s


def test_broker_outage(stack: Settings, spb_feed: tuple[list[Path], Path],
                       spb_backtest: list[Transition], undisturbed: Run,
                       figures: dict[str, Any], tmp_path: Path) -> None:
    _outages(stack, spb_feed, spb_backtest, undisturbed, figures, tmp_path, name="outage",
             speed="200000", every_s=20, down_s=60, times=1)  # five months in 66 s
