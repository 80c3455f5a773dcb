"""The gauges of /metrics: latest values in base units, detector state, the item top-N.

The metrics are module-level: every test uses its own port, site and series names.
"""

from __future__ import annotations

import math

import numpy as np

from streams.detection import AlertTransition, PipelineConfig, PointScores, StageOutput
from streams.features import FeaturePoints
from streams.metrics import REGISTRY
from streams.worker.export import Exporter, is_item

HOUR, DAY = 3600.0, 86400.0
T = 1_637_000_000 // 3600 * 3600
NAN = math.nan


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _points(*rows: tuple[str, int, float]) -> FeaturePoints:
    """(key, end_s, value) rows, sorted by end then key as the combiner releases them."""
    rows = tuple(sorted(rows, key=lambda r: (r[1], r[0])))
    return FeaturePoints(
        np.array([r[0].encode() for r in rows], dtype=bytes),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.float64),
    )


def _scores(route: str, ts: float, rows: dict[str, dict[str, float]]) -> StageOutput:
    keys = list(rows)
    names = sorted({n for r in rows.values() for n in r})
    cols = {n: np.array([rows[k].get(n, NAN) for k in keys]) for n in names}
    s = PointScores()
    s.add(route, ts, keys, cols, np.zeros(len(keys), dtype=np.int8))
    return StageOutput(scores=s)


def test_points_set_the_latest_value_in_base_units() -> None:
    p, q = "XZEXA", "XZEXB"
    ex = Exporter(PipelineConfig())
    ex.points(_points(
        (f"vessels_waiting|{p}", T, 3.0), (f"vessels_waiting|{p}", T + 3600, 5.0),
        (f"arrivals|{p}", T + 3600, 2.0), (f"departures|{p}", T + 3600, 1.0),
        (f"wait_p50|{p}", T + 3600, 2.0), (f"wait_p90|{p}", T + 3600, 3.5),
        (f"boxes_on_terminal|{p}", T + 3600, 900.0),
        (f"boxes_on_terminal|{p}|T1", T + 3600, 400.0),
        (f"past_truck_limit|{p}|T1", T + 3600, 12.0),
        (f"past_rail_limit|{p}", T + 3600, 4.0),
        (f"dwell_truck_p90|{p}|T1", T + 3600, 4.0),
        (f"dwell_p50|{p}", T + 3600, 1.5),
        (f"dwell_rail_p50|{p}", T, 2.5),
        (f"days_of_supply_p10|{q}", T + 3600, 6.5), (f"days_of_supply_p50|{q}", T + 3600, 21.0),
        (f"below_limit|{q}", T + 3600, 3.0),
    ))  # fmt: skip
    assert _value("berthwatch_vessels_waiting", port=p) == 5.0
    assert _value("berthwatch_vessel_arrivals", port=p) == 2.0
    assert _value("berthwatch_vessel_departures", port=p) == 1.0
    assert _value("berthwatch_vessel_wait_seconds", port=p, quantile="0.5") == 2.0 * HOUR
    assert _value("berthwatch_vessel_wait_seconds", port=p, quantile="0.9") == 3.5 * HOUR
    assert _value("berthwatch_boxes_on_terminal", port=p, terminal="all") == 900.0
    assert _value("berthwatch_boxes_on_terminal", port=p, terminal="T1") == 400.0
    assert _value("berthwatch_boxes_past_limit", port=p, terminal="T1", limit="truck") == 12.0
    assert _value("berthwatch_boxes_past_limit", port=p, terminal="all", limit="rail") == 4.0
    dwell = "berthwatch_container_dwell_seconds"
    assert _value(dwell, port=p, terminal="T1", mode="truck", quantile="0.9") == 4.0 * DAY
    assert _value(dwell, port=p, terminal="all", mode="any", quantile="0.5") == 1.5 * DAY
    assert _value(dwell, port=p, terminal="all", mode="rail", quantile="0.5") == 2.5 * DAY
    assert _value("berthwatch_days_of_supply", site=q, quantile="0.1") == 6.5
    assert _value("berthwatch_days_of_supply", site=q, quantile="0.5") == 21.0
    assert _value("berthwatch_items_below_supply_limit", site=q) == 3.0
    # the raw series keeps its own unit (hours, days)
    assert _value("berthwatch_series_value", series=f"wait_p90|{p}") == 3.5
    assert _value("berthwatch_series_value", series=f"dwell_truck_p90|{p}|T1") == 4.0
    assert _value("berthwatch_event_time_seconds", port=p) == T + 3600
    assert _value("berthwatch_event_time_seconds", port=q) is None  # inventory: no port clock


