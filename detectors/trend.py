"""Damped-trend (Holt) forecaster with the projected time until a limit is crossed."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from detectors._segments import Batch, affine_scan, affine_scan2, scatter_last
from detectors.base import Detector, FloatArray, ratio_to_score

F64 = NDArray[np.float64]


def damped_sum(phi: float, tau: F64) -> F64:
    """``D(tau) = phi + phi**2 + ... + phi**tau`` for real ``tau >= 0``."""
    if phi == 1.0:
        return np.asarray(tau, dtype=np.float64)
    return np.asarray(phi * -np.expm1(tau * math.log(phi)) / (1.0 - phi), dtype=np.float64)


def steps_to_cover(phi: float, gap: F64, slope: F64, max_steps: float) -> F64:
    """Steps ``h`` with ``slope * D(h) = gap`` (0 if ``gap <= 0``, inf if never or beyond max)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if phi == 1.0:
            h = gap / slope
        else:
            frac = 1.0 - gap * (1.0 - phi) / (slope * phi)
            h = np.log(frac) / math.log(phi)
        h = np.where((slope > 0) & np.isfinite(h) & (h >= 0) & (h <= max_steps), h, np.inf)
    return np.asarray(np.where(gap <= 0, 0.0, h), dtype=np.float64)


class DampedTrend(Detector):
    """Holt's damped-trend forecaster reporting the time until ``limit`` is crossed.

    Time is measured in steps of ``step`` seconds; after ``tau`` steps
    (irregular, possibly fractional) the forecast is
    ``f = level + trend * D(tau)`` with ``D`` the damped sum of ``phi``.
    Learning a valid point ``x`` (error-correction form, ``e = x - f``)::

        a = 1 - (1 - alpha) ** tau      (first point: level = x, trend = 0)
        level = f + a * e
        trend = phi ** tau * trend + alpha * beta * e / max(tau, 1)
        var = (1 - alpha) * var + alpha * e ** 2      (one-step error variance)

    The projection from the updated state crosses ``limit`` (``direction`` is
    ``"above"`` for a rising limit such as ships at anchor or dwell days,
    ``"below"`` for a falling one such as days of supply) after ``eta``
    seconds; ``eta_lower``/``eta_upper`` are the crossings of the projection
    shifted by ``z`` error standard deviations toward/away from the limit.
    ``inf`` means no crossing within ``max_horizon`` seconds, 0 means already
    crossed. The score is ``1 - 5 ** -(horizon / eta) ** 2`` (0.8 when the
    crossing is ``horizon`` seconds away, 1 once crossed).

    Extras: ``expected`` (forecast before learning the point), ``level``,
    ``trend`` (per step), ``eta_seconds``, ``eta_lower``, ``eta_upper``,
    ``crossing_ts`` (event time of the projected crossing).

    Ships at anchor growing by one a day towards the 55 anchorages:

    >>> det = DampedTrend(limit=55.0, step=86400.0, phi=1.0, horizon=14 * 86400.0, warmup=5)
    >>> days = np.arange(30.0)
    >>> r = det.update(np.zeros(30, dtype=np.int64), days * 86400.0, 20.0 + days)
    >>> round(float(r.eta_seconds[-1]) / 86400.0, 1)
    6.0
    >>> bool(r.eta_lower[-1] <= r.eta_seconds[-1] <= r.eta_upper[-1]), bool(r.score[-1] > 0.8)
    (True, True)
    """

    name = "trend"
    param_names = (
        "limit",
        "direction",
        "step",
        "alpha",
        "beta",
        "phi",
        "z",
        "horizon",
        "max_horizon",
    )
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "level": ("f8", 0.0),
        "trend": ("f8", 0.0),
        "var": ("f8", 0.0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
    }

    def __init__(
        self,
        limit: float = 55.0,
        direction: Literal["above", "below"] = "above",
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
        if direction not in ("above", "below"):
            raise ValueError("direction must be 'above' or 'below'")
        if not (0 < alpha <= 1 and 0 <= beta <= 1 and 0 < phi <= 1):
            raise ValueError("need 0 < alpha <= 1, 0 <= beta <= 1, 0 < phi <= 1")
        if step <= 0 or horizon <= 0 or max_horizon <= 0:
            raise ValueError("step, horizon and max_horizon must be > 0")
        self.limit, self.direction = float(limit), direction
        self.step, self.alpha, self.beta = float(step), float(alpha), float(beta)
        self.phi = float(phi)
        self.z, self.horizon, self.max_horizon = float(z), float(horizon), float(max_horizon)


    def eta(self, level: F64, trend: F64, sd: F64) -> tuple[F64, F64, F64]:
        """Seconds until the projection crosses the limit: (central, lower, upper)."""
        sign = 1.0 if self.direction == "above" else -1.0
        gap = sign * (self.limit - level)
        slope = sign * trend
        band = self.z * sd
        max_steps = self.max_horizon / self.step
        out = [
            steps_to_cover(self.phi, g, slope, max_steps) * self.step
            for g in (gap, gap - band, gap + band)
        ]
        return out[0], out[1], out[2]

    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        st, rows, valid = self.state, b.rows, b.valid
        count_before = st["count"][rows] + b.count_before(valid)
        prev_ts = b.prev_valid_ts(st["last_ts"][rows])
        first = count_before == 0
        tau = np.where(first, 0.0, np.maximum(b.ts - prev_ts, 0.0) / self.step)
        dsum = damped_sum(self.phi, tau)
        a = -np.expm1(tau * math.log1p(-self.alpha)) if self.alpha < 1 else np.ones(b.n)
        g = self.alpha * self.beta / np.maximum(tau, 1.0)
        carry = np.power(self.phi, tau)
        x = np.where(valid, b.value, 0.0)
        # (level, trend) <- M @ (level, trend) + c, with f = level + D * trend
        m00 = np.where(valid, np.where(first, 0.0, 1.0 - a), 1.0)
        m01 = np.where(valid, np.where(first, 0.0, (1.0 - a) * dsum), 0.0)
        m10 = np.where(valid, np.where(first, 0.0, -g), 0.0)
        m11 = np.where(valid, np.where(first, 0.0, carry - g * dsum), 1.0)
        c0 = np.where(valid, np.where(first, x, a * x), 0.0)
        c1 = np.where(valid & ~first, g * x, 0.0)
        l0, b0 = st["level"][rows], st["trend"][rows]
        level, trend = affine_scan2(b, (m00, m01, m10, m11), (c0, c1), (l0, b0))
        pre_level, pre_trend = b.prev(level, l0), b.prev(trend, b0)
        forecast = pre_level + dsum * pre_trend
        err = np.where(valid & ~first, x - forecast, 0.0)
        av = np.where(valid & ~first, self.alpha, 0.0)
        v0 = st["var"][rows]
        var = affine_scan(b, 1.0 - av, av * err * err, v0)
        eta, lo, hi = self.eta(level, trend, np.sqrt(var))
        live = valid & (count_before >= max(self.warmup, 1))
        with np.errstate(divide="ignore", over="ignore"):
            ratio = np.where(eta > 0, (self.horizon / eta) ** 2, np.inf)
        score = np.where(live, ratio_to_score(ratio), 0.0)
        scatter_last(b, st["level"], level)
        scatter_last(b, st["trend"], trend)
        scatter_last(b, st["var"], var)
        self._advance(b, count_before, valid, prev_ts)
        nan = np.full(b.n, np.nan)
        return score, {
            "expected": np.where(valid & ~first, forecast, nan),
            "level": np.where(valid, level, nan),
            "trend": np.where(valid, trend, nan),
            "eta_seconds": np.where(valid, eta, nan),
            "eta_lower": np.where(valid, lo, nan),
            "eta_upper": np.where(valid, hi, nan),
            "crossing_ts": np.where(valid, b.ts + eta, nan),
        }
