"""Scoring a backtest against labelled windows: alert episodes, detection, lead times,
false alarms, and the alert load per series (``docs/QUALITY.md``, section "Simulated
scenarios").

* An **alert episode** on a series is a maximal period during which at least
  one of the series' *scored routes* has a warning firing (trend and level
  routes; staleness and the composite index are reported, not scored);
  episodes less than ``merge_gap_s`` (1 day) apart are one episode.
* A labelled window ``[onset, end]`` of series ``S`` is **detected** when an
  episode of ``S`` overlaps ``[onset - tolerance, end]`` (tolerance 3 days:
  a warning just before the labelled onset is early, not false). Its **first
  warning** is the start of the first such episode; **lead from onset** is
  ``first warning - onset`` (negative: before the onset).
* A **warning in force** at a time ``t`` (:func:`warning_in_force`): the
  series' episodes are chained where one starts at most ``renew_gap_s`` (3
  days) after the previous one ends (a warning renewed without a longer gap
  is the same warning); the chain with ``start <= t <= end`` is in force at
  ``t`` (an open episode ends at the end of the run). **Lead to limit** is
  ``limit crossed - start of the chain in force at the crossing`` (none when
  no warning is in force then: a warning that ended days before the crossing,
  or came after it, gave no lead); the lead before a level
  (:func:`level_lead`) is measured the same way.
* A **false alarm** is an episode of a scored series that overlaps no
  ``[onset - tolerance, end + tolerance]`` of that series' windows.
  False alarms per series per 90 days = false alarms / (scored series x
  scenario days / 90).
* The **alert load** (:func:`alert_load`, labels aside): every firing
  transition of every route, per series per 90 days (mean over the series
  that fired, and the largest), the series that fired twice within 30 days,
  and the worst flappers (most firings, their routes, the shortest gap).
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
from streams.series import SeriesKey, family_of, place_key
from streams.times import DAY, iso_or_none

#: families scored against labels, and the routes whose warnings count for them
SCORED_ROUTES: dict[str, tuple[str, ...]] = {
    "vessels_waiting": ("queue_trend", "changes"),
    "dwell_truck_p90": ("dwell_truck_trend", "changes"),
    "dwell_rail_p90": ("dwell_rail_trend", "changes"),
    "days_of_supply": ("supply_trend",),
}
TOLERANCE_S = 3 * DAY
MERGE_GAP_S = 1 * DAY
#: a warning renewed at most this long after the previous one ended is still in force
RENEW_GAP_S = 3 * DAY

__all__ = [
    "MERGE_GAP_S",
    "REFIRE_S",
    "RENEW_GAP_S",
    "SCORED_ROUTES",
    "TOLERANCE_S",
    "AlertLoad",
    "Flapper",
    "LevelLead",
    "Metrics",
    "WindowResult",
    "alert_load",
    "episodes_by_series",
    "level_lead",
    "related_series",
    "score_windows",
    "scored_series",
    "warning_chains",
    "warning_in_force",
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


def warning_chains(
    episodes: Iterable[tuple[float, float]], renew_gap_s: float = RENEW_GAP_S
) -> list[tuple[float, float]]:
    """Episodes ``(start, end)`` chained where one starts at most ``renew_gap_s`` after the
    previous one ended (a renewed warning): ``(start of the first, end of the last)``.

    >>> [(a / DAY, b / DAY) for a, b in warning_chains([(0, DAY), (3 * DAY, 4 * DAY),
    ...                                                 (8 * DAY, 9 * DAY)])]
    [(0.0, 4.0), (8.0, 9.0)]
    """
    chains: list[list[float]] = []
    for a0, a1 in sorted(episodes):
        if chains and a0 - chains[-1][1] <= renew_gap_s:
            chains[-1][1] = max(chains[-1][1], a1)
        else:
            chains.append([a0, a1])
    return [(c[0], c[1]) for c in chains]


def warning_in_force(
    episodes: Iterable[tuple[float, float]], at: float, renew_gap_s: float = RENEW_GAP_S
) -> float | None:
    """The start of the warning in force at ``at``: of the chain of :func:`warning_chains`
    with ``start <= at <= end`` (an open episode may end at ``math.inf``); None when no
    warning is in force then.

    >>> eps = [(0.0, DAY), (3 * DAY, 4 * DAY)]  # renewed after a 2-day gap
    >>> warning_in_force(eps, 3.5 * DAY), warning_in_force(eps, 10 * DAY)
    (0.0, None)
    """
    for start, end in warning_chains(episodes, renew_gap_s):
        if start <= at <= end:
            return start
    return None


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
    """``limit_crossed - warning_at_limit``: None without a warning in force then."""
    observed: bool = True
    """False when the features never contained the series (not counted in recall)."""
    warning_at_limit: float | None = None
    """Start of the warning in force when the limit was crossed (:func:`warning_in_force`)."""

    def as_dict(self) -> dict[str, Any]:
        """Fields, times as ISO 8601 text (JSON)."""
        d = asdict(self)
        for k in ("onset", "end", "limit_crossed", "first_warning", "warning_at_limit"):
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
    members = [w for k, ws in by_series.items() if k.startswith(key + "|") for w in ws]
    if members:  # a site's or port's alert answers for the windows of its items
        return sorted(members, key=lambda w: w.onset), None
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
    """Over the windows with a warning in force at their limit crossing."""
    unobserved: int = 0
    limit_crossings: int = 0
    """Observed windows whose label has a limit crossing."""
    warned_at_limit: int = 0
    """Of those, the windows with a warning in force at the crossing (a lead to limit)."""


def scored_series(keys: Iterable[str], windows: Iterable[Window]) -> list[str]:
    """The series a false alarm counts on: the places (``family|place``, what the
    pipeline alerts on; an item or terminal series counts as its site or port) of ``keys``
    in a :data:`SCORED_ROUTES` family that has labelled windows.

    >>> w = Window("vessels_waiting|P", "queue_buildup", 0.0, 1.0, None)
    >>> scored_series(["vessels_waiting|Q", "dwell_truck_p90|P", "wait_p90|P"], [w])
    ['vessels_waiting|Q']
    >>> w = Window("days_of_supply|S1|A", "inventory_drawdown", 0.0, 1.0, None)
    >>> scored_series(["days_of_supply|S1|A", "days_of_supply|S1|B", "days_of_supply|S2|C"], [w])
    ['days_of_supply|S1', 'days_of_supply|S2']
    """
    fams = {family_of(w.series) for w in windows}
    places = {
        place_key(k) for k in keys if family_of(k) in SCORED_ROUTES and family_of(k) in fams
    }
    return sorted(places)



def score_windows(
    windows: Sequence[Window],
    episodes: Mapping[str, list[tuple[float, float]]],
    scored: Sequence[str],
    start_s: float,
    end_s: float,
    region_of: Mapping[str, str] | None = None,
    tolerance_s: float = TOLERANCE_S,
    observed: Collection[str] | None = None,
    renew_gap_s: float = RENEW_GAP_S,
) -> tuple[list[WindowResult], dict[str, int], Metrics]:
    """Detection, lead times and false alarms (see the module docstring).

    ``observed``: the series keys present in the features (default: every window's
    series); windows on other series are reported but left out of the recall.
    ``renew_gap_s``: the longest gap after which a warning is still the one in force
    (lead to limit, :func:`warning_in_force`).
    """
    region_of = region_of or {}
    by_series: dict[str, list[Window]] = {}
    for w in windows:
        by_series.setdefault(w.series, []).append(w)
    results = []
    for w in windows:
        # an item's or terminal's window is answered by its own alerts or its place's
        place = place_key(w.series)
        mine = sorted(episodes.get(w.series, []) + (
            episodes.get(place, []) if place != w.series else []
        ))
        eps = [e for e in mine if e[1] >= w.onset - tolerance_s and e[0] <= w.end]
        first = min((e[0] for e in eps), default=None)
        in_force = (
            None
            if w.limit_crossed is None
            else warning_in_force(mine, w.limit_crossed, renew_gap_s)
        )
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
                if in_force is None or w.limit_crossed is None
                else (w.limit_crossed - in_force) / DAY,
                observed is None or w.series in observed,
                in_force,
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
        limit_crossings=sum(r.limit_crossed is not None for r in results),
        warned_at_limit=len(limit_leads),
    )
    return all_results, false, metrics


@dataclass
class LevelLead:
    """The warning in force on ``series`` when its value first reaches ``level``.

    ``first_warning`` is the start of that warning (of its chain of renewals,
    :func:`warning_in_force`); ``lead_days`` is ``reached - first_warning``; both are
    None when the level is never reached or no warning is in force when it is.
    """

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
    renew_gap_s: float = RENEW_GAP_S,
) -> LevelLead:
    """Lead of the warning in force when ``series`` first reaches ``level``.

    The level is reached at the end time of the first interval whose value reaches it
    (the first single point counts, the strictest reading of "passes"). The lead is
    measured from the start of the warning still in force then, or renewed without a
    gap longer than ``renew_gap_s`` (:func:`warning_in_force`), not from the earliest
    episode: a warning that ended days before the crossing, or opened after it, gives
    no lead (None). Episodes of ``series`` ending before ``after`` are left out (a
    warning of an earlier disruption is no warning of this one).
    """
    m = points.key == series.encode()
    t = points.end_s[m].astype(np.float64)
    v = points.value[m]
    hit = np.flatnonzero(v >= level)
    reached = float(t[hit[0]]) if hit.size else None
    eps = [e for e in episodes.get(series, []) if after is None or e[1] >= after]
    first = None if reached is None else warning_in_force(eps, reached, renew_gap_s)
    lead = None if first is None or reached is None else (reached - first) / DAY
    return LevelLead(series, level, reached, first, lead)


#: a series that fires again within this span is over the alert budget
REFIRE_S = 30 * DAY


@dataclass
class Flapper:
    """A series by its firings: how many, on which routes, the shortest gap between two."""

    series: str
    firings: int
    routes: tuple[str, ...]
    shortest_gap_days: float | None
    """Days between the two closest firings of the series (any route); None for one."""

    def as_dict(self) -> dict[str, Any]:
        """Fields (JSON)."""
        d = asdict(self)
        d["routes"] = list(self.routes)
        return d


@dataclass
class AlertLoad:
    """How often the alerts of a run fire per series: the operator's load.

    Every firing transition counts (any route and severity). The rates are firings per
    series per 90 days over the run's ``days``: the mean over the series that fired and
    the largest; ``refired_within_30d`` counts the series that fired twice (any route)
    within 30 days; ``worst`` lists the series with the most firings.
    """

    days: float
    firings: int
    series_fired: int
    mean_firings_per_series_per_90d: float
    max_firings_per_series_per_90d: float
    refired_within_30d: int
    worst: list[Flapper]

    def as_dict(self) -> dict[str, Any]:
        """Fields, the worst flappers as a list of dicts (JSON)."""
        d = asdict(self)
        d["worst"] = [f.as_dict() for f in self.worst]
        return d


def alert_load(
    alerts: Iterable[AlertTransition],
    start_s: float,
    end_s: float,
    top: int = 5,
    refire_s: float = REFIRE_S,
) -> AlertLoad:
    """Firings per series per 90 days over ``start_s`` .. ``end_s``, the series that fired
    again within ``refire_s`` (30 days), and the ``top`` series by firings (ties: the
    shorter gap between two firings first, then the key).

    >>> def fire(series: str, route: str, day: float) -> AlertTransition:
    ...     nan = float("nan")
    ...     return AlertTransition("k", "firing", series, route, "warning", day * DAY,
    ...                            day * DAY, 1.0, nan, 0.9, nan, nan, nan, nan, nan, "")
    >>> load = alert_load([fire("a", "x", 10), fire("a", "y", 25), fire("b", "x", 50)],
    ...                   0.0, 180 * DAY)
    >>> load.mean_firings_per_series_per_90d, load.max_firings_per_series_per_90d
    (0.75, 1.0)
    >>> load.refired_within_30d, load.worst[0]
    (1, Flapper(series='a', firings=2, routes=('x', 'y'), shortest_gap_days=15.0))
    """
    times: dict[str, list[float]] = {}
    routes: dict[str, set[str]] = {}
    for a in alerts:
        if a.state == "firing":
            times.setdefault(a.series, []).append(a.ts)
            routes.setdefault(a.series, set()).add(a.detector)
    days = max((end_s - start_s) / DAY, 1e-9)
    flappers = []
    for series, ts in times.items():
        gaps = np.diff(np.sort(np.asarray(ts, dtype=np.float64)))
        gap = float(gaps.min()) / DAY if gaps.size else None
        flappers.append(Flapper(series, len(ts), tuple(sorted(routes[series])), gap))
    flappers.sort(
        key=lambda f: (
            -f.firings,
            math.inf if f.shortest_gap_days is None else f.shortest_gap_days,
            f.series,
        )
    )
    counts = [f.firings for f in flappers]
    return AlertLoad(
        days=days,
        firings=sum(counts),
        series_fired=len(counts),
        mean_firings_per_series_per_90d=sum(counts) / len(counts) / (days / 90.0)
        if counts
        else 0.0,
        max_firings_per_series_per_90d=max(counts, default=0) / (days / 90.0),
        refired_within_30d=sum(
            f.shortest_gap_days is not None and f.shortest_gap_days * DAY < refire_s
            for f in flappers
        ),
        worst=flappers[:top],
    )