def test_nan_does_not_overwrite_the_last_known_value() -> None:
    p = "XZNAN"
    ex = Exporter(PipelineConfig())
    ex.points(_points((f"wait_p90|{p}", T, 2.0), (f"dwell_truck_p90|{p}|T1", T, 3.0)))
    ex.points(_points((f"wait_p90|{p}", T + 3600, NAN), (f"dwell_truck_p90|{p}|T1", T + 3600, NAN)))
    assert _value("berthwatch_vessel_wait_seconds", port=p, quantile="0.9") == 2.0 * HOUR
    assert (
        _value(
            "berthwatch_container_dwell_seconds",
            port=p,
            terminal="T1",
            mode="truck",
            quantile="0.9",
        )
        == 3.0 * DAY
    )
    assert _value("berthwatch_series_value", series=f"wait_p90|{p}") == 2.0
    assert _value("berthwatch_event_time_seconds", port=p) == T + 3600  # the clock moved on


def test_nan_at_the_end_of_a_batch_keeps_the_batchs_last_known_value() -> None:
    p = "XZNAM"
    ex = Exporter(PipelineConfig())
    ex.points(_points((f"wait_p90|{p}", T, 1.0)))
    # one release of three intervals (a catch-up, or the end-of-feed flush)
    ex.points(
        _points(
            (f"wait_p90|{p}", T + 3600, 2.0),
            (f"wait_p90|{p}", T + 7200, 2.5),
            (f"wait_p90|{p}", T + 10800, NAN),
        )
    )
    # interval by interval this is 2.5 h; the batch must not change it
    assert _value("berthwatch_vessel_wait_seconds", port=p, quantile="0.9") == 2.5 * HOUR


def _items(site: str, scores: dict[str, float]) -> dict[str, dict[str, float]]:
    return {
        f"days_of_supply|{site}|{i}": {"score": s, "value": 10.0 * s} for i, s in scores.items()
    }


def test_only_the_top_items_have_series() -> None:
    site = "SITE-TOPN"
    ex = Exporter(PipelineConfig(), top=2)
    ex.scores(
        _scores("supply_trend", T, _items(site, {"A": 0.1, "B": 0.7, "C": 0.3, "D": 0.9, "E": 0.5}))
    )

    def with_series() -> set[str]:
        return {
            i
            for i in "ABCDE"
            if _value("berthwatch_item_days_of_supply", site=site, item=i) is not None
        }

    assert with_series() == {"B", "D"}
    assert _value("berthwatch_item_days_of_supply", site=site, item="D") == 9.0
    assert (
        _value(
            "berthwatch_detector_score", detector="supply_trend", series=f"days_of_supply|{site}|D"
        )
        == 0.9
    )
    assert _value("berthwatch_series_value", series=f"days_of_supply|{site}|B") == 7.0
    # a newer value of a top item replaces the scored one; one outside the top adds nothing
    ex.points(
        _points(
            (f"days_of_supply|{site}|B", T + 3600, 6.0), (f"days_of_supply|{site}|C", T + 3600, 2.0)
        )
    )
    assert _value("berthwatch_item_days_of_supply", site=site, item="B") == 6.0
    assert with_series() == {"B", "D"}
    # C becomes the most anomalous: B (now third) loses every item-labelled series
    ex.scores(_scores("supply_trend", T + 3600, _items(site, {"C": 0.95})))
    assert with_series() == {"C", "D"}
    assert _value("berthwatch_item_days_of_supply", site=site, item="C") == 2.0  # its value
    b = f"days_of_supply|{site}|B"
    assert _value("berthwatch_detector_score", detector="supply_trend", series=b) is None
    assert _value("berthwatch_series_value", series=b) is None
    assert set(ex.items) == {f"days_of_supply|{site}|C", f"days_of_supply|{site}|D"}


