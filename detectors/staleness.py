"""Staleness: a series that stops reporting is stale, which is not the same as zero."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from detectors._segments import Batch, affine_scan, scatter_last
from detectors.base import Detector, FloatArray, ratio_to_score

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class StaleReport:
    """Staleness of every series row at time ``now`` (arrays indexed by row)."""

    age_seconds: F64  # now - last report (NaN if the series never reported)
    threshold_seconds: F64  # min(k * typical interval, max_age)
    stale: NDArray[np.bool_]
    score: F64

    @property
    def stale_rows(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.stale)


class Staleness(Detector):
    """Tracks each series' typical reporting interval and flags the silent ones.

    The typical interval is an EW mean of the gaps between valid reports
    (plain average for the first ``1 / alpha`` gaps). A series is stale at
    time ``now`` once ``now - last report`` exceeds ``k`` typical intervals
    (at least ``min_interval`` seconds each) or ``max_age`` seconds, whichever
    is less (only ``max_age`` applies before a
    typical interval is known). The value of a report does not matter, so a
    live series reporting zeros is not stale; a NaN report is skipped like
    everywhere else. Score: ``1 - 5 ** -(age / threshold) ** 4`` (0.8 at the
    threshold). :meth:`update` scores how late each arriving point was;
    :meth:`check` scores every series at a given ``now``.

    Extras of :meth:`update`: ``gap_seconds``, ``typical_seconds``.

    >>> det = Staleness(k=3.0, max_age=7 * 86400.0, warmup=3)
    >>> hours = np.arange(10) * 3600.0
    >>> _ = det.update(np.zeros(10, dtype=np.int64), hours, np.zeros(10))  # zeros, but live
    >>> _ = det.update(np.ones(5, dtype=np.int64), hours[:5], np.full(5, 12.0))  # goes silent
    >>> rep = det.check(now=10 * 3600.0)
    >>> rep.stale.tolist(), rep.threshold_seconds.round(6).tolist()
    ([False, True], [10800.0, 10800.0])
    """

    name = "staleness"
    param_names = ("k", "max_age", "alpha", "min_interval")
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "interval": ("f8", 0.0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
    }

    def __init__(
        self,
        k: float = 3.0,
        max_age: float = 2 * 86400.0,
        alpha: float = 0.1,
        min_interval: float = 1.0,
        warmup: int = 3,
    ) -> None:
        super().__init__(warmup)
        if k <= 0 or max_age <= 0 or not 0 < alpha <= 1 or min_interval <= 0:
            raise ValueError("need k > 0, max_age > 0, 0 < alpha <= 1, min_interval > 0")
        self.k, self.max_age, self.alpha = float(k), float(max_age), float(alpha)
        self.min_interval = float(min_interval)


    def threshold(self, interval: F64, count: NDArray[np.int64]) -> F64:
        """``min(k * max(typical, min_interval), max_age)``; ``max_age`` if typical is unknown."""
        typical = np.maximum(interval, self.min_interval)
        return np.where(count >= 2, np.minimum(self.k * typical, self.max_age), self.max_age)

    def _score(self, age: F64, threshold: F64) -> F64:
        return ratio_to_score((np.maximum(age, 0.0) / threshold) ** 4)

    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        st, rows, valid = self.state, b.rows, b.valid
        count_before = st["count"][rows] + b.count_before(valid)
        prev_ts = b.prev_valid_ts(st["last_ts"][rows])
        gap = np.where(count_before > 0, np.maximum(b.ts - prev_ts, 0.0), np.nan)
        learn = valid & (count_before > 0)
        # the n-th gap gets weight max(alpha, 1/n)
        w = np.where(learn, np.maximum(self.alpha, 1.0 / np.maximum(count_before, 1)), 0.0)
        i0 = st["interval"][rows]
        interval = affine_scan(b, 1.0 - w, w * np.where(learn, gap, 0.0), i0)
        pre = b.prev(interval, i0)
        thr = self.threshold(pre, count_before)
        live = valid & (count_before >= max(self.warmup, 1))
        score = np.where(live, self._score(gap, thr), 0.0)
        scatter_last(b, st["interval"], interval)
        self._advance(b, count_before, valid, prev_ts)
        return score, {
            "gap_seconds": np.where(valid, gap, np.nan),
            "typical_seconds": np.where(valid & (count_before >= 2), pre, np.nan),
        }

    def check(self, now: float) -> StaleReport:
        """Which series have been silent too long at event time ``now``."""
        n = self.n_series
        count, last, interval = (self.state[k][:n] for k in ("count", "last_ts", "interval"))
        age = np.where(count > 0, now - last, np.nan)
        thr = self.threshold(interval, count)
        stale = (count > 0) & (age > thr)
        score = np.where(count >= max(self.warmup, 1), self._score(age, thr), 0.0)
        return StaleReport(age, thr, stale, np.where(np.isnan(score), 0.0, score))
