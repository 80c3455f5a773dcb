"""What each detector is for: the cases an operations team cares about."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import (
    CUSUM,
    EWMA,
    CompositeIndex,
    DampedTrend,
    Seasonal,
    SeriesRegistry,
    Staleness,
    ratio_to_score,
)

HOUR, DAY = 3600.0, 86400.0
T0 = 1.633e9  # October 2021


def one(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def test_ratio_to_score_is_monotone_and_bounded() -> None:
    r = np.linspace(0.0, 50.0, 1001)
    s = ratio_to_score(r)
    assert s[0] == 0.0 and np.all(np.diff(s) >= 0) and s[-1] <= 1.0
    assert ratio_to_score(np.array([1.0]))[0] == pytest.approx(0.8)


def test_registry_is_stable_and_round_trips() -> None:
    reg = SeriesRegistry()
    rows = reg.rows(["a", "b", "a", "c"])
    assert rows.tolist() == [0, 1, 0, 2]
    again = SeriesRegistry.restore(reg.snapshot())
    assert again.rows(["c", "d"]).tolist() == [2, 3]


class TestEWMA:
    def test_flat_then_spike(self) -> None:
        value = np.full(100, 42.0)
        value[80] = 50.0
        res = EWMA(warmup=10).update(one(100), T0 + np.arange(100) * HOUR, value)
        assert res.score[:80].max() < 1e-12  # flat is quiet, the scale floor holds
        assert res.score[80] > 0.99
        assert res.expected[80] == pytest.approx(42.0)

    def test_noise_rarely_alarms_and_a_jump_does(self) -> None:
        rng = np.random.default_rng(0)
        value = rng.normal(100.0, 5.0, 2000)
        value[1500] += 40.0
        res = EWMA(halflife=3 * DAY, warmup=50).update(
            one(2000), T0 + np.arange(2000) * HOUR, value
        )
        assert (res.score[50:1500] >= 0.8).mean() < 0.005
        assert res.score[1500] > 0.95
        assert res.lower[1500] < res.expected[1500] < res.upper[1500] < value[1500]

    def test_decay_is_by_elapsed_time(self) -> None:
        # same points, one stream with a long gap before the new level
        det_gap, det_tight = EWMA(halflife=HOUR, warmup=1), EWMA(halflife=HOUR, warmup=1)
        base = T0 + np.arange(200) * 60.0
        det_gap.update(one(200), base, np.full(200, 10.0))
        det_tight.update(one(200), base, np.full(200, 10.0))
        det_gap.update(one(1), [base[-1] + 10 * HOUR], [20.0])
        det_tight.update(one(1), [base[-1] + 60.0], [20.0])
        assert det_gap.state["mean"][0] > 19.9  # ten halflives later the old level is gone
        assert det_tight.state["mean"][0] < 10.2


class TestCUSUM:
    def test_level_shift_detected_within_ten_points(self) -> None:
        detected, false_alarm_rate = [], []
        for seed in range(20):
            rng = np.random.default_rng(seed)
            value = np.r_[rng.normal(0.0, 1.0, 200), rng.normal(1.5, 1.0, 50)]
            res = CUSUM(warmup=30).update(one(250), T0 + np.arange(250) * HOUR, value)
            false_alarm_rate.append((res.score[30:200] >= 0.8).mean())
            assert res.score[200:].max() >= 0.8, seed
            detected.append(int(np.argmax(res.score[200:] >= 0.8)))
        assert np.median(detected) <= 10
        assert np.mean(false_alarm_rate) < 0.02

    def test_downward_shift_has_direction(self) -> None:
        value = np.r_[np.full(50, 20.0) + np.tile([0.5, -0.5], 25), np.full(10, 15.0)]
        res = CUSUM(warmup=20).update(one(60), T0 + np.arange(60) * DAY, value)
        assert res.score[52] > 0.9 and res.direction[52] == -1 and res.s_lo[52] > res.s_hi[52]


class TestDampedTrend:
    def test_eta_to_anchorage_limit(self) -> None:
        # queue grows by 2 ships a day from 20; limit 55 anchorages reached on day 17.5
        days = np.arange(12.0)
        rng = np.random.default_rng(2)
        value = 20.0 + 2.0 * days + rng.normal(0.0, 0.3, days.size)
        det = DampedTrend(limit=55.0, phi=1.0, alpha=0.5, beta=0.5, warmup=3)
        res = det.update(one(12), T0 + days * DAY, value)
        eta_days = res.eta_seconds[-1] / DAY
        assert 17.5 - 11 - 1.0 < eta_days < 17.5 - 11 + 1.0
        assert res.eta_lower[-1] < res.eta_seconds[-1] < res.eta_upper[-1]
        assert res.crossing_ts[-1] == pytest.approx(T0 + 11 * DAY + res.eta_seconds[-1])
        assert res.score[-1] > 0.8  # within the two-week horizon

    def test_days_of_supply_falling_below(self) -> None:
        days = np.arange(30.0)
        value = 40.0 - 1.2 * days  # 40 days of supply, drawn down 1.2 days per day
        det = DampedTrend(limit=5.0, direction="below", phi=1.0, warmup=3)
        res = det.update(one(30), T0 + days * DAY, value)
        # 5.2 days left at day 29: crossing in ~0.17 days
        assert res.eta_seconds[-1] / DAY == pytest.approx((40 - 1.2 * 29 - 5.0) / 1.2, rel=0.1)
        res2 = det.update(one(1), [T0 + 30 * DAY], [3.0])
        assert res2.eta_seconds[0] == 0.0 and res2.score[0] == 1.0

    def test_flat_series_never_crosses(self) -> None:
        res = DampedTrend(limit=55.0, warmup=3).update(
            one(40), T0 + np.arange(40) * DAY, np.full(40, 30.0)
        )
        assert np.all(np.isinf(res.eta_seconds[1:])) and res.score.max() == 0.0

    def test_damping_saturates(self) -> None:
        # with strong damping a slow climb levels off before a far limit
        days = np.arange(20.0)
        det = DampedTrend(limit=200.0, phi=0.8, warmup=3)
        res = det.update(one(20), T0 + days * DAY, 10.0 + days)
        assert np.isinf(res.eta_seconds[-1])
        undamped = DampedTrend(limit=200.0, phi=1.0, warmup=3).update(
            one(20), T0 + days * DAY, 10.0 + days
        )
        assert np.isfinite(undamped.eta_seconds[-1])


class TestStaleness:
    def test_stale_is_not_zero(self) -> None:
        reg = SeriesRegistry()
        det = Staleness(k=3.0, max_age=2 * DAY, warmup=3)
        hours = T0 + np.arange(48) * HOUR
        live, silent = reg.row("USLAX/berth_occupancy"), reg.row("USLGB/berth_occupancy")
        det.update(np.full(48, live), hours, np.zeros(48))  # live, reporting zero
        det.update(np.full(24, silent), hours[:24], np.full(24, 7.0))  # stopped after a day
        rep = det.check(now=hours[-1] + 30 * 60.0)
        assert rep.stale.tolist() == [False, True]
        assert rep.stale_rows.tolist() == [silent]
        assert rep.score[silent] > 0.99 and rep.score[live] < 0.1
        assert rep.age_seconds[silent] == pytest.approx(24.5 * HOUR)

    def test_absolute_max_and_late_point_score(self) -> None:
        det = Staleness(k=100.0, max_age=6 * HOUR, warmup=2)
        t = T0 + np.arange(10) * HOUR
        det.update(one(10), t, np.ones(10))
        assert not det.check(t[-1] + 5 * HOUR).stale[0]
        assert det.check(t[-1] + 7 * HOUR).stale[0]  # max_age wins over 100 intervals
        late = det.update(one(1), [t[-1] + 12 * HOUR], [1.0])
        assert late.score[0] > 0.99 and late.gap_seconds[0] == 12 * HOUR

    def test_typical_interval_adapts(self) -> None:
        det = Staleness(k=3.0, warmup=2)
        t = T0 + np.r_[np.arange(20) * 600.0, 20 * 600.0 + np.arange(1, 40) * 3600.0]
        det.update(one(t.size), t, np.ones(t.size))
        assert 3000.0 < det.state["interval"][0] < 3600.0
        assert not det.check(t[-1] + 2.5 * HOUR).stale[0]


class TestSeasonal:
    def test_flat_stretch_does_not_explode(self) -> None:
        det = Seasonal(warmup=48)
        t = T0 + np.arange(24 * 7) * HOUR
        res = det.update(one(t.size), t, np.full(t.size, 12.0))
        tiny = det.update(one(1), [t[-1] + HOUR], [12.0 + 1e-6])
        assert res.score.max() == 0.0 and tiny.score[0] < 1e-6

    def test_night_spike_flagged_and_day_peak_not(self) -> None:
        rng = np.random.default_rng(4)
        t = T0 - (T0 % DAY) + np.arange(24 * 21) * HOUR
        hour = (t % DAY) / HOUR
        profile = np.where((hour >= 8) & (hour < 18), 80.0, 10.0)  # gate moves by day
        det = Seasonal(warmup=24 * 7)
        det.update(one(t.size), t, profile + rng.normal(0.0, 2.0, t.size))
        nxt = t[-1] + HOUR  # midnight
        night = det.update(one(1), [nxt + 2 * HOUR], [80.0])
        day = det.update(one(1), [nxt + 12 * HOUR], [80.0])
        assert night.score[0] > 0.99 and night.expected[0] == pytest.approx(10.0, abs=2.0)
        assert day.score[0] < 0.5 and day.expected[0] == pytest.approx(80.0, abs=2.0)

    def test_robust_to_a_single_outlier(self) -> None:
        det = Seasonal(n_slots=1, warmup=5)
        rng = np.random.default_rng(5)
        t = T0 + np.arange(60) * HOUR
        value = 50.0 + rng.normal(0.0, 1.0, 60)
        value[30] = 5000.0
        det.update(one(60), t, value)
        assert det.state["loc"][0, 0] == pytest.approx(50.0, abs=1.5)


class TestComposite:
    def test_groups_are_separate_and_explained(self) -> None:
        reg = SeriesRegistry()
        names = ["USLAX/anchor", "USLAX/dwell", "USLGB/anchor", "USLGB/dwell"]
        rows = reg.rows(names)
        det = CompositeIndex(warmup=5, index_alarm=2.0)
        det.set_components(rows, group=[0, 0, 1, 1], weight=[2.0, 1.0, 1.0, 1.0])
        rng = np.random.default_rng(6)
        n = 40
        t = np.repeat(T0 + np.arange(n) * DAY, 4)
        value = rng.normal([40.0, 5.0, 30.0, 4.0], [1.0, 0.2, 1.0, 0.2], (n, 4))
        value[-1, 0] = 60.0  # only Los Angeles' queue jumps
        res = det.update(np.tile(rows, n), t, value.ravel())
        assert res.score[-4] > 0.9 and res.score[-2] < 0.5
        assert det.index([0])[0] > 2.0 and det.index([1])[0] < 1.0
        top_row, top_contribution, share = det.explain(0)[0]
        assert reg.keys[top_row] == "USLAX/anchor" and share > 0.9
        assert top_contribution == pytest.approx(res.contribution[-4])

    def test_direction_minus_one_counts_falls(self) -> None:
        det = CompositeIndex(warmup=5, index_alarm=1.0)
        det.set_components([0], group=[0], direction=[-1])
        t = T0 + np.arange(30) * DAY
        value = np.full(30, 20.0) + np.tile([0.3, -0.3], 15)
        det.update(one(30), t, value)
        up = det.update(one(1), [t[-1] + DAY], [30.0])
        assert up.score[0] == 0.0
        down = det.update(one(1), [t[-1] + 2 * DAY], [10.0])
        assert down.score[0] > 0.99

    def test_moving_a_component_moves_its_contribution(self) -> None:
        det = CompositeIndex(warmup=2, index_alarm=1.0)
        t = T0 + np.arange(10) * DAY
        det.update(np.zeros(10, dtype=np.int64), t, np.r_[np.tile([1.0, 1.2], 4), 9.0, 9.0])
        before = det.index([0])[0]
        assert before > 0
        det.set_components([0], group=[3])
        assert det.index([0])[0] == 0.0 and det.index([3])[0] == pytest.approx(before)