def test_item_scores_that_are_not_finite_are_not_ranked() -> None:
    site = "SITE-NANS"
    ex = Exporter(PipelineConfig(), top=3)
    ex.scores(_scores("supply_trend", T, _items(site, {"A": NAN, "B": 0.2})))
    assert _value("berthwatch_item_days_of_supply", site=site, item="A") is None
    assert _value("berthwatch_item_days_of_supply", site=site, item="B") == 2.0


def test_top_zero_exports_no_items() -> None:
    site = "SITE-ZERO"
    ex = Exporter(PipelineConfig(), top=0)
    ex.scores(_scores("supply_trend", T, _items(site, {"A": 0.9})))
    ex.points(_points((f"days_of_supply|{site}|A", T + 3600, 1.0)))
    assert _value("berthwatch_item_days_of_supply", site=site, item="A") is None


def test_detector_gauges_and_crossing_removal() -> None:
    p = "XZDET"
    key = f"vessels_waiting|{p}"
    cfg = PipelineConfig(limits={key: 14.0})
    ex = Exporter(cfg)
    ex.scores(
        _scores(
            "queue_trend",
            T,
            {
                key: {
                    "score": 0.85,
                    "value": 9.0,
                    "expected": 10.0,
                    "lower": 8.0,
                    "upper": NAN,
                    "crossing": T + 2 * DAY,
                }
            },
        )
    )
    labels = {"detector": "queue_trend", "series": key}
    assert REGISTRY.get_sample_value("berthwatch_detector_score", labels) == 0.85
    assert REGISTRY.get_sample_value("berthwatch_detector_expected", labels) == 10.0
    assert REGISTRY.get_sample_value("berthwatch_detector_lower", labels) == 8.0
    assert REGISTRY.get_sample_value("berthwatch_detector_upper", labels) is None
    assert REGISTRY.get_sample_value("berthwatch_detector_limit", labels) == 14.0
    crossing = "berthwatch_detector_crossing_timestamp_seconds"
    assert REGISTRY.get_sample_value(crossing, labels) == T + 2 * DAY
    # the projection goes away: so does the crossing time
    ex.scores(_scores("queue_trend", T + 3600, {key: {"score": 0.2, "crossing": NAN}}))
    assert REGISTRY.get_sample_value(crossing, labels) is None
    assert REGISTRY.get_sample_value("berthwatch_detector_score", labels) == 0.2
    ex.scores(_scores("composite", T + 3600, {f"composite|{p}": {"score": 0.5, "value": 2.5}}))
    assert _value("berthwatch_disruption_index", port=p) == 2.5


def test_alert_gauges_follow_transitions_but_not_items() -> None:
    def alert(series: str, state: str) -> AlertTransition:
        return AlertTransition("k", state, series, "queue_trend", "warning", T + 7200, T, 1.0, NAN,
                     NAN, NAN, NAN, NAN, NAN, NAN, "")  # fmt: skip

    series = "vessels_waiting|XZALR"
    labels = {"detector": "queue_trend", "series": series, "severity": "warning"}
    exp = Exporter(PipelineConfig())
    exp.alert(alert(series, "firing"))
    assert REGISTRY.get_sample_value("berthwatch_alert_active", labels) == 1.0
    assert REGISTRY.get_sample_value("berthwatch_alert_since_timestamp_seconds", labels) == T
    exp.alert(alert(series, "resolved"))
    assert REGISTRY.get_sample_value("berthwatch_alert_active", labels) == 0.0
    item = "days_of_supply|SITE-ALR|X"
    assert is_item(item)
    exp.alert(alert(item, "firing"))
    assert REGISTRY.get_sample_value("berthwatch_alert_active", {**labels, "series": item}) is None


