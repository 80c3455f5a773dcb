"""Scoring a backtest against labelled windows: alert episodes, detection, lead times,
false alarms (``docs/QUALITY.md``, section "Simulated scenarios").

* An **alert episode** on a series is a maximal period during which at least
  one of the series' *scored routes* has a warning firing (trend and level
  routes; staleness and the composite index are reported, not scored);
  episodes less than ``merge_gap_s`` (1 day) apart are one episode.
* A labelled window ``[onset, end]`` of series ``S`` is **detected** when an
  episode of ``S`` overlaps ``[onset - tolerance, end]`` (tolerance 3 days:
  a warning just before the labelled onset is early, not false). Its **first
  warning** is the start of the first such episode; **lead from onset** is
  ``first warning - onset`` (negative: before the onset) and **lead to limit**
  is ``limit crossed - first warning`` (positive: warned before the crossing).
* A **false alarm** is an episode of a scored series that overlaps no
  ``[onset - tolerance, end + tolerance]`` of that series' windows.
  False alarms per series per 90 days = false alarms / (scored series x
  scenario days / 90).
* Windows are inherited where the label file has none for a series: a
  terminal series ``family|P|T`` takes the windows of ``family|P``, a region
  series those of its ports, a port series those of its region.
* Scored series: every series of a watched family (``vessels_waiting``,
  ``dwell_truck_p90``, ``dwell_rail_p90``, ``days_of_supply``) that appears in
  the features, for the families the label file has windows for.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from streams.detection import AlertTransition
from streams.features import FeaturePoints
from streams.labels import Window
from streams.series import SeriesKey, family_of
from streams.times import DAY, iso_or_none

#: families scored against labels, and the routes whose warnings count for them
SCORED_ROUTES: dict[str, tuple[str, ...]] = {
    "vessels_waiting": ("queue_trend", "queue_level"),
    "dwell_truck_p90": ("dwell_truck_trend",),
    "dwell_rail_p90": ("dwell_rail_trend",),
    "days_of_supply": ("supply_trend",),
}
TOLERANCE_S = 3 * DAY
MERGE_GAP_S = 1 * DAY

__all__ = [
    "MERGE_GAP_S",
    "SCORED_ROUTES",
    "TOLERANCE_S",
    "LevelLead",
    "Metrics",
    "WindowResult",
    "episodes_by_series",
    "level_lead",
    "related_series",
    "score_windows",
    "scored_series",
    "windows_of",
]


def episodes_by_series(
    alerts: Iterable[AlertTransition],
    end_s: float,
    routes: Mapping[str, Sequence[str]] = SCORED_ROUTES,
    merge_gap_s: float = MERGE_GAP_S,
) -> dict[str, list[tuple[float, float]]]:
    """AlertTransition episodes (start, end) per series from firing/resolved transitions of the
    scored routes (warning severity); an alert still firing ends at ``end_s``."""
    open_: dict[str, float] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for a in sorted(alerts, key=lambda a: (a.ts, a.state != "resolved")):
        if a.severity != "warning" or a.detector not in routes.get(family_of(a.series), ()):
            continue
        if a.state == "firing":
            open_[a.key] = a.ts
        elif a.key in open_:
            spans.setdefault(a.series, []).append((open_.pop(a.key), a.ts))
    for key, t0 in open_.items():
        series = next(a.series for a in alerts if a.key == key)
        spans.setdefault(series, []).append((t0, end_s))
    out: dict[str, list[tuple[float, float]]] = {}
    for series, sp in spans.items():
        merged: list[list[float]] = []
        for a0, a1 in sorted(sp):
            if merged and a0 <= merged[-1][1] + merge_gap_s:
                merged[-1][1] = max(merged[-1][1], a1)
            else:
                merged.append([a0, a1])
        out[series] = [(m[0], m[1]) for m in merged]
    return out


@dataclass
class WindowResult:
    """One labelled window, scored: detected or not, its first warning and lead times."""

    series: str
    kind: str
    onset: float
    end: float
    limit_crossed: float | None
    detected: bool
    first_warning: float | None
    lead_from_onset_days: float | None
    lead_to_limit_days: float | None
    observed: bool = True
    """False when the features never contained the series (not counted in recall)."""

    def as_dict(self) -> dict[str, Any]:
        """Fields, times as ISO 8601 text (JSON)."""
        d = asdict(self)
        for k in ("onset", "end", "limit_crossed", "first_warning"):
            d[k] = iso_or_none(d[k])
        return d


def related_series(key: str, region_of: Mapping[str, str]) -> list[str]:
    """Series whose windows ``key`` inherits when it has none of its own: a terminal's
    port, a port's region, a region's ports (``region_of`` maps ports to regions).

    >>> related_series("dwell_truck_p90|USLAX|APMT", {"USLAX": "spb"})
    ['dwell_truck_p90|USLAX']
    >>> related_series("vessels_waiting|spb", {"USLAX": "spb", "USLGB": "spb"})
    ['vessels_waiting|USLAX', 'vessels_waiting|USLGB']
    """
    k = SeriesKey.parse(key)
    if len(k.fields) == 2:
        return [SeriesKey(k.family, k.fields[:1]).key]
    if len(k.fields) != 1:
        return []
    x = k.fields[0]
    if x in region_of:
        return [SeriesKey(k.family, (region_of[x],)).key]
    return [SeriesKey(k.family, (p,)).key for p, r in sorted(region_of.items()) if r == x]


def windows_of(
    key: str, by_series: Mapping[str, list[Window]], region_of: Mapping[str, str]
) -> tuple[list[Window], str | None]:
    """The windows of ``key``: its own, else those of the nearest related series that has
    some (one or two steps of :func:`related_series`), with that series' key."""
    own = by_series.get(key)
    if own:
        return own, None
    for rel in related_series(key, region_of):
        if by_series.get(rel):
            return by_series[rel], rel
        for rel2 in related_series(rel, region_of):
            if rel2 != key and by_series.get(rel2):
                return by_series[rel2], rel2
    return [], None


