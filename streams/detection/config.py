"""The detection configuration: every parameter of every route, explicit.

Routes per series family, trend and policy parameters, limits per series (from the
geography), methodology changes. See :mod:`streams.detection` for what each route
does with them.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from detectors import AlertPolicy, DampedTrend, Severity
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
    critical: tuple[float, float] | None = None
    """(fire, resolve) of a second, ``critical`` severity; None for warnings only."""

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
    return {
        "queue_trend": PolicyParams(persistence=(6, 8), resolve_after=24, cooldown_s=3 * DAY),
        "queue_level": PolicyParams(persistence=(4, 8), resolve_after=24, cooldown_s=3 * DAY),
        "dwell_truck_trend": PolicyParams(persistence=(6, 8), resolve_after=24, cooldown_s=3 * DAY),
        "dwell_rail_trend": PolicyParams(persistence=(6, 8), resolve_after=24, cooldown_s=3 * DAY),
        "supply_trend": PolicyParams(persistence=(2, 3), resolve_after=3, cooldown_s=3 * DAY),
        "staleness": PolicyParams(persistence=(1, 1), resolve_after=1, cooldown_s=0.0),
        "composite": PolicyParams(persistence=(6, 8), resolve_after=24, cooldown_s=3 * DAY),
    }


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
    trends: Mapping[str, TrendParams] = field(default_factory=_default_trends)
    policies: Mapping[str, PolicyParams] = field(default_factory=_default_policies)
    level_halflife_s: float = 30 * DAY
    level_warmup: int = 72
    level_z_alarm: float = 2.5
    level_abs_floor: float = 1.5
    """Ships: a queue standard deviation below this is taken as this (counts are coarse)."""
    level_rel_floor: float = 0.1
    level_min_excess: float = 3.0
    """Only a queue at least this many ships above its baseline can score (a rise)."""
    stale_k: float = 6.0
    stale_max_age_s: float = 3 * DAY
    stale_check_s: float = HOUR
    """Staleness is checked for every series at every interval end that crosses a
    multiple of this (event time)."""
    composite_halflife_s: float = 14 * DAY
    composite_warmup: int = 168
    composite_index_alarm: float = 4.0
    composite_z_cap: float = 6.0
    groups: Mapping[str, str] | None = None
    changes: tuple[MethodologyChange, ...] = ()
    quiet_s: float = 3 * DAY
    """After a methodology change, scores of the affected series are withheld
    from the policy this long while the detectors re-learn."""
    record: bool = True
    """Keep per-point scores and bands (:class:`PointScores`) for reports."""

    def limit_of(self, route: str, key: str) -> float:
        family, default = TREND_ROUTES[route]
        v = self.limits.get(key, self.limits.get(family, default))
        return float(v)

    def with_changes(self, changes: Iterable[MethodologyChange]) -> PipelineConfig:
        return replace(self, changes=tuple(self.changes) + tuple(changes))

    def to_json(self) -> str:
        d = asdict(self)
        d["limits"] = dict(sorted(self.limits.items()))
        d["groups"] = None if self.groups is None else dict(sorted(self.groups.items()))
        d.pop("record")
        return json.dumps(d, sort_keys=True, default=list)

    @classmethod
    def from_geography(cls, geo: Geography, **kwargs: Any) -> PipelineConfig:
        """Limits of every region and port of the geography: queue limit = anchorages,
        dwell limits, days of supply; ``kwargs`` override other fields."""
        limits: dict[str, float] = dict(kwargs.pop("limits", {}))
        found: dict[str, float] = {}
        for rid, region in geo.regions.items():
            items = [(rid, region.limits)] + [(c, p.limits) for c, p in region.ports.items()]
            for code, lim in items:
                if lim.anchorages:
                    found[f"vessels_waiting|{code}"] = float(lim.anchorages)
                if lim.truck_dwell_days:
                    found[f"dwell_truck_p90|{code}"] = float(lim.truck_dwell_days)
                if lim.rail_dwell_days:
                    found[f"dwell_rail_p90|{code}"] = float(lim.rail_dwell_days)
            if region.limits.days_of_supply:
                found.setdefault("days_of_supply", float(region.limits.days_of_supply))
        return cls(limits={**found, **limits}, **kwargs)
