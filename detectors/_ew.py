"""Exponentially weighted mean and variance with time-based decay, batched.

Per valid point ``x`` at time ``t`` (``dt`` = time since the series' previous
valid point, clamped at 0)::

    alpha = max(1 - 2 ** (-dt / halflife), 1 / (n + 1))

where ``n`` is the number of points seen before (so the first point sets the
mean and early points are averaged plainly until the time decay takes over),
    var   = (1 - alpha) * (var + alpha * (x - mean) ** 2)
    mean  = (1 - alpha) * mean + alpha * x

and a long gap forgets the past in proportion to the time that went by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors._segments import Batch, affine_scan, scatter_last

F64 = NDArray[np.float64]
LN2 = 0.6931471805599453


@dataclass
class EWPass:
    alpha: F64
    count_before: NDArray[np.int64]
    prev_ts: F64
    pre_mean: F64
    pre_var: F64
    post_mean: F64
    post_var: F64


def ew_pass(b: Batch, state: dict[str, NDArray[Any]], halflife: float) -> EWPass:
    """Run the EW mean/var recurrences over a sorted batch (state is not written)."""
    rows = b.rows
    count_before = state["count"][rows]
    if b.maxlen > 1:
        count_before += b.count_before(b.valid)
    prev_ts = b.prev_valid_ts(state["last_ts"][rows])
    # alpha = max(1 - 2 ** (-dt / halflife), 1 / (n + 1)), computed in place
    alpha = np.subtract(b.ts, prev_ts)
    np.maximum(alpha, 0.0, out=alpha)
    alpha *= -LN2 / halflife
    np.expm1(alpha, out=alpha)
    np.negative(alpha, out=alpha)
    floor = count_before + 1.0
    np.reciprocal(floor, out=floor)
    np.fmax(alpha, floor, out=alpha)
    if b.all_valid:
        x = b.value
    else:
        alpha[~b.valid] = 0.0
        x = np.where(b.valid, b.value, 0.0)
    keep = 1.0 - alpha
    mean0 = state["mean"][rows]
    post_mean = affine_scan(b, keep, alpha * x, mean0)
    pre_mean = b.prev(post_mean, mean0)
    dev = x - pre_mean
    dev *= dev
    dev *= alpha
    dev *= keep
    var0 = state["var"][rows]
    post_var = affine_scan(b, keep, dev, var0)
    pre_var = b.prev(post_var, var0)
    return EWPass(alpha, count_before, prev_ts, pre_mean, pre_var, post_mean, post_var)


def ew_commit(b: Batch, state: dict[str, NDArray[Any]], p: EWPass) -> None:
    """Write the batch's final EW state back (the ``count``/``last_ts``/``mean``/``var`` fields)."""
    scatter_last(b, state["mean"], p.post_mean)
    scatter_last(b, state["var"], p.post_var)
    if b.all_valid:
        scatter_last(b, state["count"], p.count_before + 1)
        scatter_last(b, state["last_ts"], b.ts)
    else:
        scatter_last(b, state["count"], p.count_before + b.valid)
        scatter_last(b, state["last_ts"], np.where(b.valid, b.ts, p.prev_ts))


def scale_floor(mean: F64, var: F64, abs_floor: float, rel_floor: float) -> F64:
    """Standard deviation with a floor, so flat stretches don't turn noise into alarms."""
    floor = np.abs(mean)
    floor *= rel_floor
    np.maximum(floor, abs_floor, out=floor)
    sd = np.maximum(var, 0.0)
    np.sqrt(sd, out=sd)
    return np.maximum(sd, floor, out=sd)
