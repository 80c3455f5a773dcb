"""The detection configuration: every parameter of every route, explicit.

Routes per series family, trend and policy parameters, limits per series (from the
geography), methodology changes. See :mod:`streams.detection` for what each route
does with them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from detectors import AlertPolicy, DampedTrend, Severity
from detectors.changes import Changes
from streams.geo import Geography
from streams.labels import Labels, load_labels
from streams.times import DAY, HOUR


@dataclass(frozen=True)
class PolicyParams:
    """Parameters of one :class:`~detectors.AlertPolicy` (see its docstring)."""

    fire: float = 0.8
    resolve: float = 0.5
    persistence: tuple[int, int] = (3, 4)
    resolve_after: int = 6
    cooldown_s: float = 2 * DAY
    """The quiet period: after an alert resolved, its series does not fire again on this
    route for this long (event time) unless it got clearly worse (``worse``)."""
    critical: tuple[float, float] | None = None
    """(fire, resolve) of a second, ``critical`` severity; None for warnings only."""
    worse: float | None = None
    """Clearly worse: the value (in the units the route's policy sees, ``value / limit``
    for limit routes) at least this far beyond the last episode's worst value fires
    again inside the quiet period; None: nothing does."""
    direction: float = 1.0
    """+1: a higher value is worse, -1: a lower one (days of supply)."""
    rearm: tuple[float, int] | None = None
    """(score, points): that many scores in a row below that score after an alert
    resolved (a clear recovery) end its quiet period early ..."""
    rearm_value: float | None = None
    """... or, when set, that many values in a row back on the good side of this one
    (limit routes: a share of the limit, the series back to normal)."""

    def build(self, detector: str) -> AlertPolicy:
        sev = [Severity("warning", self.fire, self.resolve)]
        if self.critical is not None:
            sev.append(Severity("critical", *self.critical))
        return AlertPolicy(
            detector,
            severities=sev,
            persistence=self.persistence,
            resolve_after=self.resolve_after,
            cooldown=self.cooldown_s,
            worse=self.worse,
            direction=self.direction,
            rearm=self.rearm,
            rearm_value=self.rearm_value,
        )


@dataclass(frozen=True)
class TrendParams:
    """A :class:`~detectors.DampedTrend` on ``value / limit`` against the limit 1.

    ``horizon_s``: the score reaches the warning threshold (0.8) when the
    projected crossing is this far away. ``step_s``: the time unit of the
    trend (per day). ``warmup`` counts points (hourly points for vessels).
    ``min_level``: below this fraction of the limit the score is withheld
    (a queue of 1 ship growing by 1 a day is not yet an early warning).
    """

    direction: str = "above"
    step_s: float = DAY
    alpha: float = 0.05
    beta: float = 0.05
    phi: float = 0.99
    z: float = 1.64
    horizon_s: float = 21 * DAY
    max_horizon_s: float = 180 * DAY
    warmup: int = 48
    min_level: float = 0.2

    def build(self) -> DampedTrend:
        return DampedTrend(
            limit=1.0,
            direction="above" if self.direction == "above" else "below",
            step=self.step_s,
            alpha=self.alpha,
            beta=self.beta,
            phi=self.phi,
            z=self.z,
            horizon=self.horizon_s,
            max_horizon=self.max_horizon_s,
            warmup=self.warmup,
        )


@dataclass(frozen=True)
class MethodologyChange:
    """From ``time_s`` on, the series matching ``series`` (exact keys or
    ``fnmatch`` patterns) are measured differently: re-baseline them."""

    time_s: float
    series: tuple[str, ...]
    description: str = ""

    def matches(self, key: str) -> bool:
        return any(key == p or fnmatch.fnmatchcase(key, p) for p in self.series)

    @classmethod
    def from_labels(cls, labels: Labels | Mapping[str, Any]) -> list[MethodologyChange]:
        """The ``counting_change`` events of labels (:mod:`streams.labels`), or of a
        ``labels.json`` document."""
        if not isinstance(labels, Labels):
            labels = load_labels(doc=labels)
        return [cls(e.time_s, e.series, e.description) for e in labels.changes]


#: the family each trend route watches, and the default limit if none is configured
TREND_ROUTES: dict[str, tuple[str, float]] = {
    "queue_trend": ("vessels_waiting", 55.0),
    "dwell_truck_trend": ("dwell_truck_p90", 9.0),
    "dwell_rail_trend": ("dwell_rail_p90", 3.0),
    "supply_trend": ("days_of_supply", 5.0),
}
#: the geography's limit fields and the family each one bounds
LIMIT_FAMILIES: dict[str, str] = {
    "anchorages": "vessels_waiting",
    "truck_dwell_days": "dwell_truck_p90",
    "rail_dwell_days": "dwell_rail_p90",
    "days_of_supply": "days_of_supply",
}
#: families the ``changes`` route watches (port and region series: ``family|place``) and
#: the kinds of change it alerts on for each: a queue, a wait or a dwell that builds up,
#: a flow of ships that stops. The detector sees every kind (``berthwatch detect`` shows
#: them all); single-hour spikes of an hourly percentile or count are its noise, not news
CHANGE_FAMILIES: dict[str, frozenset[str]] = {
    "vessels_waiting": frozenset({"level up", "ramp up"}),
    "wait_p90": frozenset({"level up", "ramp up"}),
    "dwell_truck_p90": frozenset({"level up", "ramp up"}),
    "dwell_rail_p90": frozenset({"level up", "ramp up"}),
    "arrivals": frozenset({"stoppage"}),
    "departures": frozenset({"stoppage"}),
}
#: the ``changes`` route's detector on day scale: the processes it watches (ships waiting,
#: boxes dwelling) move over days, and an hourly count or percentile is noise at the scale
#: of hours. The half-lives of :class:`~detectors.Changes` times 24, the spread and the
#: calibration over a season, two weeks of hourly points to warm up
DAY_SCALE_CHANGES: dict[str, float] = {
    "warmup": 14 * 24,
    "level_halflife": DAY,
    "short_halflife": 3 * DAY,
    "base_halflife": 24 * DAY,
    "ramp_halflife": 6 * DAY,
    "var_halflife": 12 * DAY,
    "spread_halflife": 35 * DAY,
    "calib_halflife": 168 * DAY,
}
#: routes whose item series (``family|site|item``) are alerted per site
#: (``family|site``), the worst items named in the alert
GROUPED_ROUTES: tuple[str, ...] = ("supply_trend",)
#: the quiet period of every alerting route: a series that resolved does not fire again on
#: that route within 30 days unless it got clearly worse
QUIET_S = 30 * DAY
#: composite components per port or region: family -> (direction, weight)
COMPOSITE_COMPONENTS: dict[str, tuple[float, float]] = {
    "vessels_waiting": (1.0, 1.0),
    "wait_p90": (1.0, 1.0),
    "dwell_truck_p90": (1.0, 1.0),
    "dwell_rail_p90": (1.0, 1.0),
    "boxes_on_terminal": (1.0, 0.5),
}


def _default_trends() -> dict[str, TrendParams]:
    return {
        # hourly queue counts: slow level, slow trend, 3 weeks of warning
        "queue_trend": TrendParams(
            alpha=0.02, beta=0.05, horizon_s=21 * DAY, warmup=72, min_level=0.25
        ),
        # hourly dwell percentiles of the boxes that left (noisy): smooth hard
        "dwell_truck_trend": TrendParams(
            alpha=0.02, beta=0.1, horizon_s=21 * DAY, warmup=72, min_level=0.5
        ),
        "dwell_rail_trend": TrendParams(
            alpha=0.02, beta=0.1, horizon_s=21 * DAY, warmup=72, min_level=0.5
        ),
        # daily days-of-supply snapshots
        "supply_trend": TrendParams(
            direction="below",
            alpha=0.3,
            beta=0.2,
            phi=0.95,
            horizon_s=14 * DAY,
            warmup=10,
            min_level=0.0,
        ),
    }


def _default_policies() -> dict[str, PolicyParams]:
    # limit routes see value / limit: clearly worse is half the limit beyond the last peak
    hourly = PolicyParams(
        persistence=(6, 8), resolve_after=24, cooldown_s=QUIET_S, worse=0.5,
        rearm=(0.0, 72), rearm_value=0.5,
    )
    return {
        "queue_trend": hourly,
        "dwell_truck_trend": hourly,
        "dwell_rail_trend": hourly,
        "supply_trend": PolicyParams(
            persistence=(2, 3), resolve_after=3, cooldown_s=QUIET_S, worse=0.5,
            direction=-1.0, rearm=(0.0, 3), rearm_value=2.0,
        ),
        "changes": PolicyParams(
            resolve=0.6, persistence=(1, 1), resolve_after=6, cooldown_s=QUIET_S,
            rearm=(0.2, 7 * 24),
        ),
        "staleness": PolicyParams(persistence=(1, 1), resolve_after=1, cooldown_s=0.0),
        "composite": replace(hourly, worse=None),
    }


def _inherited(values: Mapping[str, float], key: str, default: float) -> float:
    """``values`` of ``key``, else of its shorter prefixes (``a|b|c``, ``a|b``, ``a``).

    >>> _inherited({"dwell|USLAX": 9.0}, "dwell|USLAX|APM", 3.0), _inherited({}, "x|y", 3.0)
    (9.0, 3.0)
    """
    parts = key.split("|")
    for n in range(len(parts), 0, -1):
        v = values.get("|".join(parts[:n]))
        if v is not None:
            return float(v)
    return default


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the stage decides with; stored in snapshots to catch mismatches.

    ``limits`` maps series keys to their limit (exact key, or a family to set
    its default); missing keys use :data:`TREND_ROUTES` defaults.
    ``groups`` maps component series keys to a composite group (port or region);
    by default a series ``family|X`` of a :data:`COMPOSITE_COMPONENTS` family
    belongs to group ``X`` (terminal series ``family|P|T`` are left out).
    """

    limits: Mapping[str, float] = field(default_factory=dict)
    limits_from: Mapping[str, float] = field(default_factory=dict)
    """When a limit takes effect (event time, seconds; exact key or family): before it
    the limit route withholds its score, so nothing is said about a limit not yet in
    force; a series already past it then gets one ``past_limit`` alert."""
    trends: Mapping[str, TrendParams] = field(default_factory=_default_trends)
    policies: Mapping[str, PolicyParams] = field(default_factory=_default_policies)
    alert_parts: bool = False
    """Limit routes alert on ports and regions (``family|place``) only: the terminals'
    series (``family|port|terminal``) are scored and drawn but not alerted on, the port's
    alert speaks for them. True alerts on every series."""
    stale_k: float = 6.0
    stale_max_age_s: float = 3 * DAY
    stale_check_s: float = HOUR
    """Staleness is checked for every series at every interval end that crosses a
    multiple of this (event time)."""
    composite_halflife_s: float = 14 * DAY
    composite_warmup: int = 168
    composite_index_alarm: float = 4.0
    composite_z_cap: float = 6.0
    change_params: Mapping[str, float] = field(default_factory=lambda: dict(DAY_SCALE_CHANGES))
    """Parameters of the ``changes`` route's :class:`~detectors.Changes`."""
    groups: Mapping[str, str] | None = None
    changes: tuple[MethodologyChange, ...] = ()
    quiet_s: float = 3 * DAY
    """After a methodology change, scores of the affected series are withheld
    from the policy this long while the detectors re-learn."""
    group_linger_s: float = 14 * DAY
    """A site's grouped alert resolves once none of its items fired for this long: the
    items of one shortage that run low one after the other are one alert."""
    series_quiet_s: float = QUIET_S
    """The alert budget (:mod:`streams.detection.budget`): a series publishes at most one
    firing per this many seconds, whatever route it comes from, ..."""
    series_rearm_s: float = math.inf
    """... unless none of its alerts has been in force for this long (a new event)."""
    record: bool = True
    """Keep per-point scores and bands (:class:`PointScores`) for reports."""

    def change_detector(self) -> Changes:
        """The ``changes`` route's detector, with :attr:`change_params`."""
        params = dict(self.change_params)
        return Changes(warmup=int(params.pop("warmup", 48)), **params)

    def limit_of(self, route: str, key: str) -> float:
        """The limit of ``key`` on a limit route: its own, else that of the place it is
        part of (a terminal's port), else its family's, else the route's default."""
        return _inherited(self.limits, key, TREND_ROUTES[route][1])

    def limit_from(self, route: str, key: str) -> float:
        """Event time the limit of ``key`` on ``route`` takes effect (-inf: always),
        inherited like :meth:`limit_of`."""
        return _inherited(self.limits_from, key, -math.inf)

    def with_changes(self, changes: Iterable[MethodologyChange]) -> PipelineConfig:
        return replace(self, changes=tuple(self.changes) + tuple(changes))

    def to_json(self) -> str:
        d = asdict(self)
        d["limits"] = dict(sorted(self.limits.items()))
        d["limits_from"] = dict(sorted(self.limits_from.items()))
        d["groups"] = None if self.groups is None else dict(sorted(self.groups.items()))
        d.pop("record")
        return json.dumps(d, sort_keys=True, default=list)

    @classmethod
    def from_geography(cls, geo: Geography, **kwargs: Any) -> PipelineConfig:
        """Limits of every region and port of the geography: queue limit = anchorages,
        dwell limits, days of supply; ``kwargs`` override other fields."""
        limits: dict[str, float] = dict(kwargs.pop("limits", {}))
        limits_from: dict[str, float] = dict(kwargs.pop("limits_from", {}))
        found: dict[str, float] = {}
        found_from: dict[str, float] = {}
        for rid, region in geo.regions.items():
            items = [(rid, region.limits)] + [(c, p.limits) for c, p in region.ports.items()]
            for code, lim in items:
                for name, family in LIMIT_FAMILIES.items():
                    value = getattr(lim, name)
                    if not value:
                        continue
                    # days of supply: one limit for every site, set by the first region
                    key = family if family == "days_of_supply" else f"{family}|{code}"
                    if key in found and family == "days_of_supply":
                        continue
                    found[key] = float(value)
                    if name in lim.effective_from:
                        day = lim.effective_from[name]
                        found_from[key] = dt.datetime(
                            day.year, day.month, day.day, tzinfo=dt.UTC
                        ).timestamp()
        return cls(
            limits={**found, **limits}, limits_from={**found_from, **limits_from}, **kwargs
        )
