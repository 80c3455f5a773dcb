"""The detection stage: feature points in, alert transitions and per-point scores out.

One code path for the numbers: the in-process backtest (``berthwatch
backtest``) and the streaming detection workers both feed
:class:`DetectionStage` with :class:`~streams.features.FeaturePoints` batches in
interval order and get the same :class:`Alert` transitions.

Routing (every parameter is explicit here, see :class:`PipelineConfig`; the
detectors' own defaults are never relied on):

==========================  ==================================================
series family               detectors (route names)
==========================  ==================================================
``vessels_waiting|X``       ``queue_trend``: :class:`~detectors.DampedTrend`
                            towards the anchorage limit of ``X`` (55 for San
                            Pedro Bay), ``queue_level``: :class:`~detectors.EWMA`
                            level control chart (the baseline band)
``dwell_truck_p90|P[|T]``   ``dwell_truck_trend``: trend towards 9 days
``dwell_rail_p90|P[|T]``    ``dwell_rail_trend``: trend towards the rail limit (3 days)
``days_of_supply|S|I``      ``supply_trend``: trend *below* 5 days of supply
every series                ``staleness``: :class:`~detectors.Staleness`
port / region               ``composite``: :class:`~detectors.CompositeIndex` of
                            the standardized components of the port or region
==========================  ==================================================

Limits are per series (from the geography, :meth:`PipelineConfig.from_geography`).
A trend detector has one scalar limit, so trend routes see ``value / limit``
against a limit of 1 and the stage scales values, forecasts and bands back for
reports and explanations. Two gates keep the scores meaningful: a trend
route scores nothing while the value is below ``TrendParams.min_level`` of its
limit, and the level route scores only rises of at least
``PipelineConfig.level_min_excess`` ships over its baseline (a queue falling
is not a disruption). Each route has its own :class:`~detectors.AlertPolicy`
(:class:`PolicyParams`: threshold, k-of-n persistence, hysteresis, cool-down);
the composite index is scored per group and explained by its components.

Methodology changes (:class:`MethodologyChange`, e.g. the 2021-11-16 change of
how San Pedro Bay counts its queue): from the first interval ending after the
change, every affected series starts a new *epoch*: its detectors continue on
fresh state rows (a re-baseline with a new warm-up), and for ``quiet_s``
seconds its scores are withheld from the alert policy, which keeps its state
(an alert firing before the change neither resolves nor re-fires because of
it); the old epoch's contribution leaves the composite index of its port or
region. A change of counting method is therefore never reported as a
disruption. Changes come from configuration (``PipelineConfig.changes``) or
from a label file's ``counting_change`` events (:meth:`MethodologyChange.from_labels`).

Determinism: points are buffered and processed one interval end at a time,
and the newest interval end is held back until a later one arrives or
:meth:`DetectionStage.flush` is called, so every split of the same points into
batches gives the same transitions, bit for bit. A streaming worker that knows
an interval is complete (every partition's watermark passed it) calls
``flush(until_s)`` to close it without waiting for the next one. The whole
stage (registries, detector and policy state, epochs, buffer) is
:meth:`DetectionStage.snapshot` bytes; checkpoint them with the input offsets.

>>> cfg = PipelineConfig(limits={"vessels_waiting|P": 10.0})
>>> stage = DetectionStage(cfg)
>>> hours = np.arange(24 * 20)
>>> queue = np.where(hours < 24 * 10, 2.0, 2.0 + (hours - 24 * 10) / 24.0)  # +1 ship a day
>>> pts = FeaturePoints(np.full(hours.size, b"vessels_waiting|P"), hours * 3600 + 3600,
...                     queue)
>>> out = stage.process(pts) + stage.flush()
>>> first = next(a for a in out.alerts if a.detector == "queue_trend")
>>> first.state, first.severity, bool(first.crossing_ts > first.ts)
('firing', 'warning', True)
"""

from __future__ import annotations

import fnmatch
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors import (
    EWMA,
    AlertPolicy,
    CompositeIndex,
    DampedTrend,
    Detector,
    SeriesRegistry,
    Severity,
    Staleness,
    Transition,
)
from detectors.base import Result
from streams.features.windows import FeaturePoints
from streams.geo import Geography

F64 = NDArray[np.float64]
DAY = 86400.0
HOUR = 3600.0

__all__ = [
    "Alert",
    "DetectionStage",
    "MethodologyChange",
    "PipelineConfig",
    "PointScores",
    "PolicyParams",
    "StageOutput",
    "TrendParams",
    "family_of",
]


