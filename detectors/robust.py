"""Robust EW baseline: Huber-clipped location and mean absolute deviation."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from detectors._segments import Batch
from detectors.base import Detector, FloatArray, band_extras, ratio_to_score

#: mean absolute deviation -> standard deviation for normal data
ABS_DEV_TO_SD = math.sqrt(math.pi / 2.0)
LN2 = 0.6931471805599453


class RobustEW(Detector):
    """z-score against a robust location and spread on two time scales.

    The baseline is an EW location ``loc`` (half-life ``level_halflife``:
    short, so it follows the local level through daily swings and slow
    drifts) and an EW mean absolute deviation ``dev`` around it (half-life
    ``halflife``: long, so it learns how noisy the series normally is). Both
    learn Huber-clipped residuals: once the series is past warm-up, a
    residual counts at most ``clip`` scales, so a spike, an outage or a burst
    of anomalies moves the level and inflates the spread only a little, and
    the points after it are still judged against normal behaviour (a robust
    stand-in for a rolling median and MAD). For a valid point ``x`` after
    ``n`` earlier valid points, ``dt`` seconds after the previous one::

        scale = max(sqrt(pi/2) * dev, abs_floor, rel_floor * |loc|)
        z = |x - loc| / scale                    score = 1 - 5 ** -(z / z_alarm) ** 2
        a(h) = max(1 - 2 ** (-dt / h), 1 / (n + 1))
        r = x - loc, clipped to +-clip * scale once n >= warmup
        loc += a(level_halflife) * r;  dev += a(halflife) * (|r| - dev)

    The first point sets ``loc = x``, ``dev = 0``. Decay runs on event time,
    so irregular steps and gaps are handled (a long gap forgets the level);
    the scale floors keep flat stretches from turning rounding into alarms.
    A lasting level shift alarms until the clipped level has caught up, as
    one episode. The defaults were chosen on the tuning half of the labelled
    series (docs/QUALITY.md).

    Clipping depends on the state, so points of one series are applied in
    order (vectorized across series: one round per position in the batch).

    Extras: ``expected`` (``loc`` before the point), ``lower``/``upper``
    (``expected`` -/+ ``z_alarm`` scales) and ``z``.

    State: 32 bytes per series.

    A noisy level, a burst of four outliers, then a spike: the clipped level
    takes a few points to follow the burst, so every point of it alarms:

    >>> rng = np.random.default_rng(2)
    >>> value = 20.0 + rng.normal(0.0, 1.0, 200)
    >>> value[100:104] = 60.0
    >>> value[150] = 35.0
    >>> det = RobustEW(warmup=10)
    >>> r = det.update(np.zeros(200, dtype=np.int64), np.arange(200) * 3600.0, value)
    >>> bool(r.score[10:100].max() < 0.8), r.score[100:104].round(2).tolist()
    (True, [1.0, 1.0, 1.0, 0.9])
    >>> bool(r.score[150] > 0.95), round(float(r.expected[150]), 1)
    (True, 20.6)
    """

    name = "robust"
    param_names = ("halflife", "level_halflife", "clip", "z_alarm", "abs_floor", "rel_floor")
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "loc": ("f8", 0.0),
        "dev": ("f8", 0.0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
    }

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
        if min(halflife, level_halflife, clip, z_alarm) <= 0:
            raise ValueError("halflife, level_halflife, clip and z_alarm must be > 0")
        self.halflife, self.clip, self.z_alarm = float(halflife), float(clip), float(z_alarm)
        self.level_halflife = float(level_halflife)
        self.abs_floor, self.rel_floor = float(abs_floor), float(rel_floor)


    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        st, rows, valid = self.state, b.rows, b.valid
        n = b.n
        count_before = st["count"][rows] + b.count_before(valid)
        prev_ts = b.prev_valid_ts(st["last_ts"][rows])
        dt = np.maximum(b.ts - prev_ts, 0.0)
        floor = 1.0 / (count_before + 1.0)
        alpha = np.fmax(-np.expm1(dt * (-LN2 / self.halflife)), floor)
        alpha_level = np.fmax(-np.expm1(dt * (-LN2 / self.level_halflife)), floor)
        z, expected, scale = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
        loc, dev = st["loc"], st["dev"]
        # rounds: the k-th valid point of each series in round k (rows unique per round)
        for i in b.rounds():
            r_ = rows[i]
            x, lo, de, cb = b.value[i], loc[r_], dev[r_], count_before[i]
            first = cb == 0
            floor = np.maximum(self.abs_floor, self.rel_floor * np.abs(lo))
            sc = np.maximum(ABS_DEV_TO_SD * de, floor)
            res = x - lo
            lim = np.where(cb >= self.warmup, self.clip * sc, np.inf)
            cr = np.clip(res, -lim, lim)
            loc[r_] = np.where(first, x, lo + alpha_level[i] * cr)
            dev[r_] = np.where(first, 0.0, de + alpha[i] * (np.abs(cr) - de))
            z[i] = np.where(first, np.nan, np.abs(res) / sc)
            expected[i] = np.where(first, np.nan, lo)
            scale[i] = sc
        live = valid & (count_before >= max(self.warmup, 1))
        score = np.where(live, ratio_to_score((np.nan_to_num(z) / self.z_alarm) ** 2), 0.0)
        self._advance(b, count_before, valid, prev_ts)
        band = self.z_alarm * scale
        return score, band_extras(expected, band, z=z)
