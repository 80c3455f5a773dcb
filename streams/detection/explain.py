"""The sentence an operator reads: a policy transition explained in series units."""

from __future__ import annotations

import math

from detectors import Transition
from streams.detection.outputs import AlertTransition
from streams.times import DAY, iso


def explain(tr: Transition, limit: float, value: float, expected: float) -> AlertTransition:
    """The transition with its values in series units and the sentence an operator reads:
    value against baseline and limit, and for an early warning the projected crossing
    with its interval."""
    crossing = tr.ts + tr.eta_seconds if math.isfinite(tr.eta_seconds) else math.nan
    seen = f"{tr.detector} score {tr.score:.2f}" + (f", {tr.kind}" if tr.kind else "")
    text = (
        f"{tr.series}: {tr.severity} {tr.state} since {iso(tr.since)} "
        f"({seen}): value {value:.4g}"
    )
    if math.isfinite(expected):
        text += f" vs baseline {expected:.4g}"
    if math.isfinite(limit):
        text += f", limit {limit:g}"
    if math.isfinite(crossing):
        lo = tr.ts + tr.eta_lower if math.isfinite(tr.eta_lower) else math.nan
        hi = tr.ts + tr.eta_upper if math.isfinite(tr.eta_upper) else math.nan
        if tr.eta_seconds <= 0:
            text += "; limit already crossed"
        else:
            text += (
                f"; limit projected at {iso(crossing)} (in {tr.eta_seconds / DAY:.1f} d;"
                f" {iso(lo) if math.isfinite(lo) else '?'} .. "
                f"{iso(hi) if math.isfinite(hi) else 'beyond horizon'})"
            )
    return AlertTransition(
        key=tr.key,
        state=tr.state,
        series=tr.series,
        detector=tr.detector,
        severity=tr.severity,
        ts=tr.ts,
        since=tr.since,
        value=float(value),
        expected=float(expected),
        score=tr.score,
        limit=float(limit),
        eta_seconds=tr.eta_seconds,
        eta_lower=tr.eta_lower,
        eta_upper=tr.eta_upper,
        crossing_ts=crossing,
        explanation=text,
        kind=tr.kind,
    )