def family_of(key: str) -> str:
    """The family of a series key: the part before the first ``|``.

    >>> family_of("dwell_truck_p90|USLAX|APMT")
    'dwell_truck_p90'
    """
    return key.split("|", 1)[0]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- configuration


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
    def from_labels(cls, labels: Mapping[str, Any]) -> list[MethodologyChange]:
        """The ``counting_change`` events of a simulator ``labels.json`` document."""
        out = []
        for ev in labels.get("events", []):
            if ev.get("kind") == "counting_change":
                t = datetime.fromisoformat(str(ev["time"]).replace("Z", "+00:00"))
                out.append(
                    cls(t.timestamp(), tuple(ev.get("series", [])), str(ev.get("description", "")))
                )
        return out


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


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Alert:
    """An alert transition with everything an operator needs (values in series units)."""

    key: str
    state: str
    series: str
    detector: str
    severity: str
    ts: float
    since: float
    value: float
    expected: float
    score: float
    limit: float
    eta_seconds: float
    eta_lower: float
    eta_upper: float
    crossing_ts: float
    explanation: str
    components: tuple[tuple[str, float, float], ...] = ()
    """Composite alerts: (component series, contribution, share), largest first."""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["components"] = [list(c) for c in self.components]
        for k, v in list(d.items()):
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["ts_iso"], d["since_iso"] = _iso(self.ts), _iso(self.since)
        return d


SCORE_FIELDS = (
    "value",
    "score",
    "expected",
    "lower",
    "upper",
    "crossing",
    "crossing_lo",
    "crossing_hi",
)


@dataclass
class PointScores:
    """Per point and route: the score, the baseline or forecast (``expected``), the
    band (``lower`` .. ``upper``), the projected crossing time (``crossing`` with
    ``crossing_lo`` .. ``crossing_hi``) and the alert level after the point.

    Kept as chunks (one per interval and route); :meth:`table` concatenates them.
    """

    chunks: list[tuple[str, float, list[str], dict[str, F64], NDArray[np.int8]]] = field(
        default_factory=list
    )
    _table: dict[str, NDArray[Any]] | None = field(default=None, repr=False)

    def add(
        self, route: str, ts: float, keys: list[str], cols: dict[str, F64], level: NDArray[np.int8]
    ) -> None:
        self.chunks.append((route, ts, keys, cols, level))
        self._table = None

    def extend(self, other: PointScores) -> None:
        self.chunks.extend(other.chunks)
        self._table = None

    def __len__(self) -> int:
        return sum(len(c[2]) for c in self.chunks)

    def table(self) -> dict[str, NDArray[Any]]:
        """Flat arrays: ``key``, ``route`` (str), ``ts``, the score fields and ``level``."""
        if self._table is None:
            n = [len(c[2]) for c in self.chunks]
            t: dict[str, NDArray[Any]] = {
                "key": np.array([k for c in self.chunks for k in c[2]], dtype=object),
                "route": np.repeat(np.array([c[0] for c in self.chunks], dtype=object), n),
                "ts": np.repeat(np.array([c[1] for c in self.chunks], dtype=np.float64), n),
                "level": np.concatenate([c[4] for c in self.chunks]) if n else np.zeros(0),
            }
            for f in SCORE_FIELDS:
                parts = [c[3].get(f, np.full(len(c[2]), np.nan)) for c in self.chunks]
                t[f] = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
            self._table = t
        return self._table

    def series(self, key: str, route: str) -> dict[str, F64]:
        """Arrays of one series and route, in time order."""
        t = self.table()
        m = (t["key"] == key) & (t["route"] == route)
        return {f: np.asarray(t[f][m], dtype=np.float64) for f in ("ts", *SCORE_FIELDS, "level")}


@dataclass
class StageOutput:
    """What a call to :meth:`DetectionStage.process` or ``flush`` produced."""

    alerts: list[Alert] = field(default_factory=list)
    scores: PointScores = field(default_factory=PointScores)
    intervals: int = 0

    def __add__(self, other: StageOutput) -> StageOutput:
        s = PointScores()
        s.extend(self.scores)
        s.extend(other.scores)
        return StageOutput(self.alerts + other.alerts, s, self.intervals + other.intervals)


# --------------------------------------------------------------------------- the stage