def test_a_shard_that_moves_away_takes_its_series_off_metrics() -> None:
    """After a rebalance the worker that lost a detection shard kept exporting its series
    and alerts, so a sum across workers counted them twice."""

    def alert(series: str) -> AlertTransition:
        return AlertTransition("k", "firing", series, "queue_trend", "warning", T + 7200, T, 1.0,
                               NAN, NAN, NAN, NAN, NAN, NAN, NAN, "")  # fmt: skip

    exp = Exporter(PipelineConfig())
    exp.owner = 0
    exp.points(FeaturePoints(np.array([b"vessels_waiting|XZSHA"]), np.array([T]),
                             np.array([7.0])))
    exp.alert(alert("vessels_waiting|XZSHA"))
    exp.owner = 1
    exp.points(FeaturePoints(np.array([b"vessels_waiting|XZSHB"]), np.array([T]),
                             np.array([9.0])))
    mine = {"detector": "queue_trend", "series": "vessels_waiting|XZSHA", "severity": "warning"}
    assert REGISTRY.get_sample_value("berthwatch_vessels_waiting", {"port": "XZSHA"}) == 7.0
    assert REGISTRY.get_sample_value("berthwatch_alert_active", mine) == 1.0
    assert exp.forget_shard(0) >= 3  # series value, vessels waiting, alert active and since
    assert REGISTRY.get_sample_value("berthwatch_vessels_waiting", {"port": "XZSHA"}) is None
    assert REGISTRY.get_sample_value("berthwatch_alert_active", mine) is None
    # the other shard's series stay
    assert REGISTRY.get_sample_value("berthwatch_vessels_waiting", {"port": "XZSHB"}) == 9.0
    assert exp.forget_shard(0) == 0


def test_the_next_owner_of_a_shard_exports_its_series_from_the_checkpoint_at_once() -> None:
    """A worker that took a detection shard over exported its series values and scores
    only at the next interval it closed (never, after the end of a replay), so sums across
    workers read low after a rebalance."""
    import json

    site = "SITE-MOVE"
    old = Exporter(PipelineConfig(), top=1)
    old.owner = 0
    old.points(_points(("vessels_waiting|XZMVA", T, 5.0), ("dwell_truck_p90|XZMVA|T1", T, 2.0)))
    old.scores(_scores("queue_trend", T, {"vessels_waiting|XZMVA": {
        "score": 0.4, "expected": 3.0, "lower": 1.0, "upper": 6.0, "crossing": T + DAY}}))
    old.scores(_scores("supply_trend", T, _items(site, {"A": 0.2, "B": 0.8})))
    old.points(_points((f"days_of_supply|{site}|B", T + 3600, 6.5)))
    old.alert(AlertTransition("k", "firing", "vessels_waiting|XZMVA", "queue_trend", "warning",
                              T, T, 1.0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, ""))

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        out = {}
        for fam in REGISTRY.collect():
            for smp in fam.samples:
                text = " ".join(smp.labels.values())
                if "XZMVA" in text or site in text:
                    out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
        return out

    before = {k: v for k, v in samples().items() if not k[0].startswith("berthwatch_alert_")}
    assert len(before) >= 10 and any("crossing" in name for name, _ in before)
    rows = json.loads(json.dumps(old.dump(0)))  # through the checkpoint header
    old.forget_shard(0)
    assert samples() == {}
    new = Exporter(PipelineConfig(), top=1)
    new.load(0, rows)
    assert samples() == before
    # and the new owner ranks the restored top item against newer candidates
    new.scores(_scores("supply_trend", T + 3600, _items(site, {"C": 0.9})))
    b = f"days_of_supply|{site}|B"
    assert _value("berthwatch_series_value", series=b) is None
    assert _value("berthwatch_item_days_of_supply", site=site, item="C") == 9.0
    assert new.forget_shard(0) >= 10 and samples() == {}


def test_the_item_top_spans_shards_but_each_item_stays_with_its_own_shard() -> None:
    """The top items were re-exported under whichever shard ranked them last, so a shard's
    checkpoint carried the other shard's items and two workers exported them both."""
    site = "SITE-TWO"
    ex = Exporter(PipelineConfig(), top=3)
    ex.owner = 1
    ex.scores(_scores("supply_trend", T, _items(site, {"A": 0.9})))
    ex.owner = 0
    ex.scores(_scores("supply_trend", T, _items(site, {"B": 0.5})))  # ranks A again
    shard0 = {tuple(labels) for _name, labels, _v in ex.dump(0)}
    shard1 = {tuple(labels) for _name, labels, _v in ex.dump(1)}
    assert (site, "B") in shard0 and (site, "A") not in shard0
    assert (site, "A") in shard1 and (site, "B") not in shard1
