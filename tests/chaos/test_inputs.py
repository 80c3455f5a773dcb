"""Chaos scenarios that fit in a minute each (they also run in ``make test``): a 1 MB
line in a feed file, an Alertmanager that refuses the first posts, a misspelt setting.

Each replays the whole San Pedro Bay feed (five months, 855,000 records, 41 alert
transitions) through one worker as fast as the broker takes it, and compares the
alerts topic with the backtest, the feed topics with the files and the worker's state
gauges with the undisturbed run's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings, unknown_env
from tests.chaos.checks import feed_matches_files, same_gauges, total
from tests.chaos.feeds import with_line
from tests.chaos.proxy import AlertmanagerProxy
from tests.chaos.runs import Run, settled_gauges, start_worker
from tests.integration.harness import (
    Transition,
    bounded_dead_letter,
    deployment,
    eventually,
    metric,
    read_topic,
    run_cli,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)

pytestmark = [pytest.mark.chaos]


@pytest.mark.integration
def test_huge_line(stack: Settings, spb_feed: tuple[list[Path], Path],
                   spb_backtest: list[Transition], undisturbed: Run, figures: dict[str, Any],
                   tmp_path: Path) -> None:
    """The test_replay case (a 1 MB line, a bounded dead letter) in a real feed file: the
    rest of the file and the pipeline behind it are exactly as without it."""
    paths, labels = spb_feed
    inventory = next(p for p in paths if p.name.startswith("inventory"))
    huge = "2021-10-01T00:00:00Z,S00000,SEMI-000000," + "X" * 1_000_000 + ",65.87"
    at = 100_000
    files = [with_line(p, tmp_path / p.name, at, huge) if p == inventory else p for p in paths]
    env = deployment("huge", labels)
    prefix = env["BERTHWATCH_TOPIC_PREFIX"]
    worker = start_worker(tmp_path / "worker.log", env)
    try:
        t0 = time.monotonic()
        run_cli("replay", *map(str, files), env=env, timeout=400)
        wait_detected_to_end([worker])
        figures["seconds_to_feed_end"] = round(time.monotonic() - t0)
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        letter = bounded_dead_letter(read_topic(stack, prefix + "deadletter"), huge.encode(),
                                     at=at)
        figures["dead_letter_bytes"] = len(letter[3])
        figures["records"] = feed_matches_files(stack, prefix, files)
        figures["series"] = same_gauges(settled_gauges([worker]), undisturbed.gauges)
    finally:
        worker.stop()


def test_am_refuses(stack: Settings, spb_feed: tuple[list[Path], Path],
                    spb_backtest: list[Transition], undisturbed: Run, figures: dict[str, Any],
                    tmp_path: Path) -> None:
    """test_alertmanager's case (a 400 drops the refused alert alone) with a worker
    behind it: detection and the alerts topic are untouched, each refused alert is
    counted and dropped, every other alert reaches the real Alertmanager."""
    paths, labels = spb_feed
    proxy = AlertmanagerProxy(stack.am_url, refuse=3)
    env = deployment("refuses", labels, BERTHWATCH_ALERTMANAGER_URL=proxy.url)
    worker = start_worker(tmp_path / "worker.log", env)
    try:
        run_cli("replay", *map(str, paths), env=env, timeout=400)
        wait_detected_to_end([worker])
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        final = {key: state for key, state, _ts, _sev in alerts}  # per key, in order

        def settled() -> bool:
            delivered, last = proxy.delivered(), proxy.last_post()
            return all(delivered.get(k) == s or (k in last and last[k].status == 400)
                       for k, s in final.items())

        eventually(settled, timeout=120, interval=1.0)
        refused = proxy.refused_alone()
        assert refused, "the proxy refused no alert on its own"
        eventually(lambda: metric(worker, "berthwatch_alerts_rejected_total") == len(refused),
                   timeout=30)
        figures["refused"] = len(refused)
        figures["delivered"] = len(proxy.delivered())
        last = proxy.last_post()
        dropped = sum(1 for k, s in final.items() if s == "firing" and last[k].status == 400)
        gauges = settled_gauges([worker])
        want = dict(undisturbed.gauges)
        assert total(gauges, "berthwatch_alerts_firing") == \
            total(want, "berthwatch_alerts_firing") - dropped
        figures["series"] = same_gauges(
            {k: v for k, v in gauges.items() if k[0] != "berthwatch_alerts_firing"},
            {k: v for k, v in want.items() if k[0] != "berthwatch_alerts_firing"})
    finally:
        worker.stop()
        proxy.close()


@pytest.mark.integration
def test_unknown_setting(stack: Settings, spb_feed: tuple[list[Path], Path],
                         spb_backtest: list[Transition], undisturbed: Run,
                         figures: dict[str, Any], tmp_path: Path) -> None:
    """A misspelt variable in the environment of the replay and the worker: one warning
    line in each (the project's wording, naming the closest setting when one is close),
    and nothing else changes."""
    paths, labels = spb_feed
    typo = {"BERTHWATCH_SECURITY_PROTOCOLL": "SSL"}
    (line,) = unknown_env(typo)
    env = deployment("typo", labels, **typo)
    prefix = env["BERTHWATCH_TOPIC_PREFIX"]
    worker = start_worker(tmp_path / "worker.log", env)
    try:
        out = run_cli("replay", *map(str, paths), env=env, timeout=400)
        wait_detected_to_end([worker])
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        assert (out.stdout + out.stderr).count("BERTHWATCH_SECURITY_PROTOCOLL") == 1
        assert f"warning: {line}" in out.stderr
        log = worker.log.read_text(errors="replace")
        assert log.count("BERTHWATCH_SECURITY_PROTOCOLL") == 1, log[:3000]
        assert f"warning: {line}" in log
        figures["closest_named"] = "did you mean" in line
        figures["records"] = feed_matches_files(stack, prefix, paths)
        figures["series"] = same_gauges(settled_gauges([worker]), undisturbed.gauges)
    finally:
        worker.stop()
