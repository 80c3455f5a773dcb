"""Seasonal robust baseline: a per-series profile by hour of day (or of week)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from detectors._segments import Batch
from detectors.base import Detector, FloatArray, band_extras, ratio_to_score

#: mean absolute deviation -> standard deviation for normal data
ABS_DEV_TO_SD = math.sqrt(math.pi / 2.0)
#: visits a slot needs before it scores (two to set location and spread, one to test)
MIN_VISITS = 3


class Seasonal(Detector):
    """Robust seasonal baseline: location and spread per series and time slot.

    A point at time ``t`` falls in slot ``floor((t + utc_offset) / slot_seconds)
    % n_slots`` (defaults: 24 hourly slots, i.e. hour of day in UTC; use
    ``n_slots=168`` for hour of week). Each slot keeps a Huber-clipped EW
    location ``loc`` and EW mean absolute deviation ``dev``, a robust stand-in
    for an EW median and MAD: residuals are clipped at ``clip`` scales before
    they are learned, so once a slot has a few visits one wild point moves the
    baseline by at most ``alpha * clip`` scales. For a valid point ``x``::

        scale = max(sqrt(pi/2) * dev, abs_floor, rel_floor * |loc|)
        z = |x - loc| / scale                 score = 1 - 5 ** -(z / z_alarm) ** 2
        w = 1 - (1 - alpha) ** (min(dt, slot_seconds) / slot_seconds)
        r = clip(x - loc, -clip * scale, clip * scale)
        loc += max(w, 1 / (v + 1)) * r;  dev += max(w, 1 / v) * (|r| - dev)

    where ``v`` counts the slot's earlier visits (so the first visits average
    plainly: no bias towards the initial zero spread, no clipping before the
    spread is known at ``v >= 2``; a slot scores from its third visit on).
    ``dt`` is the time since the series' previous valid point, so densely
    sampled series learn per unit of time, not per point, and a gap counts as
    at most one slot's worth. The first point in a slot sets ``loc = x``,
    ``dev = 0``.

    State: 16 bytes per series plus ``17 * n_slots`` bytes of profile
    (424 bytes per series at 24 slots). This is the one detector above the 64
    bytes budget: a seasonal baseline needs a location and a spread per slot
    (hour of week: 168 slots, 2.9 kB). The profile stays float64: with float32
    storage a last-bit difference anywhere upstream would be amplified to
    float32 precision (1e-7) and break the 1e-9 agreement with the reference.
    Rows are only allocated for series that are used.

    Extras: ``expected`` (slot location), ``lower``/``upper`` (``expected``
    -/+ ``z_alarm`` scales), ``z``, ``slot``.

    A daily cycle peaking at 06:00 UTC (70) with its trough at 18:00 (30); then
    70 at 18:00, a normal value at the wrong time of day:

    >>> rng = np.random.default_rng(1)
    >>> ts = np.arange(24 * 10) * 3600.0
    >>> value = 50.0 + 20.0 * np.sin(2 * np.pi * ts / 86400.0) + rng.normal(0, 1, ts.size)
    >>> det = Seasonal(warmup=72)
    >>> r = det.update(np.zeros(ts.size, dtype=np.int64), ts, value)
    >>> int((r.score[72:] >= 0.8).sum())
    1
    >>> odd = det.update(np.array([0]), np.array([240 * 3600.0 + 6 * 3600.0 + 12 * 3600.0]), [70.0])
    >>> int(odd.slot[0]), round(float(odd.expected[0])), bool(odd.score[0] > 0.99)
    (18, 30, True)
    """

    name = "seasonal"
    param_names = (
        "n_slots",
        "slot_seconds",
        "utc_offset",
        "alpha",
        "clip",
        "z_alarm",
        "abs_floor",
        "rel_floor",
    )
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "loc": ("f8", 0.0),
        "dev": ("f8", 0.0),
        "visits": ("u1", 0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
    }

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
        super().__init__(warmup, widths={"loc": n_slots, "dev": n_slots, "visits": n_slots})
        if n_slots < 1 or slot_seconds <= 0 or not 0 < alpha <= 1 or clip <= 0:
            raise ValueError("need n_slots >= 1, slot_seconds > 0, 0 < alpha <= 1, clip > 0")
        self.n_slots, self.slot_seconds, self.utc_offset = (
            int(n_slots),
            float(slot_seconds),
            float(utc_offset),
        )
        self.alpha, self.clip, self.z_alarm = float(alpha), float(clip), float(z_alarm)
        self.abs_floor, self.rel_floor = float(abs_floor), float(rel_floor)


    def slot_of(self, ts: NDArray[np.float64]) -> NDArray[np.int64]:
        return (np.floor((ts + self.utc_offset) / self.slot_seconds) % self.n_slots).astype(
            np.int64
        )

    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        st, rows, valid = self.state, b.rows, b.valid
        count_before = st["count"][rows] + b.count_before(valid)
        prev_ts = b.prev_valid_ts(st["last_ts"][rows])
        dt = np.where(count_before > 0, np.maximum(b.ts - prev_ts, 0.0), self.slot_seconds)
        frac = np.minimum(dt, self.slot_seconds) / self.slot_seconds
        w = -np.expm1(frac * math.log1p(-self.alpha)) if self.alpha < 1 else np.ones(b.n)
        slot = self.slot_of(b.ts)
        n = b.n
        score, expected, z, scale = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
        # rounds: the k-th point of each (series, slot) in round k, so keys are unique per round
        vidx = np.flatnonzero(valid)
        key = rows[vidx] * self.n_slots + slot[vidx]
        korder = np.argsort(key, kind="stable")
        skey = key[korder]
        start = np.ones(len(skey), dtype=bool)
        start[1:] = skey[1:] != skey[:-1]
        ar = np.arange(len(skey))
        rank = np.empty(len(skey), dtype=np.int64)
        rank[korder] = ar - np.maximum.accumulate(np.where(start, ar, 0))
        rorder = np.argsort(rank, kind="stable")
        bounds = np.searchsorted(rank[rorder], np.arange(int(rank.max(initial=-1)) + 2))
        loc, dev, visits = st["loc"], st["dev"], st["visits"]
        for k in range(len(bounds) - 1):
            i = vidx[rorder[bounds[k] : bounds[k + 1]]]
            r_, s_ = rows[i], slot[i]
            x, lo, de, wi = b.value[i], loc[r_, s_], dev[r_, s_], w[i]
            v = visits[r_, s_].astype(np.float64)
            new = v == 0
            floor = np.maximum(self.abs_floor, self.rel_floor * np.abs(lo))
            sc = np.maximum(ABS_DEV_TO_SD * de, floor)
            res = x - lo
            zi = np.abs(res) / sc
            lim = np.where(v >= 2, self.clip * sc, np.inf)
            cr = np.clip(res, -lim, lim)
            wl = np.maximum(wi, 1.0 / (v + 1.0))
            wd = np.maximum(wi, 1.0 / np.maximum(v, 1.0))
            loc[r_, s_] = np.where(new, x, lo + wl * cr)
            dev[r_, s_] = np.where(new, 0.0, de + wd * (np.abs(cr) - de))
            visits[r_, s_] = np.minimum(v + 1, 255).astype(np.uint8)
            z[i] = np.where(v >= MIN_VISITS, zi, np.nan)
            expected[i], scale[i] = np.where(new, np.nan, lo), sc
        live = valid & (count_before >= max(self.warmup, 1)) & ~np.isnan(z)
        score = np.where(live, ratio_to_score((np.nan_to_num(z) / self.z_alarm) ** 2), 0.0)
        self._advance(b, count_before, valid, prev_ts)
        band = self.z_alarm * scale
        return score, band_extras(expected, band, z=z, slot=np.where(valid, slot, -1))
