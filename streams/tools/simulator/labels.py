"""Labelled windows from the scenarios' planned curves (the label schema, reader and
writer are :mod:`streams.labels`).

>>> t = np.arange(10) * 86400.0
>>> v = np.array([1, 1, 6, 9, 12, 12, 8, 2, 1, 1.0])
>>> [(w.onset, w.end, w.limit_crossed) for w in windows_from_curve("s", "k", t, v, 5, 10, "d")]
[(172800.0, 604800.0, 345600.0)]
"""

from __future__ import annotations

import numpy as np

from streams.labels import Window
from streams.tools.simulator.calibration import DAY

__all__ = ["limit_time", "windows_from_curve"]


def limit_time(
    t: np.ndarray, values: np.ndarray, limit: float | None, lo: float, hi: float, above: bool = True
) -> float | None:
    """First time in [lo, hi] at which ``values`` reach ``limit`` (from above if not ``above``)."""
    if limit is None:
        return None
    sel = (t >= lo) & (t <= hi)
    hit = (values >= limit) if above else (values <= limit)
    idx = np.flatnonzero(sel & hit)
    return float(t[idx[0]]) if idx.size else None


def windows_from_curve(
    series: str,
    kind: str,
    t: np.ndarray,
    values: np.ndarray,
    onset_level: float,
    limit: float | None,
    description: str,
    *,
    above: bool = True,
    min_days: float = 3.0,
) -> list[Window]:
    """Windows where a planned (noise-free) curve is beyond ``onset_level``.

    A window still open at the end of ``t`` ends at the last time; its
    description says so.
    """
    beyond = values > onset_level if above else values < onset_level
    if not beyond.any():
        return []
    edges = np.diff(np.concatenate([[0], beyond.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    out = []
    for s, e in zip(starts.tolist(), stops.tolist(), strict=True):
        open_end = e >= t.size
        t0 = float(t[s])
        t1 = float(t[min(e, t.size - 1)])
        if t1 - t0 < min_days * DAY:
            continue
        desc = description + (" (still open at the end of the scenario)" if open_end else "")
        out.append(Window(series, kind, t0, t1, limit_time(t, values, limit, t0, t1, above), desc))
    return out