@dataclass
class Metrics:
    """The pooled figures of a backtest, overall and by family."""

    windows: int
    """Labelled windows on series the features contain (``unobserved`` others)."""
    detected: int
    recall: float
    scored_series: int
    false_alarms: int
    days: float
    false_alarms_per_series_per_90d: float
    max_false_alarms_per_series_per_90d: float
    by_family: dict[str, dict[str, float]]
    median_lead_from_onset_days: float | None
    median_lead_to_limit_days: float | None
    unobserved: int = 0


def scored_series(keys: Iterable[str], windows: Iterable[Window]) -> list[str]:
    """The series a false alarm counts on: those of ``keys`` in a :data:`SCORED_ROUTES`
    family that has labelled windows.

    >>> w = Window("vessels_waiting|P", "queue_buildup", 0.0, 1.0, None)
    >>> scored_series(["vessels_waiting|Q", "dwell_truck_p90|P", "wait_p90|P"], [w])
    ['vessels_waiting|Q']
    """
    fams = {family_of(w.series) for w in windows}
    return [k for k in keys if family_of(k) in SCORED_ROUTES and family_of(k) in fams]


def score_windows(
    windows: Sequence[Window],
    episodes: Mapping[str, list[tuple[float, float]]],
    scored: Sequence[str],
    start_s: float,
    end_s: float,
    region_of: Mapping[str, str] | None = None,
    tolerance_s: float = TOLERANCE_S,
    observed: Collection[str] | None = None,
) -> tuple[list[WindowResult], dict[str, int], Metrics]:
    """Detection, lead times and false alarms (see the module docstring).

    ``observed``: the series keys present in the features (default: every window's
    series); windows on other series are reported but left out of the recall.
    """
    region_of = region_of or {}
    by_series: dict[str, list[Window]] = {}
    for w in windows:
        by_series.setdefault(w.series, []).append(w)
    results = []
    for w in windows:
        eps = [
            e for e in episodes.get(w.series, []) if e[1] >= w.onset - tolerance_s and e[0] <= w.end
        ]
        first = min((e[0] for e in eps), default=None)
        results.append(
            WindowResult(
                w.series,
                w.kind,
                w.onset,
                w.end,
                w.limit_crossed,
                bool(eps),
                first,
                None if first is None else (first - w.onset) / DAY,
                None
                if first is None or w.limit_crossed is None
                else (w.limit_crossed - first) / DAY,
                observed is None or w.series in observed,
            )
        )
    all_results, results = results, [r for r in results if r.observed]
    false: dict[str, int] = {}
    for key in scored:
        wins, _ = windows_of(key, by_series, region_of)
        n = 0
        for e0, e1 in episodes.get(key, []):
            if not any(e1 >= w.onset - tolerance_s and e0 <= w.end + tolerance_s for w in wins):
                n += 1
        false[key] = n
    days = max((end_s - start_s) / DAY, 1e-9)
    per = {k: v / (days / 90.0) for k, v in false.items()}
    fams = sorted({family_of(k) for k in scored} | {family_of(w.series) for w in windows})
    by_family: dict[str, dict[str, float]] = {}
    for f in fams:
        rs = [r for r in results if family_of(r.series) == f]
        ks = [k for k in scored if family_of(k) == f]
        fa = sum(false[k] for k in ks)
        by_family[f] = {
            "windows": len(rs),
            "detected": sum(r.detected for r in rs),
            "recall": sum(r.detected for r in rs) / len(rs) if rs else math.nan,
            "series": len(ks),
            "false_alarms": fa,
            "false_alarms_per_series_per_90d": fa / (len(ks) * days / 90.0) if ks else math.nan,
        }
    leads = [r.lead_from_onset_days for r in results if r.lead_from_onset_days is not None]
    limit_leads = [r.lead_to_limit_days for r in results if r.lead_to_limit_days is not None]
    total_fa = sum(false.values())
    metrics = Metrics(
        windows=len(results),
        detected=sum(r.detected for r in results),
        recall=sum(r.detected for r in results) / len(results) if results else math.nan,
        scored_series=len(scored),
        false_alarms=total_fa,
        days=days,
        false_alarms_per_series_per_90d=total_fa / (len(scored) * days / 90.0)
        if scored
        else math.nan,
        max_false_alarms_per_series_per_90d=max(per.values(), default=0.0),
        by_family=by_family,
        median_lead_from_onset_days=float(np.median(leads)) if leads else None,
        median_lead_to_limit_days=float(np.median(limit_leads)) if limit_leads else None,
        unobserved=len(all_results) - len(results),
    )
    return all_results, false, metrics


@dataclass
class LevelLead:
    """First warning on ``series`` against the first time its value reaches ``level``."""

    series: str
    level: float
    reached: float | None
    first_warning: float | None
    lead_days: float | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reached"] = iso_or_none(self.reached)
        d["first_warning"] = iso_or_none(self.first_warning)
        return d


def level_lead(
    points: FeaturePoints,
    series: str,
    level: float,
    episodes: Mapping[str, list[tuple[float, float]]],
    after: float | None = None,
) -> LevelLead:
    """Lead of the first warning (the first alert episode of ``series`` ending after
    ``after``) before the first interval whose value reaches ``level`` (the interval's
    end time; the first single point counts, the strictest reading of "passes")."""
    m = points.key == series.encode()
    t = points.end_s[m].astype(np.float64)
    v = points.value[m]
    hit = np.flatnonzero(v >= level)
    reached = float(t[hit[0]]) if hit.size else None
    starts = [e[0] for e in episodes.get(series, []) if after is None or e[1] >= after]
    if reached is not None:
        starts = [s for s in starts if s <= reached]
    first = min(starts, default=None)
    lead = None if first is None or reached is None else (reached - first) / DAY
    return LevelLead(series, level, reached, first, lead)
