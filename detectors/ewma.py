"""EWMA control chart with an exponentially weighted variance."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from detectors._ew import ew_commit, ew_pass, scale_floor
from detectors._segments import Batch
from detectors.base import Detector, FloatArray, band_extras, ratio_to_score


class EWMA(Detector):
    """EWMA control chart: z-score of each point against the EW mean and variance.

    ``z = |x - mean| / max(std, abs_floor, rel_floor * |mean|)`` is taken
    against the state *before* the point is learned, and mapped to a score
    with ``1 - 5 ** -(z / z_alarm) ** 2`` (0.8 at ``z = z_alarm``). Mean and
    variance decay with elapsed event time (``halflife`` seconds).

    Extras: ``expected`` (the EW mean), ``lower``/``upper`` (``expected`` -/+
    ``z_alarm`` floored standard deviations) and ``z``.

    A flat series with a little noise, then a spike:

    >>> rng = np.random.default_rng(7)
    >>> det = EWMA(halflife=6 * 3600.0, warmup=5)
    >>> ts = np.arange(48) * 3600.0
    >>> value = 40.0 + rng.normal(0.0, 1.0, 48)
    >>> value[40] = 60.0
    >>> r = det.update(np.zeros(48, dtype=np.int64), ts, value)
    >>> float(r.score[:5].max()), bool(r.score[40] > 0.99), bool(r.score[30:40].max() < 0.8)
    (0.0, True, True)
    >>> round(float(r.expected[40]), 1)
    39.7
    """

    name = "ewma"
    param_names = ("halflife", "z_alarm", "abs_floor", "rel_floor")
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "mean": ("f8", 0.0),
        "var": ("f8", 0.0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
    }

    def __init__(
        self,
        halflife: float = 86400.0,
        warmup: int = 10,
        z_alarm: float = 4.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.01,
    ) -> None:
        super().__init__(warmup)
        if halflife <= 0 or z_alarm <= 0:
            raise ValueError("halflife and z_alarm must be > 0")
        self.halflife = float(halflife)
        self.z_alarm = float(z_alarm)
        self.abs_floor = float(abs_floor)
        self.rel_floor = float(rel_floor)


    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        p = ew_pass(b, self.state, self.halflife)
        sd = scale_floor(p.pre_mean, p.pre_var, self.abs_floor, self.rel_floor)
        z = np.subtract(b.value, p.pre_mean)
        np.abs(z, out=z)
        z /= sd
        r = z / self.z_alarm
        r *= r
        score = ratio_to_score(r)
        live = p.count_before >= max(self.warmup, 1)
        if not b.all_valid:
            live &= b.valid
        score[~live] = 0.0
        seen = b.valid & (p.count_before > 0)
        expected = np.where(seen, p.pre_mean, np.nan)
        band = self.z_alarm * sd
        ew_commit(b, self.state, p)
        return score, band_extras(expected, band, z=np.where(seen, z, np.nan))