class _Route:
    """One detector instance, its row registry (epoch-aware keys) and its policy."""

    def __init__(self, name: str, detector: Detector, policy: AlertPolicy) -> None:
        self.name = name
        self.detector = detector
        self.policy = policy
        self.rows = SeriesRegistry()  # detector rows: "key" or "key#epoch"
        self.prow = SeriesRegistry()  # policy rows: series keys (stable across epochs)


#: composite group that collects the components of past epochs (never alerted on)
RETIRED_GROUP = "\x00retired"


def _detector_key(key: str, epoch: int) -> str:
    return key if epoch == 0 else f"{key}#{epoch}"


class DetectionStage:
    """Routes feature points to detectors, applies alert policies, explains alerts.

    ``process(points)`` takes :class:`~streams.features.FeaturePoints` (keys as
    bytes or str, interval ends in seconds, values) in interval order and
    returns a :class:`StageOutput` for the interval ends it could close;
    ``flush(until_s=None)`` closes the held-back ones. ``snapshot()`` /
    ``restore(blob)`` carry the whole state.
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = cfg = config or PipelineConfig()
        self.routes: dict[str, _Route] = {}
        for route in TREND_ROUTES:
            self.routes[route] = _Route(
                route, cfg.trends[route].build(), cfg.policies[route].build(route)
            )
        self.routes["queue_level"] = _Route(
            "queue_level",
            EWMA(
                halflife=cfg.level_halflife_s,
                warmup=cfg.level_warmup,
                z_alarm=cfg.level_z_alarm,
                abs_floor=cfg.level_abs_floor,
                rel_floor=cfg.level_rel_floor,
            ),
            cfg.policies["queue_level"].build("queue_level"),
        )
        self.routes["staleness"] = _Route(
            "staleness",
            Staleness(
                k=cfg.stale_k, max_age=cfg.stale_max_age_s, alpha=0.1, min_interval=60.0, warmup=3
            ),
            cfg.policies["staleness"].build("staleness"),
        )
        self.routes["composite"] = _Route(
            "composite",
            CompositeIndex(
                halflife=cfg.composite_halflife_s,
                warmup=cfg.composite_warmup,
                z_cap=cfg.composite_z_cap,
                index_alarm=cfg.composite_index_alarm,
            ),
            cfg.policies["composite"].build("composite"),
        )
        self.group_reg = SeriesRegistry()  # composite groups
        self.epochs: dict[str, int] = {}  # series key -> epoch (0 when absent)
        self.quiet_until: dict[str, float] = {}
        self.changes_done = 0  # methodology changes applied (sorted by time)
        self.last_check = -math.inf
        self.last_end: float = -math.inf
        self.pending: list[tuple[NDArray[Any], NDArray[np.int64], F64]] = []
        self.changes = sorted(cfg.changes, key=lambda c: c.time_s)

    # ---- public API

    def process(self, points: FeaturePoints) -> StageOutput:
        """Buffer a batch; process every complete interval end (all but the newest)."""
        key = np.asarray(points.key)
        if key.dtype.kind != "S":
            key = np.array([str(k).encode() for k in key.tolist()], dtype=bytes)
        end = np.asarray(points.end_s, dtype=np.int64)
        val = np.asarray(points.value, dtype=np.float64)
        if len(end) and end.min() < self.last_end:
            raise ValueError(
                f"points for interval end {int(end.min())} arrive after {int(self.last_end)} "
                "was processed: feed batches in interval order"
            )
        if len(end):
            self.pending.append((key, end, val))
        newest = max((int(e.max()) for _, e, _ in self.pending if len(e)), default=None)
        return self._drain(None if newest is None else newest - 1)

    def flush(self, until_s: float | None = None) -> StageOutput:
        """Process held-back interval ends up to ``until_s`` (all when None)."""
        return self._drain(until_s)

    # ---- internals

    def _drain(self, until: float | None) -> StageOutput:
        out = StageOutput()
        if not self.pending:
            return out
        key = np.concatenate([p[0] for p in self.pending])
        end = np.concatenate([p[1] for p in self.pending])
        val = np.concatenate([p[2] for p in self.pending])
        order = np.lexsort((key, end))
        key, end, val = key[order], end[order], val[order]
        cut = len(end) if until is None else int(np.searchsorted(end, until, side="right"))
        self.pending = [(key[cut:], end[cut:], val[cut:])] if cut < len(end) else []
        if cut == 0:
            return out
        bounds = np.flatnonzero(np.diff(end[:cut])) + 1
        starts = np.r_[0, bounds]
        stops = np.r_[bounds, cut]
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            self._step(float(end[a]), [k.decode() for k in key[a:b]], val[a:b], out)
            out.intervals += 1
        return out

    def _apply_changes(self, t: float, keys: Sequence[str]) -> None:
        while self.changes_done < len(self.changes) and self.changes[self.changes_done].time_s < t:
            ch = self.changes[self.changes_done]
            self.changes_done += 1
            known = set(self.epochs) | set(keys)
            for r in self.routes.values():
                known.update(k.split("#", 1)[0] for k in r.rows.keys)
            for k in sorted(known):
                if ch.matches(k):
                    self._retire_component(k)
                    self.epochs[k] = self.epochs.get(k, 0) + 1
                    self.quiet_until[k] = ch.time_s + self.config.quiet_s

    def _retire_component(self, key: str) -> None:
        """Move the composite contribution of ``key``'s current epoch to a retired group,
        so the old way of counting stops weighing on its port or region."""
        r = self.routes["composite"]
        det = r.detector
        assert isinstance(det, CompositeIndex)
        old = _detector_key(key, self.epochs.get(key, 0))
        if old not in r.rows.keys:
            return
        row = r.rows.row(old)
        retired = self.group_reg.row(RETIRED_GROUP)
        det.set_components(
            [row], [retired], weight=det.state["weight"][row], direction=det.state["direction"][row]
        )

    def _step(self, t: float, keys: list[str], val: F64, out: StageOutput) -> None:
        self._apply_changes(t, keys)
        self.last_end = t
        fam = [family_of(k) for k in keys]
        quiet = np.array([self.quiet_until.get(k, -math.inf) > t for k in keys], dtype=bool)
        for route, (family, _) in TREND_ROUTES.items():
            idx = [i for i, f in enumerate(fam) if f == family]
            if idx:
                self._trend(route, t, [keys[i] for i in idx], val[idx], quiet[idx], out)
        qidx = [i for i, f in enumerate(fam) if f == "vessels_waiting"]
        if qidx:
            self._level(t, [keys[qidx_i] for qidx_i in qidx], val[qidx], quiet[qidx], out)
        self._composite(t, keys, fam, val, quiet, out)
        self._staleness(t, keys, val, out)

    def _rows(self, r: _Route, keys: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        drows = r.rows.rows([_detector_key(k, self.epochs.get(k, 0)) for k in keys])
        prows = r.prow.rows(list(keys))
        return drows, prows

    def _policy(
        self,
        r: _Route,
        t: float,
        keys: Sequence[str],
        prows: NDArray[np.int64],
        score: F64,
        value: F64,
        res: Result | None,
        quiet: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int8], list[Transition]]:
        sc = np.where(quiet, np.nan, score)
        ts = np.full(len(prows), t)
        pr = r.policy.evaluate(prows, ts, sc, keys=r.prow, value=value, result=res)
        return pr.alert, pr.transitions

    def _record(
        self,
        out: StageOutput,
        route: str,
        t: float,
        keys: list[str],
        cols: dict[str, F64],
        level: NDArray[np.int8],
    ) -> None:
        if self.config.record:
            out.scores.add(route, t, keys, cols, level)

    def _trend(
        self,
        route: str,
        t: float,
        keys: list[str],
        val: F64,
        quiet: NDArray[np.bool_],
        out: StageOutput,
    ) -> None:
        r = self.routes[route]
        params = self.config.trends[route]
        lim = np.array([self.config.limit_of(route, k) for k in keys])
        x = np.where(np.isfinite(val), val / lim, np.nan)
        drows, prows = self._rows(r, keys)
        res = r.detector.update(drows, np.full(len(keys), t), x)
        above = params.direction == "above"
        # below min_level of the limit (above-limit routes) nothing is an early warning yet
        low = (x < params.min_level) if above else np.zeros(len(x), dtype=bool)
        score = np.where(low, 0.0, res.score)
        ex = res.extras
        level, trans = self._policy(r, t, keys, prows, score, x, res, quiet)
        eta, lo, hi = ex["eta_seconds"], ex["eta_lower"], ex["eta_upper"]
        band = np.sqrt(np.maximum(r.detector.state["var"][drows], 0.0)) * params.z
        cols = {
            "value": val,
            "score": score,
            "expected": ex["expected"] * lim,
            "lower": (ex["level"] - band) * lim,
            "upper": (ex["level"] + band) * lim,
            "crossing": t + eta,
            "crossing_lo": t + lo,
            "crossing_hi": t + hi,
        }
        self._record(out, route, t, keys, cols, level)
        for tr in trans:
            i = keys.index(tr.series)
            out.alerts.append(self._alert(tr, lim[i], val[i], ex["expected"][i] * lim[i]))

    def _level(
        self, t: float, keys: list[str], val: F64, quiet: NDArray[np.bool_], out: StageOutput
    ) -> None:
        r = self.routes["queue_level"]
        drows, prows = self._rows(r, keys)
        res = r.detector.update(drows, np.full(len(keys), t), val)
        ex = res.extras
        # a queue only matters when it grows, and by a few ships at least
        rise = (val - ex["expected"]) >= self.config.level_min_excess
        score = np.where(rise, res.score, 0.0)
        level, trans = self._policy(r, t, keys, prows, score, val, res, quiet)
        cols = {
            "value": val,
            "score": score,
            "expected": ex["expected"],
            "lower": ex["lower"],
            "upper": ex["upper"],
        }
        self._record(out, "queue_level", t, keys, cols, level)
        for tr in trans:
            i = keys.index(tr.series)
            lim = self.config.limit_of("queue_trend", tr.series)
            out.alerts.append(self._alert(tr, lim, val[i], float(ex["expected"][i])))

    def _group_of(self, key: str, family: str) -> str | None:
        if self.config.groups is not None:
            return self.config.groups.get(key)
        if family not in COMPOSITE_COMPONENTS:
            return None
        parts = key.split("|")
        return parts[1] if len(parts) == 2 else None

    def _composite(
        self,
        t: float,
        keys: list[str],
        fam: list[str],
        val: F64,
        quiet: NDArray[np.bool_],
        out: StageOutput,
    ) -> None:
        r = self.routes["composite"]
        det = r.detector
        assert isinstance(det, CompositeIndex)
        idx, groups = [], []
        for i, (k, f) in enumerate(zip(keys, fam, strict=True)):
            g = self._group_of(k, f)
            if g is not None:
                idx.append(i)
                groups.append(g)
        if not idx:
            return
        ckeys = [keys[i] for i in idx]
        known = len(r.rows)
        drows = r.rows.rows([_detector_key(k, self.epochs.get(k, 0)) for k in ckeys])
        new = drows >= known
        if new.any():
            grows = self.group_reg.rows([g for g, n in zip(groups, new, strict=True) if n])
            dirs = [
                COMPOSITE_COMPONENTS[family_of(k)] for k, n in zip(ckeys, new, strict=True) if n
            ]
            det.set_components(
                drows[new], grows, weight=[w for _, w in dirs], direction=[d for d, _ in dirs]
            )
        det.update(drows, np.full(len(ckeys), t), val[idx])
        # one score per group: the group index after the batch
        gnames = sorted(set(groups) - {RETIRED_GROUP})
        grows_all = self.group_reg.rows(gnames)
        index = det.index(grows_all)
        gscore = -np.expm1(-math.log(5.0) * (index / det.index_alarm) ** 2)
        gkeys = [f"composite|{g}" for g in gnames]
        # a group is quiet while any reporting component is re-baselining, and it is
        # scored once a component is past its warm-up
        gquiet = np.zeros(len(gnames), dtype=bool)
        warm = np.zeros(len(gnames), dtype=bool)
        counts = det.state["count"][drows]
        for j, g in enumerate(groups):
            gi = gnames.index(g)
            gquiet[gi] |= bool(quiet[idx[j]])
            warm[gi] |= bool(counts[j] > det.warmup)
        gsc = np.where(warm, gscore, 0.0)
        prows = r.prow.rows(gkeys)
        pr = r.policy.evaluate(
            prows, np.full(len(gkeys), t), np.where(gquiet, np.nan, gsc), keys=r.prow, value=index
        )
        self._record(out, "composite", t, gkeys, {"value": index, "score": gsc}, pr.alert)
        for tr in pr.transitions:
            g = tr.series.split("|", 1)[1]
            comps = tuple(
                (r.rows.keys[row].split("#", 1)[0], c, share)
                for row, c, share in det.explain(self.group_reg.row(g))
                if c > 0
            )
            a = self._alert(tr, math.nan, tr.value, math.nan)
            text = a.explanation
            if comps:
                text += "; components: " + ", ".join(
                    f"{name} {share:.0%}" for name, _, share in comps[:4]
                )
            out.alerts.append(replace(a, components=comps, explanation=text))

    def _staleness(self, t: float, keys: list[str], val: F64, out: StageOutput) -> None:
        r = self.routes["staleness"]
        det = r.detector
        assert isinstance(det, Staleness)
        # a counting change does not change how often a series reports: no epochs here
        drows = r.rows.rows(keys)
        det.update(drows, np.full(len(keys), t), np.where(np.isnan(val), 0.0, val))
        step = self.config.stale_check_s
        if math.isfinite(self.last_check) and t // step == self.last_check // step:
            return
        self.last_check = t
        rep = det.check(now=t)
        n = det.n_series
        if n == 0:
            return
        rows = np.arange(n, dtype=np.int64)
        skeys = r.rows.keys
        prows = r.prow.rows(skeys)
        score = rep.score[rows]
        pr = r.policy.evaluate(
            prows, np.full(len(rows), t), score, keys=r.prow, value=rep.age_seconds[rows]
        )
        for tr in pr.transitions:
            i = skeys.index(tr.series)
            a = self._alert(tr, math.nan, float(rep.age_seconds[rows][i]), math.nan)
            text = (
                f"{tr.series}: {tr.severity} {tr.state} since {_iso(tr.since)} (staleness "
                f"score {tr.score:.2f}): no point for {tr.value / 3600.0:.1f} h, "
                f"threshold {float(rep.threshold_seconds[rows][i]) / 3600.0:.1f} h"
            )
            out.alerts.append(replace(a, explanation=text))

    def _alert(self, tr: Transition, limit: float, value: float, expected: float) -> Alert:
        crossing = tr.ts + tr.eta_seconds if math.isfinite(tr.eta_seconds) else math.nan
        text = (
            f"{tr.series}: {tr.severity} {tr.state} since {_iso(tr.since)} "
            f"({tr.detector} score {tr.score:.2f}): value {value:.4g}"
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
                    f"; limit projected at {_iso(crossing)} (in {tr.eta_seconds / DAY:.1f} d;"
                    f" {_iso(lo) if math.isfinite(lo) else '?'} .. "
                    f"{_iso(hi) if math.isfinite(hi) else 'beyond horizon'})"
                )
        return Alert(
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
        )

    # ---- snapshot

    def snapshot(self) -> bytes:
        """The whole stage as ``.npz`` bytes (no pickled objects)."""
        meta = {
            "config": json.loads(self.config.to_json()),
            "epochs": self.epochs,
            "quiet_until": self.quiet_until,
            "changes_done": self.changes_done,
            "last_check": None if math.isinf(self.last_check) else self.last_check,
            "last_end": None if math.isinf(self.last_end) else self.last_end,
            "groups": self.group_reg.keys,
            "routes": {
                n: {"rows": r.rows.keys, "prow": r.prow.keys} for n, r in self.routes.items()
            },
        }
        arrays: dict[str, NDArray[Any]] = {
            "_meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        }
        for n, r in self.routes.items():
            arrays[f"d_{n}"] = np.frombuffer(r.detector.snapshot(), dtype=np.uint8)
            arrays[f"p_{n}"] = np.frombuffer(r.policy.snapshot(), dtype=np.uint8)
        if self.pending:
            k = np.concatenate([p[0] for p in self.pending])
            arrays["pending_key"] = k.astype(f"S{max(1, k.dtype.itemsize)}")
            arrays["pending_end"] = np.concatenate([p[1] for p in self.pending])
            arrays["pending_val"] = np.concatenate([p[2] for p in self.pending])
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state by a snapshot of a stage with the same configuration."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["_meta"].tobytes().decode())
            want = json.loads(self.config.to_json())
            if meta["config"] != want:
                raise ValueError("snapshot was taken with a different pipeline configuration")
            for n, r in self.routes.items():
                r.detector.restore(z[f"d_{n}"].tobytes())
                r.policy.restore(z[f"p_{n}"].tobytes())
                r.rows = SeriesRegistry(meta["routes"][n]["rows"])
                r.prow = SeriesRegistry(meta["routes"][n]["prow"])
            self.group_reg = SeriesRegistry(meta["groups"])
            self.epochs = {k: int(v) for k, v in meta["epochs"].items()}
            self.quiet_until = {k: float(v) for k, v in meta["quiet_until"].items()}
            self.changes_done = int(meta["changes_done"])
            lc, le = meta["last_check"], meta["last_end"]
            self.last_check = -math.inf if lc is None else float(lc)
            self.last_end = -math.inf if le is None else float(le)
            self.pending = []
            if "pending_key" in z.files:
                self.pending = [
                    (z["pending_key"].copy(), z["pending_end"].copy(), z["pending_val"].copy())
                ]
