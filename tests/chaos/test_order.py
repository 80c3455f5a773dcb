"""Records out of order and late, and two producers whose clocks are far apart.

The worker's event-time clock per feed partition closes an interval (an hour; a day for
inventory) once its newest record is 15 minutes (the allowed lateness) past its end; a
record of a closed interval is late: counted in ``berthwatch_late_records_total`` and
handled by the late policy (it updates an entity's state when newer, never a closed
interval). A detection shard releases an interval once every feed partition closed it,
so producers that own different partitions may be hours or months apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.chaos.checks import feed_matches_files, same_gauges
from tests.chaos.feeds import feed_name, out_of_order, split_by_partition
from tests.chaos.runs import Run, backtest, settled_gauges, start_worker
from tests.integration.harness import (
    PROJECT_ROOT,
    Transition,
    deployment,
    metric,
    run_cli,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)

pytestmark = pytest.mark.chaos

#: rows of each feed sent again days later (a producer re-sending them)
LATE = {"positions": 15, "containers": 5, "inventory": 0}
LATE_S = 3 * 86_400


def _out_of_order(stack: Settings, spb_feed: tuple[list[Path], Path],
                  spb_backtest: list[Transition], undisturbed: Run, figures: dict[str, Any],
                  tmp_path: Path, window_s: int) -> None:
    """Rows shuffled within aligned windows of ``window_s`` seconds, a few re-sent days
    late; the alerts must equal the backtest of the same files (which sorts them)."""
    paths, labels = spb_feed
    files, moved, resent = [], 0, 0
    for p in paths:
        m, r = out_of_order(p, tmp_path / p.name, window_s=window_s, late=LATE[feed_name(p)],
                            late_s=LATE_S, seed=7)
        files.append(tmp_path / p.name)
        moved, resent = moved + m, resent + r
    figures["rows_out_of_order"], figures["rows_days_late"] = moved, resent
    want = backtest(files, labels)
    figures["backtest_as_undisturbed"] = want == spb_backtest
    env = deployment("order", labels)
    worker = start_worker(tmp_path / "worker.log", env)
    try:
        run_cli("replay", *map(str, files), env=env, timeout=400)
        wait_detected_to_end([worker])
        late = metric(worker, "berthwatch_late_records_total")
        figures["late_counted"] = int(late)
        alerts = wait_published(stack, env, len(want))
        same_alerts(alerts, want)
        figures["alerts"] = len(alerts)
        assert late == resent, "the rows re-sent days late, and only they, are late"
        figures["records"] = feed_matches_files(stack, env["BERTHWATCH_TOPIC_PREFIX"], files)
        figures["series"] = same_gauges(settled_gauges([worker]), undisturbed.gauges)
    finally:
        worker.stop()


def test_out_of_order(stack: Settings, spb_feed: tuple[list[Path], Path],
                      spb_backtest: list[Transition], undisturbed: Run,
                      figures: dict[str, Any], tmp_path: Path) -> None:
    """Disorder within an interval (an hour: less than an interval plus the allowed
    lateness behind the newest record) changes nothing; rows days late are counted."""
    _out_of_order(stack, spb_feed, spb_backtest, undisturbed, figures, tmp_path, 3600)


@pytest.mark.xfail(strict=True, reason=(
    "records more than the allowed lateness (15 min, not a setting) behind their "
    "partition's newest are late by design: they update entity state only, so the "
    "alerts differ from the backtest of the same rows in order"))
def test_out_of_order_hours(stack: Settings, spb_feed: tuple[list[Path], Path],
                            spb_backtest: list[Transition], undisturbed: Run,
                            figures: dict[str, Any], tmp_path: Path) -> None:
    """Disorder within 3-hour windows: a known limit, kept here so that the table shows it
    and a change of the late policy shows up (this then passes, and fails as strict)."""
    _out_of_order(stack, spb_feed, spb_backtest, undisturbed, figures, tmp_path, 3 * 3600)


def _producer(files: list[Path], env: dict[str, str], log: Path,
              *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.chaos.producer", *options,
                             *map(str, files)], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, env={**os.environ, **env},
                            cwd=PROJECT_ROOT)


def test_clock_skew(stack: Settings, spb_feed: tuple[list[Path], Path],
                    spb_backtest: list[Transition], undisturbed: Run,
                    figures: dict[str, Any], tmp_path: Path) -> None:
    """Two producers of disjoint halves of the feed (split by key so that each owns half
    the partitions): the first paced at 400,000 times real time, the second 20 s later
    as fast as the broker takes it, so their event times are months apart, then days,
    then the second is ahead; the last end-of-feed markers once both are done."""
    paths, labels = spb_feed
    halves: list[list[Path]] = [[], []]
    for p in paths:
        for i, half in enumerate(halves):
            (tmp_path / f"half{i}").mkdir(exist_ok=True)
            half.append(tmp_path / f"half{i}" / p.name)
        split_by_partition(p, halves[0][-1], halves[1][-1], stack.topic_partitions)
    env = deployment("skew", labels)
    worker = start_worker(tmp_path / "worker.log", env)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    try:
        t0 = time.monotonic()
        first = _producer(halves[0], env, logs[0], "--speed", "400000")
        time.sleep(20)
        second = _producer(halves[1], env, logs[1])
        for proc, log in zip((first, second), logs, strict=True):
            assert proc.wait(400) == 0, log.read_text()[-2000:]
        figures["seconds_producing"] = round(time.monotonic() - t0)
        eof = _producer(paths, env, tmp_path / "eof.log", "--end-of-feed")
        assert eof.wait(120) == 0, (tmp_path / "eof.log").read_text()[-2000:]
        wait_detected_to_end([worker])
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        figures["late_counted"] = int(metric(worker, "berthwatch_late_records_total"))
        figures["records"] = feed_matches_files(stack, env["BERTHWATCH_TOPIC_PREFIX"], paths)
        figures["series"] = same_gauges(settled_gauges([worker]), undisturbed.gauges)
    finally:
        worker.stop()
