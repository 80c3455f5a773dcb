"""Backtest scoring on tiny hand-made label sets, with the answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors import alert_key
from streams.detection import AlertTransition
from streams.features import FeaturePoints
from streams.labels import Window, load_labels
from streams.offline.scoring import (
    episodes_by_series,
    level_lead,
    related_series,
    score_windows,
)

DAY = 86400.0
T0 = 1_609_459_200.0  # 2021-01-01


def d(x: float) -> float:
    return T0 + x * DAY


def alert(
    series: str,
    detector: str,
    state: str,
    day: float,
    since: float | None = None,
    severity: str = "warning",
) -> AlertTransition:
    return AlertTransition(
        key=alert_key(series, detector, severity),
        state=state,
        series=series,
        detector=detector,
        severity=severity,
        ts=d(day),
        since=d(since if since else day),
        value=1.0,
        expected=0.0,
        score=0.9,
        limit=math.nan,
        eta_seconds=math.nan,
        eta_lower=math.nan,
        eta_upper=math.nan,
        crossing_ts=math.nan,
        explanation="",
    )


A, B = "vessels_waiting|P", "vessels_waiting|Q"
C, CP = "dwell_truck_p90|P|T1", "dwell_truck_p90|P"

ALERTS = [
    # A: two trend alerts half a day apart and a level alert overlapping: one episode 11..16
    alert(A, "queue_trend", "firing", 12),
    alert(A, "queue_trend", "resolved", 14, 12),
    alert(A, "queue_trend", "firing", 14.5),
    alert(A, "queue_trend", "resolved", 16, 14.5),
    alert(A, "queue_level", "firing", 11),
    alert(A, "queue_level", "resolved", 13, 11),
    # A: outside every window -> false alarm
    alert(A, "queue_trend", "firing", 30),
    alert(A, "queue_trend", "resolved", 31, 30),
    # A: two days before W2's onset, within the 3-day tolerance -> detects W2 early
    alert(A, "queue_level", "firing", 48),
    alert(A, "queue_level", "resolved", 49, 48),
    # ignored: critical severity, staleness, composite
    alert(A, "queue_trend", "firing", 70, severity="critical"),
    alert(A, "staleness", "firing", 71),
    alert(A, "composite", "firing", 72),
    # B has no windows: both episodes are false alarms, the second still open at the end
    alert(B, "queue_trend", "firing", 5),
    alert(B, "queue_trend", "resolved", 6, 5),
    alert(B, "queue_level", "firing", 85),
    # C (a terminal) inherits the windows of its port series CP
    alert(C, "dwell_truck_trend", "firing", 44),
    alert(C, "dwell_truck_trend", "resolved", 46, 44),
]
WINDOWS = [
    Window(A, "queue_buildup", d(10), d(20), d(15)),
    Window(A, "queue_buildup", d(50), d(60), None),
    Window(CP, "dwell_spike", d(40), d(45), d(43)),
]


def test_episodes_merge_routes_and_short_gaps() -> None:
    eps = episodes_by_series(ALERTS, d(90))
    assert eps[A] == [(d(11), d(16)), (d(30), d(31)), (d(48), d(49))]
    assert eps[B] == [(d(5), d(6)), (d(85), d(90))]
    assert eps[C] == [(d(44), d(46))]
    assert CP not in eps


def test_detection_lead_times_and_false_alarms() -> None:
    eps = episodes_by_series(ALERTS, d(90))
    scored = [A, B, C, CP]
    results, false, m = score_windows(WINDOWS, eps, scored, d(0), d(90))
    w1, w2, w3 = results
    assert (w1.detected, w1.first_warning) == (True, d(11))
    assert w1.lead_from_onset_days == pytest.approx(1.0)  # 11 - 10
    assert w1.lead_to_limit_days == pytest.approx(4.0)  # 15 - 11
    assert (w2.detected, w2.lead_from_onset_days, w2.lead_to_limit_days) == (True, -2.0, None)
    assert (w3.detected, w3.first_warning) == (False, None)  # nothing on the port series itself
    assert false == {A: 1, B: 2, C: 0, CP: 0}
    assert (m.windows, m.detected) == (3, 2)
    assert m.recall == pytest.approx(2 / 3)
    # 3 false alarms over 4 series and 90 days
    assert m.false_alarms == 3
    assert m.false_alarms_per_series_per_90d == pytest.approx(0.75)
    assert m.max_false_alarms_per_series_per_90d == pytest.approx(2.0)
    assert m.by_family["vessels_waiting"]["false_alarms_per_series_per_90d"] == pytest.approx(1.5)
    assert m.by_family["dwell_truck_p90"]["recall"] == 0.0
    assert m.median_lead_from_onset_days == pytest.approx(-0.5)  # median of 1 and -2


def test_windows_on_series_missing_from_the_features_are_not_scored() -> None:
    eps = episodes_by_series(ALERTS, d(90))
    extra = [*WINDOWS, Window("vessels_at_anchor|R", "anchorage", d(10), d(20), None)]
    results, _, m = score_windows(extra, eps, [A, B, C, CP], d(0), d(90), observed={A, C, CP})
    assert [r.observed for r in results] == [True, True, True, False]
    assert (m.windows, m.detected, m.unobserved) == (3, 2, 1)
    assert m.recall == pytest.approx(2 / 3)


def test_span_scales_the_rate() -> None:
    eps = episodes_by_series(ALERTS, d(180))
    _, _, m = score_windows(WINDOWS, eps, [A, B], d(0), d(180))
    assert m.false_alarms == 3  # A at day 30; B at day 5 and day 85..180
    assert m.false_alarms_per_series_per_90d == pytest.approx(3 / (2 * 2))


def test_inheritance_between_terminal_port_and_region() -> None:
    region_of = {"XZAAA": "zone-0", "XZAAB": "zone-0"}
    assert related_series("dwell_truck_p90|XZAAA|T2", region_of) == ["dwell_truck_p90|XZAAA"]
    assert related_series("vessels_waiting|XZAAA", region_of) == ["vessels_waiting|zone-0"]
    assert related_series("vessels_waiting|zone-0", region_of) == [
        "vessels_waiting|XZAAA",
        "vessels_waiting|XZAAB",
    ]
    # a region episode inside its port's window is not a false alarm
    w = [Window("vessels_waiting|XZAAA", "queue_buildup", d(10), d(20), None)]
    eps = {"vessels_waiting|zone-0": [(d(12), d(14))]}
    _, false, _ = score_windows(w, eps, ["vessels_waiting|zone-0"], d(0), d(90), region_of)
    assert false == {"vessels_waiting|zone-0": 0}


def test_lead_before_a_level() -> None:
    hours = np.arange(40 * 24)
    value = np.where(hours < 20 * 24, 10.0, 45.0)
    value[10 * 24] = 39.0  # a point just under the level does not count
    key = "vessels_waiting|R"
    # hour i is the interval ending (i + 1) h after T0
    pts = FeaturePoints(
        np.full(hours.size, key.encode()), (T0 + (hours + 1) * 3600).astype(np.int64), value
    )
    eps = {key: [(d(1), d(2)), (d(5), d(8)), (d(25), d(30))]}
    ll = level_lead(pts, key, 40.0, eps, after=d(3))
    # first value >= 40: hour 480, whose interval ends at day 20 plus one hour
    assert ll.reached == d(20) + 3600
    assert ll.first_warning == d(5)  # the episode ending before ``after`` is not counted
    assert ll.lead_days == pytest.approx(15 + 1 / 24)


def test_load_labels(tmp_path: object) -> None:
    doc = {
        "scenario": "random",
        "seed": 3,
        "start": "2021-01-01T00:00:00Z",
        "end": "2021-02-01T00:00:00Z",
        "windows": [
            {
                "series": A,
                "kind": "queue_buildup",
                "onset": "2021-01-11T00:00:00Z",
                "end": "2021-01-21T00:00:00Z",
                "limit_crossed": None,
                "description": "",
            }
        ],
        "events": [
            {
                "time": "2021-01-15T00:00:00Z",
                "kind": "counting_change",
                "series": [A],
                "description": "count",
            }
        ],
    }
    lab = load_labels(doc=doc)
    assert (lab.start, lab.end, lab.seed) == (d(0), d(31), 3)
    assert lab.windows[0].onset == d(10) and lab.windows[0].limit_crossed is None
    assert lab.changes[0].time_s == d(14)
