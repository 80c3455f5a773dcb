"""The window scoring on small synthetic cases, with the answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streams.offline.evaluation import (
    SeriesScore,
    episode_onsets,
    rolling_z,
    score_series,
    summarize,
)

H = 3600.0
T = np.arange(100, dtype=np.float64) * H  # 100 hourly points
WINDOW = (40 * H, 49 * H)  # ten points, 40..49 inclusive


def alerts(*points: int) -> np.ndarray:
    a = np.zeros(len(T), dtype=bool)
    a[list(points)] = True
    return a


def one(a: np.ndarray, windows: list[tuple[float, float]] | None = None) -> SeriesScore:
    return score_series("s", T, a, [WINDOW] if windows is None else windows, step=H)


def test_window_hit_at_its_start_earns_full_credit() -> None:
    s = one(alerts(40, 41))
    assert (s.detected, s.false_alarms, s.lateness, s.credit) == (1, 0, [0.0], 1.0)


def test_window_hit_late_earns_less() -> None:
    # first alert at point 45: 5 hours late in a 10-hour window -> lateness 0.5, credit 0.75
    s = one(alerts(45))
    assert s.detected == 1 and s.false_alarms == 0
    assert s.lateness == [0.5] and s.credit == 0.75
    # at the last point: lateness 9/10, credit 0.55
    late = one(alerts(49))
    assert late.lateness == [0.9] and math.isclose(late.credit, 0.55)


def test_early_alert_within_tolerance_counts_as_on_time() -> None:
    # 3 steps of tolerance: an onset at 37 detects the window at lateness 0
    s = one(alerts(37))
    assert (s.detected, s.false_alarms, s.credit) == (1, 0, 1.0)
    # 4 steps before is outside: a false alarm and a missed window
    s = one(alerts(36))
    assert (s.detected, s.false_alarms, s.credit) == (0, 1, 0.0)


def test_missed_window() -> None:
    s = one(alerts())
    assert (s.detected, s.false_alarms, s.onsets, s.credit, s.first_alert) == (0, 0, 0, 0.0, [None])


def test_a_false_alarm_episode_counts_once() -> None:
    # points 10..19 alerting: one episode, one false alarm (not ten)
    s = one(alerts(*range(10, 20)))
    assert (s.onsets, s.false_alarms, s.detected) == (1, 1, 0)
    # runs 2 steps apart merge (gap < 3 steps); runs 3 or more apart are separate episodes
    assert one(alerts(10, 12)).false_alarms == 1
    assert one(alerts(10, 13)).false_alarms == 2


def test_several_onsets_in_one_window_are_neither_extra_hits_nor_false_alarms() -> None:
    s = one(alerts(42, 46))
    assert (s.onsets, s.detected, s.false_alarms, s.lateness) == (2, 1, 0, [0.2])


def test_episode_onsets_by_hand() -> None:
    t = np.array([0.0, 60.0, 120.0, 180.0, 600.0, 660.0])
    a = np.array([True, True, False, True, True, False])
    assert episode_onsets(t, a, gap=180.0).tolist() == [0.0, 600.0]
    assert episode_onsets(t, a, gap=100.0).tolist() == [0.0, 180.0, 600.0]


def test_summary_pools_counts_then_takes_ratios() -> None:
    # series a: two windows, one hit at lateness 0.5 (credit 0.75), one false alarm
    # series b: one window hit on time (credit 1), no false alarm
    w2 = [WINDOW, (70 * H, 79 * H)]
    a = score_series("a", T, alerts(5, 45), w2, step=H)
    b = score_series("b", T, alerts(40), [WINDOW], step=H)
    s = summarize([a, b])
    assert (s.windows, s.detected, s.false_alarms) == (3, 2, 1)
    r = (0.75 + 1.0) / 3  # earliness-weighted recall
    p = 2 / (2 + 1)  # precision: detected windows over detected + false alarms
    assert math.isclose(s.weighted_recall, r) and math.isclose(s.precision, p)
    assert math.isclose(s.score, 2 * p * r / (p + r))
    assert math.isclose(s.recall, 2 / 3) and math.isclose(s.mean_lateness, 0.25)
    # one false alarm in 200 points and 2 * 100 hours = 200 / 168 series-weeks
    assert math.isclose(s.false_per_1k_points, 5.0)
    assert math.isclose(s.false_per_series_week, 1 / (200 / 168))


def test_summary_of_nothing_is_zero_not_nan() -> None:
    s = summarize([one(alerts())])
    assert s.score == 0.0 and s.precision == 0.0 and math.isnan(s.mean_lateness)


@pytest.mark.parametrize("robust", [False, True])
def test_rolling_z_matches_a_plain_loop(robust: bool) -> None:
    rng = np.random.default_rng(4)
    v = rng.normal(10.0, 2.0, 120)
    v[70] = 40.0
    w = 20
    z = rolling_z(v, window=w, robust=robust)
    for i in range(len(v)):
        if i < w:
            assert z[i] == 0.0
            continue
        past = v[i - w : i]
        if robust:
            c = float(np.median(past))
            sc = 1.4826 * float(np.median(np.abs(past - c)))
        else:
            c, sc = float(past.mean()), float(past.std())
        assert math.isclose(z[i], abs(v[i] - c) / max(sc, 1e-6, 0.01 * abs(c)), rel_tol=1e-9)
    assert int(np.argmax(z)) == 70
