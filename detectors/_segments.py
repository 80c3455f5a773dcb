"""Batch grouping and segmented scans shared by the detectors.

A batch is sorted stably by series (16-bit radix passes), so each series'
points form one contiguous segment in their original order. Recurrences of
the form ``y_i = a_i * y_{i-1} + b_i`` (exponential smoothing) and
``y_i = max(c_i, y_{i-1} + d_i)`` (CUSUM) are then solved for all segments at
once:

* when no series has more than ``SEQUENTIAL_MAXLEN`` points in the batch,
  position by position (all first points, then all second points, ...),
  which performs exactly the per-event arithmetic;
* otherwise (skewed batches) by composing the per-point maps with a doubling
  (Hillis-Steele) scan: ``log2(longest segment)`` vectorized steps, exact up
  to floating-point reassociation (about 1e-15 relative).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass
class Batch:
    """A batch sorted by series (stable): ``rows``, ``ts``, ``value`` are sorted."""

    rows: I64
    ts: F64
    value: F64
    valid: NDArray[np.bool_]
    all_valid: bool
    order: I64 | None  # sorted position -> input position; None if already sorted
    first: I64  # sorted index of the first point of each point's segment
    pos: I64  # position of each point inside its segment
    starts: I64  # sorted indices of segment starts
    lasts: I64  # sorted indices of segment ends
    maxlen: int  # longest segment
    #: index arrays derived on demand: "levels", "level_ends", "last_rows", shift distances
    _cache: dict[str | int, I64] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rows)

    def unsort(self, x: NDArray[Any]) -> NDArray[Any]:
        if self.order is None:
            return x
        out = np.empty_like(x)
        out[self.order] = x
        return out

    def prev(self, x: NDArray[Any], initial: NDArray[Any]) -> NDArray[Any]:
        """Value at the previous point of the same segment, ``initial`` for the first."""
        if self.maxlen <= 1:
            return initial
        out = np.empty_like(x)
        out[1:] = x[:-1]
        out[self.starts] = initial[self.starts]
        return out

    def count_before(self, mask: NDArray[np.bool_]) -> I64:
        """Number of ``mask`` points earlier in the same segment."""
        if self.maxlen <= 1:
            return np.zeros(self.n, dtype=np.int64)
        if self.all_valid and mask is self.valid:
            return self.pos
        c = np.cumsum(mask, dtype=np.int64)
        excl = c - mask
        return excl - excl[self.first]

    def rounds(self) -> Iterator[I64]:
        """Positions of the valid points a round at a time: round ``k`` holds the ``k``-th
        valid point of every series in the batch (so each series at most once per round),
        for updates whose every step depends on the series' state after the one before."""
        vidx = np.flatnonzero(self.valid)
        rank = self.count_before(self.valid)[vidx]
        order = np.argsort(rank, kind="stable")
        bounds = np.searchsorted(rank[order], np.arange(int(rank.max(initial=-1)) + 2))
        for k in range(len(bounds) - 1):
            yield vidx[order[bounds[k] : bounds[k + 1]]]

    def prev_valid_ts(self, state_last_ts: F64) -> F64:
        """Timestamp of the previous valid point of the series (state value if none)."""
        if self.all_valid:
            return self.prev(self.ts, state_last_ts)
        idx = np.where(self.valid, np.arange(self.n), -1)
        last = np.maximum.accumulate(idx) if self.n else idx
        before = np.empty_like(last)
        if self.n:
            before[0] = -1
            before[1:] = last[:-1]
        inseg = before >= self.first
        return np.where(inseg, self.ts[np.maximum(before, 0)], state_last_ts)


