"""Two-sided CUSUM for level shifts."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from detectors._ew import ew_commit, ew_pass, scale_floor
from detectors._segments import Batch, maxplus_scan, scatter_last
from detectors.base import Detector, FloatArray, ratio_to_score


class CUSUM(Detector):
    """Two-sided CUSUM of standardized residuals against a slow EW baseline.

    Each valid point is standardized as ``u = (x - mean) / sd`` with the
    baseline (EW mean and variance, ``halflife`` seconds, floored sd) taken
    before the point is learned; then::

        s_hi = max(0, s_hi + u - k)
        s_lo = max(0, s_lo - u - k)

    During warm-up both sums are held at 0. The score is
    ``1 - 5 ** -(max(s_hi, s_lo) / h)`` (0.8 when a sum reaches the decision
    interval ``h``). The sums count points, not time: a shift is evidence per
    observation. There is no reset after an alarm; the sums fall back as the
    baseline absorbs the new level.

    Extras: ``expected`` (baseline mean), ``s_hi``, ``s_lo``, ``direction``
    (+1 for an upward shift, -1 downward, 0 none).

    A level shift of two standard deviations is caught within a few points:

    >>> rng = np.random.default_rng(3)
    >>> value = np.r_[rng.normal(10.0, 1.0, 60), rng.normal(12.0, 1.0, 20)]
    >>> det = CUSUM(halflife=30 * 86400.0, warmup=20)
    >>> r = det.update(np.zeros(80, dtype=np.int64), np.arange(80) * 3600.0, value)
    >>> bool(r.score[:60].max() < 0.8), int(np.argmax(r.score >= 0.8)) - 60
    (True, 6)
    >>> int(r.direction[65])
    1
    """

    name = "cusum"
    param_names = ("halflife", "k", "h", "abs_floor", "rel_floor")
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "mean": ("f8", 0.0),
        "var": ("f8", 0.0),
        "s_hi": ("f8", 0.0),
        "s_lo": ("f8", 0.0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
    }

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
        if halflife <= 0 or h <= 0 or k < 0:
            raise ValueError("need halflife > 0, h > 0, k >= 0")
        self.halflife, self.k, self.h = float(halflife), float(k), float(h)
        self.abs_floor, self.rel_floor = float(abs_floor), float(rel_floor)


    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        p = ew_pass(b, self.state, self.halflife)
        sd = scale_floor(p.pre_mean, p.pre_var, self.abs_floor, self.rel_floor)
        u = np.where(b.valid, (b.value - p.pre_mean) / sd, 0.0)
        live = b.valid & (p.count_before >= max(self.warmup, 1))
        warm = b.valid & ~live
        # per-point map s -> max(c, s + d): identity for NaN, reset to 0 in warm-up
        c = np.where(live, 0.0, np.where(warm, 0.0, -np.inf))
        d_hi = np.where(live, u - self.k, np.where(warm, -np.inf, 0.0))
        d_lo = np.where(live, -u - self.k, np.where(warm, -np.inf, 0.0))
        rows = b.rows
        s_hi = maxplus_scan(b, c, d_hi, self.state["s_hi"][rows])
        s_lo = maxplus_scan(b, c, d_lo, self.state["s_lo"][rows])
        top = np.maximum(s_hi, s_lo)
        score = np.where(live, ratio_to_score(top / self.h), 0.0)
        direction = np.where(top <= 0, 0, np.where(s_hi >= s_lo, 1, -1)).astype(np.int8)
        scatter_last(b, self.state["s_hi"], s_hi)
        scatter_last(b, self.state["s_lo"], s_lo)
        ew_commit(b, self.state, p)
        seen = b.valid & (p.count_before > 0)
        return score, {
            "expected": np.where(seen, p.pre_mean, np.nan),
            "s_hi": np.where(b.valid, s_hi, np.nan),
            "s_lo": np.where(b.valid, s_lo, np.nan),
            "direction": np.where(b.valid, direction, 0).astype(np.int8),
        }
