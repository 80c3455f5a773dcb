"""Backtest scoring on tiny hand-made label sets and alert transitions, with the answers
worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors import alert_key
from streams.detection import AlertTransition
from streams.features import FeaturePoints
from streams.labels import Window, load_labels
from streams.offline.scoring import (
    alert_load,
    episodes_by_series,
    level_lead,
    related_series,
    score_windows,
    warning_chains,
    warning_in_force,
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
    alert(A, "changes", "firing", 11),
    alert(A, "changes", "resolved", 13, 11),
    # A: outside every window -> false alarm
    alert(A, "queue_trend", "firing", 30),
    alert(A, "queue_trend", "resolved", 31, 30),
    # A: two days before W2's onset, within the 3-day tolerance -> detects W2 early
    alert(A, "changes", "firing", 48),
    alert(A, "changes", "resolved", 49, 48),
    # ignored: critical severity, staleness, composite
    alert(A, "queue_trend", "firing", 70, severity="critical"),
    alert(A, "staleness", "firing", 71),
    alert(A, "composite", "firing", 72),
    # B has no windows: both episodes are false alarms, the second still open at the end
    alert(B, "queue_trend", "firing", 5),
    alert(B, "queue_trend", "resolved", 6, 5),
    alert(B, "changes", "firing", 85),
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
    # two labelled crossings (W1 day 15, W3 day 43): a warning in force only at W1's
    assert (m.limit_crossings, m.warned_at_limit) == (2, 1)
    assert m.median_lead_to_limit_days == pytest.approx(4.0)


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
    eps = {key: [(d(1), d(2)), (d(5), d(8)), (d(10), d(25))]}
    ll = level_lead(pts, key, 40.0, eps, after=d(3))
    # first value >= 40: hour 480, whose interval ends at day 20 plus one hour
    assert ll.reached == d(20) + 3600
    # in force then: 10..25, renewed from 5..8 (2-day gap); 1..2 ends before ``after``
    assert ll.first_warning == d(5)
    assert ll.lead_days == pytest.approx(15 + 1 / 24)
    # without ``after``, 1..2 renews into 5..8 (a 3-day gap): the warning began on day 1
    assert level_lead(pts, key, 40.0, eps).first_warning == d(1)
    never = level_lead(pts, key, 50.0, eps)
    assert (never.reached, never.first_warning, never.lead_days) == (None, None, None)


def level_points(key: str, cross_day: float) -> FeaturePoints:
    """Daily points of ``key`` at 10 until ``cross_day``, at 50 from then on."""
    days = np.arange(1, 60)
    value = np.where(days < cross_day, 10.0, 50.0)
    end_s = (T0 + days * DAY).astype(np.int64)
    return FeaturePoints(np.full(days.size, key.encode()), end_s, value)


@pytest.mark.parametrize(
    ("episodes", "warning", "lead"),
    [
        pytest.param([(d(10), d(25))], d(10), 10.0, id="in force"),
        pytest.param([(d(10), d(14)), (d(16), d(25))], d(10), 10.0, id="renewed after 2 days"),
        pytest.param(
            [(d(2), d(4)), (d(6), d(7)), (d(10), d(14)), (d(16), d(22))],
            d(2),
            18.0,
            id="renewed twice, from the first",
        ),
        pytest.param([(d(5), d(15)), (d(24), d(30))], None, None, id="ended 5 days before"),
        pytest.param([(d(21), d(30))], None, None, id="opened after the crossing"),
        pytest.param([(d(10), d(16)), (d(21), d(30))], None, None, id="renewed after 5 days"),
        pytest.param([(d(15), math.inf)], d(15), 5.0, id="open episode"),
        pytest.param([(d(10), d(20))], d(10), 10.0, id="ends at the crossing"),
    ],
)
def test_lead_is_from_the_warning_in_force(
    episodes: list[tuple[float, float]], warning: float | None, lead: float | None
) -> None:
    key = "vessels_waiting|R"
    ll = level_lead(level_points(key, 20), key, 40.0, {key: episodes})
    assert ll.reached == d(20)
    assert ll.first_warning == warning
    assert ll.lead_days == (None if lead is None else pytest.approx(lead))
    assert warning_in_force(episodes, d(20)) == warning
    # the same definition for a labelled window's lead to its limit crossing
    w = Window(key, "queue_buildup", d(8), d(40), d(20))
    (r,), _, _ = score_windows([w], {key: episodes}, [key], d(0), d(60))
    assert r.warning_at_limit == warning
    assert r.lead_to_limit_days == (None if lead is None else pytest.approx(lead))


def test_window_lead_to_limit_keeps_first_warning_and_lead_from_onset() -> None:
    key = "vessels_waiting|R"
    # detected by 9..12 (first warning, lead from onset), in force at the crossing: 18..25
    w = Window(key, "queue_buildup", d(10), d(40), d(20))
    eps = {key: [(d(9), d(12)), (d(18), d(25))]}
    (r,), _, _ = score_windows([w], eps, [key], d(0), d(60))
    assert (r.first_warning, r.lead_from_onset_days) == (d(9), pytest.approx(-1.0))
    assert (r.warning_at_limit, r.lead_to_limit_days) == (d(18), pytest.approx(2.0))
    assert r.as_dict()["warning_at_limit"] == "2021-01-19T00:00:00Z"
    # a longer renewal gap chains the two
    (r,), _, _ = score_windows([w], eps, [key], d(0), d(60), renew_gap_s=7 * DAY)
    assert (r.warning_at_limit, r.lead_to_limit_days) == (d(9), pytest.approx(11.0))


def test_warning_chains() -> None:
    eps = [(d(20), d(21)), (d(0), d(1)), (d(4), d(5)), (d(8.5), d(9))]
    assert warning_chains(eps) == [(d(0), d(5)), (d(8.5), d(9)), (d(20), d(21))]
    assert warning_chains(eps, renew_gap_s=0.0) == sorted(eps)
    assert warning_chains([]) == []


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


def test_alert_load_per_series_and_worst_flappers() -> None:
    transitions = [
        # A: three firings on two routes, 4 days apart at the closest (resolutions do not count)
        alert(A, "queue_trend", "firing", 10),
        alert(A, "queue_trend", "resolved", 12, 10),
        alert(A, "changes", "firing", 14),
        alert(A, "changes", "resolved", 15, 14),
        alert(A, "queue_trend", "firing", 70),
        # B: twice, 40 days apart (not within 30 days)
        alert(B, "queue_trend", "firing", 5),
        alert(B, "queue_trend", "resolved", 6, 5),
        alert(B, "queue_trend", "firing", 45),
        # C: once, and a staleness warning on another series (every route counts)
        alert(C, "dwell_truck_trend", "firing", 44),
        alert(CP, "staleness", "firing", 50),
        alert(CP, "staleness", "resolved", 51, 50),
    ]
    load = alert_load(transitions, d(0), d(180))
    assert (load.days, load.firings, load.series_fired) == (180.0, 7, 4)
    # 7 firings over 4 series and two 90-day spans; the most: A's 3 in 180 days
    assert load.mean_firings_per_series_per_90d == pytest.approx(7 / 4 / 2)
    assert load.max_firings_per_series_per_90d == pytest.approx(1.5)
    assert load.refired_within_30d == 1  # A (4 days); B's 40 days are within budget
    assert [f.series for f in load.worst] == [A, B, CP, C]  # one firing each: by key
    a, b, _, c = load.worst
    assert (a.firings, a.routes, a.shortest_gap_days) == (3, ("changes", "queue_trend"), 4.0)
    assert (b.firings, b.routes, b.shortest_gap_days) == (2, ("queue_trend",), 40.0)
    assert (c.firings, c.shortest_gap_days) == (1, None)
    doc = load.as_dict()
    assert doc["worst"][0] == {
        "series": A,
        "firings": 3,
        "routes": ["changes", "queue_trend"],
        "shortest_gap_days": 4.0,
    }
    assert set(doc) == {
        "days",
        "firings",
        "series_fired",
        "mean_firings_per_series_per_90d",
        "max_firings_per_series_per_90d",
        "refired_within_30d",
        "worst",
    }


def test_alert_load_top_ties_and_budget_edge() -> None:
    transitions = [
        # two series fire twice: the one with the shorter gap is the worse flapper
        alert(A, "queue_trend", "firing", 0),
        alert(A, "queue_trend", "firing", 30),  # exactly 30 days later: allowed again
        alert(B, "queue_trend", "firing", 0),
        alert(B, "changes", "firing", 0),  # two routes at once: a gap of 0
        *[alert(f"vessels_waiting|P{i}", "queue_trend", "firing", i) for i in range(6)],
    ]
    load = alert_load(transitions, d(0), d(90), top=3)
    assert [(f.series, f.shortest_gap_days) for f in load.worst] == [
        (B, 0.0),
        (A, 30.0),
        ("vessels_waiting|P0", None),
    ]
    assert load.refired_within_30d == 1
    assert load.series_fired == 8 and load.max_firings_per_series_per_90d == 2.0
    assert alert_load(transitions, d(0), d(90), refire_s=31 * DAY).refired_within_30d == 2


def test_alert_load_without_firings() -> None:
    load = alert_load([alert(A, "queue_trend", "resolved", 3, 1)], d(0), d(90))
    assert (load.firings, load.series_fired, load.refired_within_30d, load.worst) == (0, 0, 0, [])
    assert load.mean_firings_per_series_per_90d == load.max_firings_per_series_per_90d == 0.0
