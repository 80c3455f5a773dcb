"""Calibrated change detector: one score for every kind of change, and the kind named."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from detectors._segments import Batch
from detectors.base import Detector, FloatArray, band_extras, ratio_to_score

ABS_DEV_TO_SD = math.sqrt(math.pi / 2.0)
LN2 = 0.6931471805599453
#: the calibrated deviation, as a share of its alarm, at which the score is 0.6: the
#: default policy's resolve threshold, where a change episode ends
EPISODE_RATIO = math.sqrt(math.log(2.5) / math.log(5.0))
#: names of the ``kind`` codes
KINDS = (
    "none",
    "spike",
    "dip",
    "level up",
    "level down",
    "ramp up",
    "ramp down",
    "variance up",
    "variance down",
    "flatline",
    "stoppage",
)
#: within one episode a kind is replaced only by one of higher priority
PRIORITY = np.array([0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6], dtype=np.int8)
#: level and ramp evidence floors as a share of the point scale floor; variance and
#: repeat-rate evidence floors (log ratio, rate)
SHARE_FLOOR, VAR_FLOOR, FLAT_FLOOR = 0.3, 0.1, 0.1
#: spread floor (share of the level) in the log spread, so exact repeats stay finite
SPREAD_REL_FLOOR = 0.01
#: calibration: Huber clip (in calibration scales) and the share of the alarm from which
#: on a component's evidence is not learnt (it is judged anomalous)
CAL_CLIP, CAL_FREEZE = 2.0, 1.0
#: largest log spread ratio that widens the level and ramp scales (keeps exp finite)
MAX_LOG_WIDEN = 50.0
#: steps are clipped at this many point scales before they update the slope
STEP_CLIP = 1.5
#: a stoppage: a value within this share of zero while the baseline is this many scales up
STOP_SHARE, STOP_SCALES = 0.1, 2.0

F = np.float64


class Changes(Detector):
    """Spikes, level shifts, ramps, variance changes, flatlines and stoppages, each calibrated.

    Five components of evidence per point, each a cheap exponentially weighted
    (EW) statistic on event time, each divided by its own typical size on this
    series, so that every component means the same thing everywhere:

    ====================  =======================================================
    component             raw evidence ``e`` (before the point is learnt)
    ====================  =======================================================
    spike / dip           ``x - loc``: residual against a Huber-clipped EW level
                          (half-life ``level_halflife``) whose spread, an EW mean
                          absolute deviation (``spread_halflife``), is the scale
    level up / down       ``short - base``: EW mean of the clipped values
                          (``short_halflife``) against a slow baseline of the level
                          (``base_halflife``)
    ramp up / down        EW slope of the steps, each clipped at 1.5 scales (a spike
                          moves it little), times ``ramp_halflife``
    variance up / down    log of the EW geometric mean of the absolute detrended
                          steps, short (``var_halflife``) against long
                          (``spread_halflife``)
    flatline              short-window rate of exact repeats above its long rate
    ====================  =======================================================

    **Calibration.** The spike residual is divided by the robust scale
    ``sqrt(pi/2) * dev``; every other component by ``sqrt(pi/2) * D``, where ``D`` is
    the EW mean (``calib_halflife``) of that component's own absolute evidence on
    this series, Huber-clipped at two calibration scales and not learnt from points
    where the component alarms (so an ongoing change does not teach itself to be
    normal). Level and ramp evidence is also divided by the current spread ratio
    (``exp`` of the variance evidence, when above 1), so a noisier stretch is not
    read as a shift. Each quotient ``u`` is a calibrated deviation: under the
    series' normal behaviour it is about standard normal, and ``u = u_alarm = 4``
    has a two-sided normal tail probability of 6e-5. The score is
    ``1 - 5 ** -(u / (u_alarm * alarm_c)) ** 2`` of the strongest component, so 0.8
    is a component at its alarm; ``alarm_c`` (1 for spikes, then ``level_alarm``,
    ``ramp_alarm``, ``var_alarm``, ``flat_alarm``) allows for the heavier tails of
    smoothed statistics. Defaults were chosen on the tuning half of the labelled
    series (``streams/offline/tuning.py``). What the calibration does not do: model the tail
    shape, so a heavy-tailed series (Laplace noise) alarms a few times more often
    than a Gaussian one at the same threshold.

    **Absorbing a change.** The level and its slow baseline, the spread and the
    long variance follow the new behaviour, so the score falls once a change is
    absorbed: a spike in a point or two, a level shift when the baseline has
    caught up (about two ``base_halflife``), a variance change when the long spread
    has. A flatline or a stoppage lasts while the series stays flat or stopped.

    **Kind.** The extra ``kind`` (codes in :data:`KINDS`) names the change of the
    current episode (the score staying at 0.6 or above): at each point the alarming
    component of highest priority (flatline, variance, ramp, level, spike) names it,
    and within an episode a kind is only replaced by one of higher priority, so a
    level shift that starts as a spike is named a level shift once its level
    evidence alarms. A variance drop with repeated values is a flatline; a dip, a
    level drop, a variance drop or a flatline to within 10% of zero while the
    baseline stands at least 2 scales above zero is a **stoppage** (a flow that
    stopped), the highest priority. A ramp is only named when the slope was near
    its alarm (score 0.6) at the previous point too; a slope alarm out of the blue
    is a single step, named a spike or dip. Outside an episode ``kind`` keeps the
    last episode's kind (0 before any).

    Extras: ``expected`` (the level before the point), ``lower``/``upper``
    (``expected`` -/+ ``u_alarm`` scales), ``z`` (signed spike deviation) and ``kind``.

    State: 130 bytes per series (15 floats, a count, the episode kind and flags).
    Points of one series are applied in order (the clipping and the calibration
    depend on the state), vectorized across series: one round per position in the
    batch.

    A noisy level, then a spike, a level shift and a ramp; quiet between them, as
    each change is absorbed:

    >>> rng = np.random.default_rng(3)
    >>> value = 20.0 + rng.normal(0.0, 1.0, 700)
    >>> value[200] += 15.0
    >>> value[300:] += 12.0
    >>> value[450:500] += np.linspace(0.0, 40.0, 50)
    >>> value[500:] += 40.0
    >>> r = Changes().update(np.zeros(700, dtype=np.int64), np.arange(700) * 3600.0, value)
    >>> [KINDS[k] for k in r.kind[[200, 320, 480]]]
    ['spike', 'level up', 'ramp up']
    >>> [bool(r.score[a:b].max() < 0.8) for a, b in ((48, 200), (395, 450), (600, 700))]
    [True, True, True]
    """

    name = "changes"
    param_names = (
        "u_alarm",
        "level_halflife",
        "spread_halflife",
        "short_halflife",
        "base_halflife",
        "ramp_halflife",
        "var_halflife",
        "calib_halflife",
        "clip",
        "rel_floor",
        "abs_floor",
        "alarms",
    )
    kinds = KINDS
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "loc": ("f8", 0.0),
        "dev": ("f8", 0.0),
        "short": ("f8", 0.0),
        "base": ("f8", 0.0),
        "trend": ("f8", 0.0),
        "spread_short": ("f8", 0.0),
        "spread_long": ("f8", 0.0),
        "rep_short": ("f8", 0.0),
        "rep_long": ("f8", 0.0),
        "cal_level": ("f8", 0.0),
        "cal_ramp": ("f8", 0.0),
        "cal_var": ("f8", 0.0),
        "cal_flat": ("f8", 0.0),
        "prev": ("f8", math.nan),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
        "episode_kind": ("i1", 0),
        "flags": ("i1", 0),  # 1: in an episode, 2: the slope was near its alarm at the last point
    }

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
        halflives = (
            level_halflife,
            spread_halflife,
            short_halflife,
            base_halflife,
            ramp_halflife,
            var_halflife,
            calib_halflife,
        )
        alarms = (level_alarm, ramp_alarm, var_alarm, flat_alarm)
        if min(*halflives, clip, u_alarm, *alarms) <= 0 or rel_floor < 0 or abs_floor <= 0:
            raise ValueError("half-lives, clip, u_alarm and alarms must be > 0, floors >= 0")
        self.u_alarm, self.clip = float(u_alarm), float(clip)
        self.level_halflife, self.spread_halflife = float(level_halflife), float(spread_halflife)
        self.short_halflife, self.base_halflife = float(short_halflife), float(base_halflife)
        self.ramp_halflife, self.var_halflife = float(ramp_halflife), float(var_halflife)
        self.calib_halflife = float(calib_halflife)
        self.rel_floor, self.abs_floor = float(rel_floor), float(abs_floor)
        self.alarms = tuple(float(a) for a in alarms)


    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        st, rows, valid = self.state, b.rows, b.valid
        n = b.n
        count_before = st["count"][rows] + b.count_before(valid)
        prev_ts = b.prev_valid_ts(st["last_ts"][rows])
        dt = np.maximum(b.ts - prev_ts, 0.0)  # NaN for a series' first point, unused there
        floor_n = 1.0 / (count_before + 1.0)

        def alpha(h: float) -> FloatArray:
            return np.fmax(-np.expm1(dt * (-LN2 / h)), floor_n)

        a_level, a_spread = alpha(self.level_halflife), alpha(self.spread_halflife)
        a_short, a_base = alpha(self.short_halflife), alpha(self.base_halflife)
        a_ramp, a_var = alpha(self.ramp_halflife), alpha(self.var_halflife)
        a_cal = alpha(self.calib_halflife)
        score, z, expected = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
        scale_out = np.zeros(n)
        kind_out = np.zeros(n, dtype=np.int8)
        ua, alarms = self.u_alarm, self.alarms
        cal_names = ("cal_level", "cal_ramp", "cal_var", "cal_flat")
        # rounds: the k-th valid point of each series in round k (rows unique per round)
        for i in b.rounds():
            r = rows[i]
            x, cb, d = b.value[i], count_before[i], dt[i]
            first = cb == 0
            if first.any():
                self._start(r[first], x[first])
                kind_out[i[first]] = st["episode_kind"][r[first]]
                keep = ~first
                i, r, x, cb, d = i[keep], r[keep], x[keep], cb[keep], d[keep]
                if not len(i):
                    continue
            loc, dev, prev = st["loc"][r], st["dev"][r], st["prev"][r]
            trend0, base0 = st["trend"][r], st["base"][r]
            warm, live = cb >= self.warmup, cb >= max(self.warmup, 1)
            floor = np.maximum(self.abs_floor, self.rel_floor * np.abs(loc))
            scale = np.maximum(ABS_DEV_TO_SD * dev, floor)
            res = x - loc
            lim = np.where(warm, self.clip * scale, np.inf)
            cr = np.clip(res, -lim, lim)
            new_loc = loc + a_level[i] * cr
            short = st["short"][r]
            new_short = short + a_short[i] * (loc + cr - short)
            step = np.clip(x - prev, -STEP_CLIP * scale, STEP_CLIP * scale)
            moving = d > 0
            slope = np.divide(step, d, out=np.zeros_like(step), where=moving)
            new_trend = np.where(moving, trend0 + a_ramp[i] * (slope - trend0), trend0)
            spread_floor = np.maximum(self.abs_floor, SPREAD_REL_FLOOR * np.abs(loc))
            g = np.log(np.abs(x - prev - trend0 * d) + spread_floor)
            ss = st["spread_short"][r]
            new_ss = ss + a_var[i] * (g - ss)
            same = (x == prev).astype(F)
            rs, rl = st["rep_short"][r], st["rep_long"][r]
            new_rs = rs + a_short[i] * (same - rs)
            new_rl = rl + a_spread[i] * (same - rl)
            evidence = (
                new_short - base0,
                new_trend * self.ramp_halflife,
                new_ss - st["spread_long"][r],
                np.maximum(new_rs - new_rl, 0.0),
            )
            floors = (SHARE_FLOOR * floor, SHARE_FLOOR * floor, VAR_FLOOR, FLAT_FLOOR)
            widen = np.exp(np.clip(evidence[2], 0.0, MAX_LOG_WIDEN))
            ratio = []
            for c in range(4):
                cal = st[cal_names[c]][r]
                sc0 = np.maximum(ABS_DEV_TO_SD * cal, floors[c])
                sc = sc0 * widen if c < 2 else sc0
                ab = np.abs(evidence[c])
                rc = ab / sc / (ua * alarms[c])
                learn = ~warm | (rc < CAL_FREEZE)
                e = np.where(warm, np.minimum(ab, CAL_CLIP * sc0), ab)
                st[cal_names[c]][r] = np.where(learn, cal + a_cal[i] * (e - cal), cal)
                ratio.append(rc)
            zz = res / scale
            ratio.append(np.abs(zz) / ua)
            best = np.maximum.reduce(ratio)
            score[i] = np.where(live, ratio_to_score(best * best), 0.0)
            kind = self._kind(ratio, evidence, zz, new_rs, x, base0, scale, st["flags"][r])
            kind = np.where(live, kind, 0).astype(np.int8)
            flags, ep = st["flags"][r], st["episode_kind"][r]
            replace = (kind > 0) & (((flags & 1) == 0) | (PRIORITY[kind] > PRIORITY[ep]))
            ep = np.where(replace, kind, ep).astype(np.int8)
            st["episode_kind"][r] = ep
            in_ep = live & (best >= EPISODE_RATIO)
            st["flags"][r] = in_ep.astype(np.int8) | (2 * (ratio[1] >= EPISODE_RATIO)).astype(
                np.int8
            )
            kind_out[i] = ep
            z[i], expected[i], scale_out[i] = zz, loc, scale
            st["dev"][r] = dev + a_spread[i] * (np.abs(cr) - dev)
            st["base"][r] = base0 + a_base[i] * (new_loc - base0)
            sl = st["spread_long"][r]
            st["spread_long"][r] = sl + a_spread[i] * (g - sl)
            st["loc"][r], st["short"][r], st["trend"][r] = new_loc, new_short, new_trend
            st["spread_short"][r], st["rep_short"][r], st["rep_long"][r] = new_ss, new_rs, new_rl
            st["prev"][r] = x
        self._advance(b, count_before, valid, prev_ts)
        band = self.u_alarm * scale_out
        return score, band_extras(expected, band, z=z, kind=kind_out)

    def _start(self, r: NDArray[np.int64], x: FloatArray) -> None:
        """First point of a series: level, baselines and previous value are the point."""
        st = self.state
        for name in ("loc", "short", "base", "prev"):
            st[name][r] = x
        st["spread_short"][r] = st["spread_long"][r] = np.log(
            np.maximum(self.abs_floor, SPREAD_REL_FLOOR * np.abs(x))
        )

    @staticmethod
    def _kind(
        ratio: list[FloatArray],
        evidence: tuple[FloatArray, ...],
        z: FloatArray,
        rep_short: FloatArray,
        x: FloatArray,
        base: FloatArray,
        scale: FloatArray,
        flags: NDArray[np.int8],
    ) -> NDArray[np.int8]:
        """The alarming component of highest priority, as a kind code (0 if none alarms)."""
        level, ramp, var, flat, spike = (rc >= 1.0 for rc in ratio)
        step = ramp & ((flags & 2) == 0)  # a slope alarm on its own for one point: a step
        ramp = ramp & ~step
        kind = np.zeros(len(x), dtype=np.int8)
        # lowest priority first: later assignments win
        kind = np.where(step, np.where(evidence[1] > 0, 1, 2), kind)
        kind = np.where(spike, np.where(z > 0, 1, 2), kind)
        kind = np.where(level, np.where(evidence[0] > 0, 3, 4), kind)
        kind = np.where(ramp, np.where(evidence[1] > 0, 5, 6), kind)
        var_kind = np.where(evidence[2] > 0, 7, np.where(rep_short >= 0.5, 9, 8))
        kind = np.where(var, var_kind, kind)
        kind = np.where(flat, 9, kind)
        near_zero = (np.abs(x) <= STOP_SHARE * np.abs(base)) & (base > STOP_SCALES * scale)
        stopped = near_zero & np.isin(kind, (2, 4, 8, 9))
        return np.where(stopped, 10, kind).astype(np.int8)
