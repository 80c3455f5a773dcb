"""A slow Alertmanager: every request takes 5 s (a proxy in front of the real one).

Delivery runs beside detection, never in its way: the alerts topic and the gauges are
exact and as early as in the undisturbed run, and every alert reaches the real
Alertmanager in the end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.chaos.checks import same_gauges
from tests.chaos.proxy import AlertmanagerProxy
from tests.chaos.runs import Run, settled_gauges, start_worker
from tests.integration.harness import (
    Transition,
    deployment,
    eventually,
    metric,
    run_cli,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)

pytestmark = pytest.mark.chaos

DELAY_S = 5.0


def test_slow_alertmanager(stack: Settings, spb_feed: tuple[list[Path], Path],
                           spb_backtest: list[Transition], undisturbed: Run,
                           figures: dict[str, Any], tmp_path: Path) -> None:
    paths, labels = spb_feed
    proxy = AlertmanagerProxy(stack.am_url, delay=DELAY_S)
    env = deployment("slowam", labels, BERTHWATCH_ALERTMANAGER_URL=proxy.url)
    worker = start_worker(tmp_path / "worker.log", env)
    try:
        t0 = time.monotonic()
        run_cli("replay", *map(str, paths), env=env, timeout=400)
        wait_detected_to_end([worker])
        seconds = time.monotonic() - t0
        figures["seconds_to_feed_end"] = round(seconds)
        figures["undisturbed_seconds"] = round(undisturbed.seconds)
        assert seconds < 1.5 * undisturbed.seconds + 20, "detection waited for delivery"
        alerts = wait_published(stack, env, len(spb_backtest), timeout=30)
        same_alerts(alerts, spb_backtest)
        figures["alerts"] = len(alerts)
        figures["series"] = same_gauges(settled_gauges([worker]), undisturbed.gauges)
        final = {key: state for key, state, _ts, _sev in alerts}  # per key, in order
        t1 = time.monotonic()
        eventually(lambda: all(proxy.delivered().get(k) == s for k, s in final.items()),
                   timeout=180, interval=1.0)
        figures["seconds_to_deliver_after"] = round(time.monotonic() - t1)
        figures["posts"] = len({p.at for p in proxy.posts})
        assert metric(worker, "berthwatch_alerts_rejected_total") == 0
    finally:
        worker.stop()
        proxy.close()