def stable_argsort(rows: I64) -> I64:
    """Stable argsort of non-negative row numbers by 16-bit radix passes (numpy's
    stable sort is a radix sort for 16-bit keys, several times faster than for int64)."""
    top = int(rows.max()) if len(rows) else 0
    order = np.argsort(rows.astype(np.uint16), kind="stable")
    shift = 16
    while top >> shift:
        digit = ((rows[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def make_batch(series: ArrayLike, ts: ArrayLike, value: ArrayLike) -> Batch:
    rows = np.asarray(series, dtype=np.int64).ravel()
    t = np.asarray(ts, dtype=np.float64).ravel()
    v = np.asarray(value, dtype=np.float64).ravel()
    n = len(rows)
    if not (n == len(t) == len(v)):
        raise ValueError("series, ts and value must have the same length")
    if n and rows.min() < 0:
        raise ValueError("series rows must be >= 0")
    if not np.isfinite(t).all():
        raise ValueError("timestamps must be finite")
    order: I64 | None = None
    if n > 1 and (rows[1:] < rows[:-1]).any():
        order = stable_argsort(rows)
        rows, t, v = rows[order], t[order], v[order]
    valid = ~np.isnan(v)
    idx = np.arange(n, dtype=np.int64)
    if n > 1:
        change = np.flatnonzero(rows[1:] != rows[:-1])
        starts = np.concatenate(([0], change + 1))
        lasts = np.concatenate((change, [n - 1]))
    else:
        starts = lasts = idx
    if len(starts) == n:
        first, pos, maxlen = idx, np.zeros(n, dtype=np.int64), min(n, 1)
    else:
        first = np.repeat(starts, lasts - starts + 1)
        pos = idx - first
        maxlen = int((lasts - starts).max()) + 1
    return Batch(rows, t, v, valid, bool(valid.all()), order, first, pos, starts, lasts, maxlen)


#: longest segment solved point by point; longer ones use the doubling scan
SEQUENTIAL_MAXLEN = 32


def _levels(b: Batch) -> list[I64]:
    """Sorted indices of the points at position 1, 2, ... of their segments."""
    got = b._cache.get("levels")
    if got is None:
        b._cache["levels"] = got = np.argsort(b.pos.astype(np.uint16), kind="stable")
        b._cache["level_ends"] = np.cumsum(np.bincount(b.pos, minlength=b.maxlen))
    ends = b._cache["level_ends"]
    return [got[ends[k - 1] : ends[k]] for k in range(1, b.maxlen)]


def _shift_pairs(b: Batch, d: int) -> I64:
    """Sorted indices of points with a point ``d`` places earlier in their segment."""
    got = b._cache.get(d)
    if got is None:
        prev = b._cache.get(d // 2)
        got = np.flatnonzero(b.pos >= d) if prev is None else prev[b.pos[prev] >= d]
        b._cache[d] = got
    return got


def affine_scan(b: Batch, a: F64, c: F64, y0: F64) -> F64:
    """Inclusive solution of ``y_i = a_i * y_{i-1} + c_i`` per segment, ``y_{-1} = y0``."""
    if b.maxlen <= 1:
        return a * y0 + c
    if b.maxlen <= SEQUENTIAL_MAXLEN:
        y = a * y0  # right for segment starts; the others are overwritten level by level
        y += c
        for i in _levels(b):
            y[i] = a[i] * y[i - 1] + c[i]
        return y
    A, C = a.copy(), c.copy()
    d = 1
    while d < b.maxlen:
        i = _shift_pairs(b, d)
        j = i - d
        ai = A[i]
        C[i] = ai * C[j] + C[i]
        A[i] = ai * A[j]
        d *= 2
    return A * y0 + C


def affine_scan2(
    b: Batch, m: tuple[F64, F64, F64, F64], c: tuple[F64, F64], y0: tuple[F64, F64]
) -> tuple[F64, F64]:
    """Two-dimensional version: ``y_i = M_i @ y_{i-1} + c_i`` (M given row-major)."""
    if b.maxlen <= SEQUENTIAL_MAXLEN:
        u = m[0] * y0[0] + m[1] * y0[1] + c[0]
        w = m[2] * y0[0] + m[3] * y0[1] + c[1]
        for i in _levels(b):
            p0, p1 = u[i - 1], w[i - 1]
            u[i] = m[0][i] * p0 + m[1][i] * p1 + c[0][i]
            w[i] = m[2][i] * p0 + m[3][i] * p1 + c[1][i]
        return u, w
    m00, m01, m10, m11 = (x.copy() for x in m)
    c0, c1 = c[0].copy(), c[1].copy()
    d = 1
    while d < b.maxlen:
        i = _shift_pairs(b, d)
        j = i - d
        a00, a01, a10, a11 = m00[i], m01[i], m10[i], m11[i]
        n0 = a00 * c0[j] + a01 * c1[j] + c0[i]
        n1 = a10 * c0[j] + a11 * c1[j] + c1[i]
        c0[i], c1[i] = n0, n1
        p00, p01, p10, p11 = m00[j], m01[j], m10[j], m11[j]
        m00[i] = a00 * p00 + a01 * p10
        m01[i] = a00 * p01 + a01 * p11
        m10[i] = a10 * p00 + a11 * p10
        m11[i] = a10 * p01 + a11 * p11
        d *= 2
    return m00 * y0[0] + m01 * y0[1] + c0, m10 * y0[0] + m11 * y0[1] + c1


def maxplus_scan(b: Batch, c: F64, d: F64, y0: F64) -> F64:
    """Inclusive solution of ``y_i = max(c_i, y_{i-1} + d_i)`` per segment."""
    if b.maxlen <= SEQUENTIAL_MAXLEN:
        y = np.maximum(c, y0 + d)
        for i in _levels(b):
            y[i] = np.maximum(c[i], y[i - 1] + d[i])
        return y
    C, D = c.copy(), d.copy()
    k = 1
    while k < b.maxlen:
        i = _shift_pairs(b, k)
        j = i - k
        di = D[i]
        C[i] = np.maximum(C[i], C[j] + di)
        D[i] = D[j] + di
        k *= 2
    return np.maximum(C, y0 + D)


def scatter_last(b: Batch, target: NDArray[Any], values: NDArray[Any]) -> None:
    """Write each segment's last value into ``target[row]``."""
    if b.maxlen <= 1:
        target[b.rows] = values
    else:
        last_rows = b._cache.get("last_rows")
        if last_rows is None:
            last_rows = b._cache["last_rows"] = b.rows[b.lasts]
        target[last_rows] = values[b.lasts]
