"""Plain per-event Python implementations of every detector, for tests and benchmarks.

Each class mirrors one batched detector with the same constructor
parameters, keeps its state in a dict per series row, and handles exactly
one point per call: ``update(row, ts, value) -> (score, extras)``. They are
written for clarity, not speed; the batched detectors must agree with them
to 1e-9 for any batching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from detectors.changes import EPISODE_RATIO, PRIORITY

LN2 = 0.6931471805599453
ABS_DEV_TO_SD = math.sqrt(math.pi / 2.0)
NAN = math.nan


def ratio_to_score(ratio: float) -> float:
    return -math.expm1(-1.6094379124341003 * max(ratio, 0.0))


@dataclass
class EWState:
    mean: float = 0.0
    var: float = 0.0
    last_ts: float = NAN
    count: int = 0


def ew_learn(s: EWState, ts: float, x: float, halflife: float) -> None:
    if s.count == 0:
        alpha = 1.0
    else:
        dt = max(ts - s.last_ts, 0.0)
        alpha = max(-math.expm1(-LN2 * dt / halflife), 1.0 / (s.count + 1.0))
    dev = x - s.mean
    s.var = (1.0 - alpha) * s.var + (1.0 - alpha) * alpha * dev * dev
    s.mean = (1.0 - alpha) * s.mean + alpha * x
    s.last_ts = ts
    s.count += 1


def floored_sd(mean: float, var: float, abs_floor: float, rel_floor: float) -> float:
    return max(math.sqrt(max(var, 0.0)), max(abs_floor, rel_floor * abs(mean)))


class Reference:
    """Common shape: a dict of per-row states and a warm-up."""

    name = ""

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = warmup
        self.state: dict[int, Any] = {}

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        raise NotImplementedError


class EWMARef(Reference):
    name = "ewma"

    def __init__(
        self,
        halflife: float = 86400.0,
        warmup: int = 10,
        z_alarm: float = 4.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.01,
    ) -> None:
        super().__init__(warmup)
        self.halflife, self.z_alarm = halflife, z_alarm
        self.abs_floor, self.rel_floor = abs_floor, rel_floor

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, EWState())
        if math.isnan(value):
            return 0.0, {"expected": NAN, "z": NAN}
        sd = floored_sd(s.mean, s.var, self.abs_floor, self.rel_floor)
        z = abs(value - s.mean) / sd
        score = ratio_to_score((z / self.z_alarm) ** 2) if s.count >= max(self.warmup, 1) else 0.0
        extras = {"expected": s.mean if s.count else NAN, "z": z if s.count else NAN}
        ew_learn(s, ts, value, self.halflife)
        return score, extras


@dataclass
class CusumState(EWState):
    s_hi: float = 0.0
    s_lo: float = 0.0


class CUSUMRef(Reference):
    name = "cusum"

    def __init__(
        self,
        halflife: float = 14 * 86400.0,
        warmup: int = 20,
        k: float = 0.5,
        h: float = 5.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.01,
    ) -> None:
        super().__init__(warmup)
        self.halflife, self.k, self.h = halflife, k, h
        self.abs_floor, self.rel_floor = abs_floor, rel_floor

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, CusumState())
        if math.isnan(value):
            return 0.0, {"expected": NAN, "s_hi": NAN, "s_lo": NAN}
        expected = s.mean if s.count else NAN
        if s.count >= max(self.warmup, 1):
            u = (value - s.mean) / floored_sd(s.mean, s.var, self.abs_floor, self.rel_floor)
            s.s_hi = max(0.0, s.s_hi + u - self.k)
            s.s_lo = max(0.0, s.s_lo - u - self.k)
            score = ratio_to_score(max(s.s_hi, s.s_lo) / self.h)
        else:
            s.s_hi = s.s_lo = 0.0
            score = 0.0
        ew_learn(s, ts, value, self.halflife)
        return score, {"expected": expected, "s_hi": s.s_hi, "s_lo": s.s_lo}


@dataclass
class TrendState:
    level: float = 0.0
    trend: float = 0.0
    var: float = 0.0
    last_ts: float = NAN
    count: int = 0


class DampedTrendRef(Reference):
    name = "trend"

    def __init__(
        self,
        limit: float = 55.0,
        direction: str = "above",
        step: float = 86400.0,
        alpha: float = 0.3,
        beta: float = 0.2,
        phi: float = 0.98,
        z: float = 1.64,
        horizon: float = 14 * 86400.0,
        max_horizon: float = 365 * 86400.0,
        warmup: int = 5,
    ) -> None:
        super().__init__(warmup)
        self.limit, self.direction, self.step = limit, direction, step
        self.alpha, self.beta, self.phi, self.z = alpha, beta, phi, z
        self.horizon, self.max_horizon = horizon, max_horizon

    def damped_sum(self, tau: float) -> float:
        if self.phi == 1.0:
            return tau
        return self.phi * -math.expm1(tau * math.log(self.phi)) / (1.0 - self.phi)

    def steps(self, gap: float, slope: float) -> float:
        if gap <= 0:
            return 0.0
        if slope <= 0:
            return math.inf
        if self.phi == 1.0:
            h = gap / slope
        else:
            frac = 1.0 - gap * (1.0 - self.phi) / (slope * self.phi)
            if frac <= 0:
                return math.inf
            h = math.log(frac) / math.log(self.phi)
        return h if 0 <= h <= self.max_horizon / self.step else math.inf

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, TrendState())
        if math.isnan(value):
            keys = ("expected", "level", "trend", "eta_seconds", "eta_lower", "eta_upper")
            return 0.0, dict.fromkeys(keys, NAN)
        if s.count == 0:
            s.level, s.trend, expected = value, 0.0, NAN
        else:
            tau = max(ts - s.last_ts, 0.0) / self.step
            dsum = self.damped_sum(tau)
            a = -math.expm1(tau * math.log1p(-self.alpha)) if self.alpha < 1 else 1.0
            g = self.alpha * self.beta / max(tau, 1.0)
            expected = s.level + dsum * s.trend
            err = value - expected
            s.level, s.trend = (
                expected + a * err,
                self.phi**tau * s.trend + g * err,
            )
            s.var = (1.0 - self.alpha) * s.var + self.alpha * err * err
        s.count += 1
        s.last_ts = ts
        sign = 1.0 if self.direction == "above" else -1.0
        gap, slope, band = sign * (self.limit - s.level), sign * s.trend, self.z * math.sqrt(s.var)
        eta = self.steps(gap, slope) * self.step
        lower = self.steps(gap - band, slope) * self.step
        upper = self.steps(gap + band, slope) * self.step
        score = 0.0
        if s.count - 1 >= max(self.warmup, 1):
            score = 1.0 if eta == 0 else ratio_to_score((self.horizon / eta) ** 2)
        return score, {
            "expected": expected,
            "level": s.level,
            "trend": s.trend,
            "eta_seconds": eta,
            "eta_lower": lower,
            "eta_upper": upper,
        }


@dataclass
class StaleState:
    interval: float = 0.0
    last_ts: float = NAN
    count: int = 0


class StalenessRef(Reference):
    name = "staleness"

    def __init__(
        self,
        k: float = 3.0,
        max_age: float = 2 * 86400.0,
        alpha: float = 0.1,
        min_interval: float = 1.0,
        warmup: int = 3,
    ) -> None:
        super().__init__(warmup)
        self.k, self.max_age, self.alpha, self.min_interval = k, max_age, alpha, min_interval

    def threshold(self, s: StaleState) -> float:
        if s.count < 2:
            return self.max_age
        return min(self.k * max(s.interval, self.min_interval), self.max_age)

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, StaleState())
        if math.isnan(value):
            return 0.0, {"gap_seconds": NAN, "typical_seconds": NAN}
        gap = max(ts - s.last_ts, 0.0) if s.count else NAN
        thr = self.threshold(s)
        typical = s.interval if s.count >= 2 else NAN
        score = 0.0
        if s.count >= max(self.warmup, 1):
            score = ratio_to_score((gap / thr) ** 4)
        if s.count:
            w = max(self.alpha, 1.0 / s.count)
            s.interval = (1.0 - w) * s.interval + w * gap
        s.count += 1
        s.last_ts = ts
        return score, {"gap_seconds": gap, "typical_seconds": typical}

    def check(self, now: float) -> dict[int, bool]:
        return {
            r: s.count > 0 and now - s.last_ts > self.threshold(s) for r, s in self.state.items()
        }


@dataclass
class SeasonalState:
    loc: list[float]
    dev: list[float]
    visits: list[int]
    last_ts: float = NAN
    count: int = 0


class SeasonalRef(Reference):
    name = "seasonal"

    def __init__(
        self,
        n_slots: int = 24,
        slot_seconds: float = 3600.0,
        utc_offset: float = 0.0,
        alpha: float = 0.1,
        clip: float = 2.0,
        z_alarm: float = 4.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.01,
        warmup: int = 72,
    ) -> None:
        super().__init__(warmup)
        self.n_slots, self.slot_seconds, self.utc_offset = n_slots, slot_seconds, utc_offset
        self.alpha, self.clip, self.z_alarm = alpha, clip, z_alarm
        self.abs_floor, self.rel_floor = abs_floor, rel_floor

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.get(row)
        if s is None:
            n = self.n_slots
            s = self.state[row] = SeasonalState([NAN] * n, [0.0] * n, [0] * n)
        if math.isnan(value):
            return 0.0, {"expected": NAN, "z": NAN}
        j = int(math.floor((ts + self.utc_offset) / self.slot_seconds) % self.n_slots)
        dt = max(ts - s.last_ts, 0.0) if s.count else self.slot_seconds
        w = -math.expm1(min(dt, self.slot_seconds) / self.slot_seconds * math.log1p(-self.alpha))
        loc, dev, v = s.loc[j], s.dev[j], s.visits[j]
        score, expected, z = 0.0, NAN, NAN
        if v == 0:
            s.loc[j], s.dev[j] = value, 0.0
        else:
            scale = max(ABS_DEV_TO_SD * dev, max(self.abs_floor, self.rel_floor * abs(loc)))
            res = value - loc
            lim = self.clip * scale if v >= 2 else math.inf
            cr = min(max(res, -lim), lim)
            s.loc[j] = loc + max(w, 1.0 / (v + 1.0)) * cr
            s.dev[j] = dev + max(w, 1.0 / max(v, 1.0)) * (abs(cr) - dev)
            expected = loc
            if v >= 3:
                z = abs(res) / scale
                if s.count >= max(self.warmup, 1):
                    score = ratio_to_score((z / self.z_alarm) ** 2)
        s.visits[j] = min(v + 1, 255)
        s.count += 1
        s.last_ts = ts
        return score, {"expected": expected, "z": z}


@dataclass
class CompState(EWState):
    contrib: float = 0.0


class CompositeIndexRef(Reference):
    """All series in group 0 with weight 1 and direction +1 unless ``members`` says otherwise."""

    name = "composite"

    def __init__(
        self,
        halflife: float = 7 * 86400.0,
        warmup: int = 10,
        z_cap: float = 10.0,
        index_alarm: float = 3.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.01,
        members: dict[int, tuple[int, float, float]] | None = None,
    ) -> None:
        super().__init__(warmup)
        self.halflife, self.z_cap, self.index_alarm = halflife, z_cap, index_alarm
        self.abs_floor, self.rel_floor = abs_floor, rel_floor
        self.members = members or {}
        self.gsum: dict[int, float] = {}
        self.gweight: dict[int, float] = {}

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, CompState())
        group, weight, direction = self.members.get(row, (0, 1.0, 1.0))
        if math.isnan(value):
            return 0.0, {"index": NAN, "contribution": NAN}
        live = s.count >= max(self.warmup, 1)
        c = 0.0
        if live:
            z = (value - s.mean) / floored_sd(s.mean, s.var, self.abs_floor, self.rel_floor)
            c = weight * min(max(direction * z, 0.0), self.z_cap)
        self.gsum[group] = self.gsum.get(group, 0.0) + (c - s.contrib)
        if s.count == 0:
            self.gweight[group] = self.gweight.get(group, 0.0) + weight
        s.contrib = c
        ew_learn(s, ts, value, self.halflife)
        gw = self.gweight[group]
        index = self.gsum[group] / gw if gw > 0 else 0.0
        score = ratio_to_score((index / self.index_alarm) ** 2) if live else 0.0
        return score, {"index": index, "contribution": c}


@dataclass
class RobustState:
    loc: float = 0.0
    dev: float = 0.0
    last_ts: float = NAN
    count: int = 0


class RobustEWRef(Reference):
    name = "robust"

    def __init__(
        self,
        halflife: float = 7 * 86400.0,
        warmup: int = 10,
        clip: float = 5.0,
        z_alarm: float = 5.0,
        level_halflife: float = 3600.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.1,
    ) -> None:
        super().__init__(warmup)
        self.halflife, self.clip, self.z_alarm = halflife, clip, z_alarm
        self.level_halflife = level_halflife
        self.abs_floor, self.rel_floor = abs_floor, rel_floor

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, RobustState())
        if math.isnan(value):
            return 0.0, {"expected": NAN, "z": NAN}
        if s.count == 0:
            s.loc, s.dev, s.count, s.last_ts = value, 0.0, 1, ts
            return 0.0, {"expected": NAN, "z": NAN}
        dt = max(ts - s.last_ts, 0.0)
        alpha = max(-math.expm1(-LN2 * dt / self.halflife), 1.0 / (s.count + 1.0))
        alpha_level = max(-math.expm1(-LN2 * dt / self.level_halflife), 1.0 / (s.count + 1.0))
        scale = max(ABS_DEV_TO_SD * s.dev, max(self.abs_floor, self.rel_floor * abs(s.loc)))
        res = value - s.loc
        z = abs(res) / scale
        score = 0.0
        if s.count >= max(self.warmup, 1):
            score = ratio_to_score((z / self.z_alarm) ** 2)
        clipped = res
        if s.count >= self.warmup:
            clipped = min(max(res, -self.clip * scale), self.clip * scale)
        expected = s.loc
        s.loc = s.loc + alpha_level * clipped
        s.dev = s.dev + alpha * (abs(clipped) - s.dev)
        s.count += 1
        s.last_ts = ts
        return score, {"expected": expected, "z": z}


@dataclass
class ChangesState:
    loc: float = 0.0
    dev: float = 0.0
    short: float = 0.0
    base: float = 0.0
    trend: float = 0.0
    spread_short: float = 0.0
    spread_long: float = 0.0
    rep_short: float = 0.0
    rep_long: float = 0.0
    cal: list[float] | None = None  # level, ramp, variance, flatline
    prev: float = NAN
    last_ts: float = NAN
    count: int = 0
    episode_kind: int = 0
    in_episode: bool = False
    ramp_before: bool = False


#: the kinds' priorities and the episode threshold are the detector's definitions, not
#: its arithmetic: the reference shares them
CHANGE_PRIORITY = tuple(int(p) for p in PRIORITY)


class ChangesRef(Reference):
    name = "changes"

    def __init__(
        self,
        warmup: int = 48,
        u_alarm: float = 4.0,
        level_halflife: float = 3600.0,
        spread_halflife: float = 7 * 86400.0,
        short_halflife: float = 3 * 3600.0,
        base_halflife: float = 86400.0,
        ramp_halflife: float = 6 * 3600.0,
        var_halflife: float = 12 * 3600.0,
        calib_halflife: float = 28 * 86400.0,
        clip: float = 5.0,
        rel_floor: float = 0.1,
        abs_floor: float = 1e-6,
        level_alarm: float = 1.0,
        ramp_alarm: float = 1.0,
        var_alarm: float = 1.25,
        flat_alarm: float = 1.5,
    ) -> None:
        super().__init__(warmup)
        self.u_alarm, self.clip = u_alarm, clip
        self.h_level, self.h_spread, self.h_short = level_halflife, spread_halflife, short_halflife
        self.h_base, self.h_ramp, self.h_var = base_halflife, ramp_halflife, var_halflife
        self.h_calib = calib_halflife
        self.rel_floor, self.abs_floor = rel_floor, abs_floor
        self.alarms = (level_alarm, ramp_alarm, var_alarm, flat_alarm)

    def update(self, row: int, ts: float, value: float) -> tuple[float, dict[str, float]]:
        s = self.state.setdefault(row, ChangesState())
        if math.isnan(value):
            return 0.0, {"expected": NAN, "z": NAN, "kind": 0.0}
        x = value
        spread_floor = max(self.abs_floor, 0.01 * abs(x))
        if s.count == 0:
            s.loc = s.short = s.base = s.prev = x
            s.spread_short = s.spread_long = math.log(spread_floor)
            s.cal = [0.0, 0.0, 0.0, 0.0]
            s.count, s.last_ts = 1, ts
            return 0.0, {"expected": NAN, "z": NAN, "kind": 0.0}
        assert s.cal is not None
        n = s.count
        dt = max(ts - s.last_ts, 0.0)

        def a(h: float) -> float:
            return max(-math.expm1(-LN2 * dt / h), 1.0 / (n + 1.0))

        warm, live = n >= self.warmup, n >= max(self.warmup, 1)
        floor = max(self.abs_floor, self.rel_floor * abs(s.loc))
        scale = max(ABS_DEV_TO_SD * s.dev, floor)
        res = x - s.loc
        lim = self.clip * scale if warm else math.inf
        cr = min(max(res, -lim), lim)
        loc = s.loc + a(self.h_level) * cr
        short = s.short + a(self.h_short) * (s.loc + cr - s.short)
        step = min(max(x - s.prev, -1.5 * scale), 1.5 * scale)
        trend = s.trend + a(self.h_ramp) * (step / dt - s.trend) if dt > 0 else s.trend
        g = math.log(abs(x - s.prev - s.trend * dt) + max(self.abs_floor, 0.01 * abs(s.loc)))
        spread_short = s.spread_short + a(self.h_var) * (g - s.spread_short)
        same = 1.0 if x == s.prev else 0.0
        rep_short = s.rep_short + a(self.h_short) * (same - s.rep_short)
        rep_long = s.rep_long + a(self.h_spread) * (same - s.rep_long)
        evidence = (
            short - s.base,
            trend * self.h_ramp,
            spread_short - s.spread_long,
            max(rep_short - rep_long, 0.0),
        )
        floors = (0.3 * floor, 0.3 * floor, 0.1, 0.1)
        widen = math.exp(min(max(evidence[2], 0.0), 50.0))
        a_cal = a(self.h_calib)
        ratio = [0.0] * 5
        for c in range(4):
            sc0 = max(ABS_DEV_TO_SD * s.cal[c], floors[c])
            sc = sc0 * widen if c < 2 else sc0
            ratio[c] = abs(evidence[c]) / sc / (self.u_alarm * self.alarms[c])
            if not warm or ratio[c] < 1.0:
                e = min(abs(evidence[c]), 2.0 * sc0) if warm else abs(evidence[c])
                s.cal[c] += a_cal * (e - s.cal[c])
        z = res / scale
        ratio[4] = abs(z) / self.u_alarm
        best = max(ratio)
        score = ratio_to_score(best * best) if live else 0.0
        kind = 0
        if live:
            for c in (3, 2, 1, 0, 4, 5):  # flatline, variance, ramp, level, spike/dip, step
                if c == 5:  # a slope alarm on its own for one point: a step
                    if ratio[1] >= 1.0:
                        kind = 1 if evidence[1] > 0 else 2
                        if kind == 2 and abs(x) <= 0.1 * abs(s.base) and s.base > 2.0 * scale:
                            kind = 10
                    break
                if ratio[c] >= 1.0 and (c != 1 or s.ramp_before):
                    up = (evidence[c] if c < 4 else z) > 0
                    kind = (9, 7 if up else 8, 5 if up else 6, 3 if up else 4, 1 if up else 2)[
                        (3, 2, 1, 0, 4).index(c)
                    ]
                    if kind == 8 and rep_short >= 0.5:
                        kind = 9
                    near_zero = abs(x) <= 0.1 * abs(s.base) and s.base > 2.0 * scale
                    if kind in (2, 4, 8, 9) and near_zero:
                        kind = 10
                    break
        if kind and (not s.in_episode or CHANGE_PRIORITY[kind] > CHANGE_PRIORITY[s.episode_kind]):
            s.episode_kind = kind
        s.in_episode = live and best >= EPISODE_RATIO
        s.ramp_before = ratio[1] >= EPISODE_RATIO
        expected = s.loc
        s.dev += a(self.h_spread) * (abs(cr) - s.dev)
        s.base += a(self.h_base) * (loc - s.base)
        s.spread_long += a(self.h_spread) * (g - s.spread_long)
        s.loc, s.short, s.trend, s.spread_short = loc, short, trend, spread_short
        s.rep_short, s.rep_long, s.prev = rep_short, rep_long, x
        s.count += 1
        s.last_ts = ts
        return score, {"expected": expected, "z": z, "kind": float(s.episode_kind)}


REFERENCES: dict[str, type[Reference]] = {
    cls.name: cls
    for cls in (
        EWMARef,
        CUSUMRef,
        DampedTrendRef,
        StalenessRef,
        SeasonalRef,
        CompositeIndexRef,
        RobustEWRef,
        ChangesRef,
    )
}
