"""Quality floors of the service's own detection on simulated feeds: each can fail.

* The demo's bundled scenario (San Pedro Bay, autumn 2020 to spring 2022, AIS every 30
  minutes, seed 0, exactly what ``berthwatch demo`` replays), run through the backtest
  (the detection stage the workers run): the alert budget (at most 120 firings, no series
  firing twice within 30 days, nothing said about a limit before it takes effect), the
  honest lead before the region's queue passes 40 ships (a warning in force at the
  crossing, started at least 3 weeks before), silence at the 2021-11-16 counting change,
  recall and false alarms.
* One held-out seed of the ``random`` scenario (seed 21, not looked at before the
  parameters were fixed): at most 1 false alarm per series per 90 days, and recall at
  least 0.94 (18 of its 19 windows; the five held-out seeds 21 to 25 pool to 151 of 153,
  0.987, seed 21 being the one under 0.95).

Figures measured when the floors were set are in docs/QUALITY.md.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pytest

from streams.detection import TREND_ROUTES
from streams.labels import load_labels
from streams.offline.backtest import BacktestResult, run_backtest, simulate_feeds
from streams.times import DAY, parse_timestamp
from streams.tools.demo import DEMO_CADENCE
from streams.tools.simulator import ScenarioOptions, TrackOptions, simulate

SPB_QUEUE = "vessels_waiting|san-pedro-bay"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    out = tmp_path_factory.mktemp("demo-feed")
    simulate(out, "san-pedro-bay-2021", ScenarioOptions(seed=0),
             track=TrackOptions(cadence_s=DEMO_CADENCE))
    feeds = [out / f for f in ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz")]
    return run_backtest(feeds, load_labels(out / "labels.json"), level_leads={SPB_QUEUE: 40.0})


def test_demo_alert_budget(demo_run: BacktestResult) -> None:
    firing = [a for a in demo_run.output.alerts if a.state == "firing"]
    assert 0 < len(firing) <= 120
    by_series: dict[str, list[float]] = defaultdict(list)
    for a in firing:
        by_series[a.series].append(a.ts)
    gaps = [b - a for ts in by_series.values() for a, b in itertools.pairwise(sorted(ts))]
    assert min(gaps, default=30 * DAY) >= 30 * DAY
    load = demo_run.alert_load()
    assert load.refired_within_30d == 0 and load.firings == len(firing)


def test_demo_says_nothing_about_a_limit_before_it_takes_effect(
    demo_run: BacktestResult,
) -> None:
    cfg = demo_run.config
    fee = parse_timestamp("2021-10-25T00:00:00Z")
    limit_alerts = [a for a in demo_run.output.alerts if a.detector in TREND_ROUTES]
    dwell = [a for a in limit_alerts if a.series.startswith(("dwell_truck", "dwell_rail"))]
    assert dwell, "the dwell limits were never alerted on"
    for a in limit_alerts:
        assert a.ts >= cfg.limit_from(a.detector, a.series)
    assert min(a.ts for a in dwell) >= fee
    # a series already past the limit when it took effect gets one state alert
    past = [a for a in dwell if a.state == "firing" and a.kind == "past_limit"]
    assert past and all(a.value > a.limit for a in past)


def test_demo_lead_before_the_queue_passes_40_ships(demo_run: BacktestResult) -> None:
    (lead,) = demo_run.level_leads
    assert lead.reached is not None and lead.lead_days is not None
    assert lead.lead_days >= 21.0


def test_demo_is_silent_at_the_counting_change(demo_run: BacktestResult) -> None:
    assert demo_run.labels is not None
    (change,) = demo_run.labels.changes
    affected = set(change.series)
    near = [
        a for a in demo_run.output.alerts
        if a.series in affected and change.time_s - DAY <= a.ts <= change.time_s + 21 * DAY
        and a.state == "firing"
    ]
    assert near == []


def test_demo_recall_and_false_alarms(demo_run: BacktestResult) -> None:
    m = demo_run.metrics
    assert m is not None
    assert m.recall >= 0.95
    assert m.max_false_alarms_per_series_per_90d <= 1.0


def test_held_out_seed_recall_and_false_alarms(tmp_path: Path) -> None:
    feeds = simulate_feeds(tmp_path, "random", seed=21)
    res = run_backtest(feeds, load_labels(tmp_path / "labels.json"))
    m = res.metrics
    assert m is not None and m.windows > 10
    assert m.recall >= 0.94
    assert m.false_alarms_per_series_per_90d <= 1.0
    assert m.max_false_alarms_per_series_per_90d <= 1.0
    assert res.alert_load().refired_within_30d == 0
