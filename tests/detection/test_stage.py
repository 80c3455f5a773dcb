"""The detection stage: batch-split determinism, snapshots, methodology changes, early warning."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from streams.detection import DetectionStage, MethodologyChange, PipelineConfig
from streams.features import FeaturePoints

H = 3600
DAY = 86400
T0 = 1_609_459_200  # 2021-01-01T00:00:00Z


def _points(series: dict[str, np.ndarray], step: int = H) -> FeaturePoints:
    """Interval-ordered points of several series sharing hourly interval ends."""
    keys, ends, vals = [], [], []
    n = max(len(v) for v in series.values())
    for i in range(n):
        for k in sorted(series):
            v = series[k]
            if i < len(v):
                keys.append(k.encode())
                ends.append(T0 + (i + 1) * step)
                vals.append(v[i])
    return FeaturePoints(np.array(keys), np.array(ends, dtype=np.int64), np.array(vals))


def _mixed(seed: int, days: int = 24) -> FeaturePoints:
    rng = np.random.default_rng(seed)
    n = days * 24
    hours = np.arange(n)
    ramp = np.clip((hours - 14 * 24) / 24.0, 0, None) * 1.5
    queue = np.round(np.clip(1 + ramp + rng.normal(0, 0.7, n), 0, None))
    dwell = 3 + rng.gamma(2.0, 0.5, n) + np.clip((hours - 10 * 24) / 24.0, 0, None) * 0.3
    dwell[rng.random(n) < 0.3] = np.nan  # hours without departures
    other = rng.poisson(2.0, n).astype(float)
    # two items of a site run low one after the other: one site alert (grouped route)
    day = hours / 24.0
    item_a = np.maximum(30.0 - np.clip(day - 6, 0, None) * 2.5, 0.5) + rng.normal(0, 0.2, n)
    item_b = np.maximum(30.0 - np.clip(day - 9, 0, None) * 2.5, 0.5) + rng.normal(0, 0.2, n)
    return _points(
        {
            "vessels_waiting|P1": queue,
            "vessels_waiting|R1": queue + rng.poisson(0.5, n),
            "dwell_truck_p90|P1": dwell,
            "dwell_truck_p90|P1|T1": dwell + rng.normal(0, 0.3, n),
            "arrivals|P1": other,
            "boxes_on_terminal|P1": 100 + other * 5,
            "days_of_supply|S1|A": item_a,
            "days_of_supply|S1|B": item_b,
        }
    )


def _config(**kw: object) -> PipelineConfig:
    return PipelineConfig(
        limits={"vessels_waiting|P1": 12.0, "vessels_waiting|R1": 12.0},
        **kw,  # type: ignore[arg-type]
    )


def _run(stage: DetectionStage, pts: FeaturePoints, cuts: list[int]) -> list[dict[str, object]]:
    bounds = [0, *cuts, len(pts.key)]
    alerts = []
    for a, b in itertools.pairwise(bounds):
        out = stage.process(FeaturePoints(pts.key[a:b], pts.end_s[a:b], pts.value[a:b]))
        alerts += [x.as_dict() for x in out.alerts]
    alerts += [x.as_dict() for x in stage.flush().alerts]
    return alerts


def test_batch_splits_give_identical_transitions() -> None:
    pts = _mixed(3)
    whole = _run(DetectionStage(_config()), pts, [])
    assert any(a["state"] == "firing" for a in whole)
    assert any(a["series"] == "days_of_supply|S1" for a in whole)  # the grouped site alert
    rng = np.random.default_rng(0)
    for _ in range(1):
        # arbitrary cuts, including inside the points of one interval end
        cuts = sorted(rng.choice(np.arange(1, len(pts.key)), size=25, replace=False).tolist())
        assert _run(DetectionStage(_config()), pts, cuts) == whole
    one_interval_each = np.flatnonzero(np.diff(pts.end_s)) + 1
    assert _run(DetectionStage(_config()), pts, one_interval_each.tolist()) == whole


def test_scores_do_not_depend_on_batches() -> None:
    pts = _mixed(4, days=20)
    a, b = DetectionStage(_config()), DetectionStage(_config())
    out_a = a.process(pts) + a.flush()
    out_b = b.process(FeaturePoints(pts.key[:777], pts.end_s[:777], pts.value[:777]))
    out_b = out_b + b.process(FeaturePoints(pts.key[777:], pts.end_s[777:], pts.value[777:]))
    out_b = out_b + b.flush()
    ta, tb = out_a.scores.table(), out_b.scores.table()
    order_a = np.lexsort((ta["route"].astype(str), ta["key"].astype(str), ta["ts"]))
    order_b = np.lexsort((tb["route"].astype(str), tb["key"].astype(str), tb["ts"]))
    for f in ("score", "expected", "upper", "crossing"):
        np.testing.assert_array_equal(ta[f][order_a], tb[f][order_b])


def test_snapshot_restore_continues_identically() -> None:
    pts = _mixed(5)
    whole = _run(DetectionStage(_config()), pts, [])
    cut = len(pts.key) // 2 + 3  # inside an interval: the held-back points are in the snapshot
    first = DetectionStage(_config())
    before = [
        x.as_dict()
        for x in first.process(
            FeaturePoints(pts.key[:cut], pts.end_s[:cut], pts.value[:cut])
        ).alerts
    ]
    blob = first.snapshot()
    second = DetectionStage(_config())
    second.restore(blob)
    rest = FeaturePoints(pts.key[cut:], pts.end_s[cut:], pts.value[cut:])
    after = [x.as_dict() for x in second.process(rest).alerts]
    after += [x.as_dict() for x in second.flush().alerts]
    assert before + after == whole
    assert second.snapshot() != blob
    with pytest.raises(ValueError, match="configuration"):
        DetectionStage(_config(stale_k=9.0)).restore(blob)


def test_out_of_order_interval_is_refused() -> None:
    pts = _mixed(6, days=5)
    stage = DetectionStage(_config())
    stage.process(pts)
    stage.flush()
    with pytest.raises(ValueError, match="interval order"):
        stage.process(FeaturePoints(pts.key[:1], pts.end_s[:1], pts.value[:1]))


def _counting_change_feed() -> tuple[FeaturePoints, float]:
    """A calm queue whose count jumps from ~3 to ~25 at a change of counting method
    (still below the limit of 55 and flat afterwards)."""
    rng = np.random.default_rng(11)
    n = 40 * 24
    hours = np.arange(n)
    change_at = 20 * 24
    level = np.where(hours < change_at, 3.0, 25.0)
    queue = np.round(np.clip(level + rng.normal(0, 0.8, n), 0, None))
    pts = _points({"vessels_waiting|X": queue})
    return pts, float(T0 + change_at * H)


def test_methodology_change_does_not_fire() -> None:
    pts, change = _counting_change_feed()
    base = PipelineConfig(limits={"vessels_waiting|X": 55.0})
    # without the declaration the jump is (rightly) a disruption
    plain = DetectionStage(base)
    fired = [
        a
        for a in (plain.process(pts) + plain.flush()).alerts
        if a.state == "firing" and a.series == "vessels_waiting|X"
    ]
    assert fired, "the test feed must look like a disruption when undeclared"
    declared = base.with_changes([MethodologyChange(change, ("vessels_waiting|*",), "count")])
    stage = DetectionStage(declared)
    out = stage.process(pts) + stage.flush()
    # neither the queue's detectors nor the port's composite index report the change
    assert [a.explanation for a in out.alerts] == []


def test_methodology_change_from_labels_document() -> None:
    doc = {
        "events": [
            {
                "time": "2021-11-16T00:00:00Z",
                "kind": "counting_change",
                "series": ["vessels_waiting|san-pedro-bay"],
                "description": "new queuing system",
            },
            {"time": "2021-10-25T00:00:00Z", "kind": "policy", "series": ["x"], "description": ""},
        ]
    }
    (ch,) = MethodologyChange.from_labels(doc)
    assert ch.time_s == 1_637_020_800.0
    assert ch.matches("vessels_waiting|san-pedro-bay") and not ch.matches("vessels_waiting|USLAX")


def test_queue_ramp_warns_with_projected_crossing_before_the_limit() -> None:
    rng = np.random.default_rng(2)
    n = 60 * 24
    hours = np.arange(n)
    # calm at 5 ships for 20 days, then +1.5 ships a day towards the 55 anchorages
    mean = 5.0 + np.clip((hours - 20 * 24) / 24.0, 0, None) * 1.5
    queue = np.round(mean + rng.normal(0, 1.0, n))
    crossed = T0 + (int(np.flatnonzero(queue >= 55)[0]) + 1) * H
    stage = DetectionStage(PipelineConfig(limits={"vessels_waiting|R": 55.0}))
    out = stage.process(_points({"vessels_waiting|R": queue})) + stage.flush()
    # by default the queue's first alert is the build-up, weeks ahead, its kind named;
    # the limit route's warning waits for the series' 30 days of quiet
    fired = [a for a in out.alerts if a.series == "vessels_waiting|R" and a.state == "firing"]
    assert fired[0].detector == "changes" and fired[0].kind in ("level up", "ramp up")
    assert fired[0].ts < crossed - 14 * DAY
    assert all(b.ts - a.ts >= 30 * DAY for a, b in itertools.pairwise(fired))
    # the limit route projects the crossing (shown alone without the alert budget)
    cfg = PipelineConfig(limits={"vessels_waiting|R": 55.0}, series_quiet_s=0.0)
    stage = DetectionStage(cfg)
    out = stage.process(_points({"vessels_waiting|R": queue})) + stage.flush()
    warn = [a for a in out.alerts if a.detector == "queue_trend" and a.state == "firing"]
    assert warn
    first = warn[0]
    assert first.ts < crossed - 7 * DAY  # a week or more of warning
    assert first.ts < first.crossing_ts and math.isfinite(first.crossing_ts)
    assert first.ts + first.eta_lower <= first.crossing_ts
    # the projection is in the right region: within ten days of the real crossing
    assert abs(first.crossing_ts - crossed) < 10 * DAY
    assert "limit projected at" in first.explanation and "limit 55" in first.explanation
    # no warning during the calm part
    assert all(a.ts > T0 + 20 * DAY for a in out.alerts if a.state == "firing")


def test_staleness_fires_and_resolves() -> None:
    vals = np.ones(10 * 24)
    vals_b = np.ones(4 * 24)  # goes silent after 4 days
    pts = _points({"arrivals|A": vals, "arrivals|B": vals_b})
    stage = DetectionStage(replace(PipelineConfig(), stale_max_age_s=12 * H))
    out = stage.process(pts) + stage.flush()
    stale = [a for a in out.alerts if a.detector == "staleness"]
    assert [a.series for a in stale] == ["arrivals|B"]
    assert stale[0].state == "firing" and "no point for" in stale[0].explanation
