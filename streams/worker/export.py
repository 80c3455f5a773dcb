"""From feature points, detector scores and alerts to the gauges of ``/metrics``.

Only the latest value of each series is exported (Prometheus keeps the history).
Port, terminal, region and site series are bounded by the geography and the
sites; item series (``site|item``) can number in the millions, so only the
``top`` most anomalous ones (highest latest score of any route) carry item
labels, and an item that drops out of the top loses its series.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.detection import TREND_ROUTES, AlertTransition, PipelineConfig, StageOutput
from streams.features import FeaturePoints
from streams.metrics import (
    ALERT_ACTIVE,
    ALERT_SINCE,
    BOXES_ON_TERMINAL,
    BOXES_PAST_LIMIT,
    CONTAINER_DWELL,
    DAYS_OF_SUPPLY,
    DETECTOR_CROSSING,
    DETECTOR_EXPECTED,
    DETECTOR_LIMIT,
    DETECTOR_LOWER,
    DETECTOR_SCORE,
    DETECTOR_UPPER,
    DISRUPTION_INDEX,
    EVENT_TIME,
    ITEM_DAYS_OF_SUPPLY,
    ITEMS_BELOW_LIMIT,
    SERIES_VALUE,
    VESSEL_ARRIVALS,
    VESSEL_DEPARTURES,
    VESSEL_WAIT,
    VESSELS_WAITING,
)
from streams.series import SeriesKey, family_of

#: the gauges a detection shard exports, by their names in a checkpoint (:meth:`Exporter.dump`)
_SHARD_GAUGES = (BOXES_ON_TERMINAL, BOXES_PAST_LIMIT, CONTAINER_DWELL, DAYS_OF_SUPPLY,
                 DETECTOR_CROSSING, DETECTOR_EXPECTED, DETECTOR_LIMIT, DETECTOR_LOWER,
                 DETECTOR_SCORE, DETECTOR_UPPER, DISRUPTION_INDEX, EVENT_TIME, ITEM_DAYS_OF_SUPPLY,
                 ITEMS_BELOW_LIMIT, SERIES_VALUE, VESSEL_ARRIVALS, VESSEL_DEPARTURES,
                 VESSEL_WAIT, VESSELS_WAITING)
_BY_NAME: dict[str, Any] = {g._name: g for g in _SHARD_GAUGES}
_NAME: dict[int, str] = {id(g): name for name, g in _BY_NAME.items()}

HOUR = 3600.0
DAY = 86400.0
#: how far back (event time) an output's score chunks are read for the latest values
RECENT_S = 2 * DAY

_VESSEL_FAMILIES = {"vessels_waiting", "arrivals", "departures", "wait_p50", "wait_p90"}
_DWELL = {
    "dwell_p50": ("any", "0.5"), "dwell_p90": ("any", "0.9"),
    "dwell_truck_p50": ("truck", "0.5"), "dwell_truck_p90": ("truck", "0.9"),
    "dwell_rail_p50": ("rail", "0.5"), "dwell_rail_p90": ("rail", "0.9"),
}  # fmt: skip
_CONTAINER_FAMILIES = {"boxes_on_terminal", "past_truck_limit", "past_rail_limit", *_DWELL}
_TRACKED = _VESSEL_FAMILIES | _CONTAINER_FAMILIES


def is_item(key: str) -> bool:
    """Item series: ``days_of_supply|SITE|ITEM`` and ``drawdown|SITE|ITEM``.

    >>> is_item("days_of_supply|LAX-DC|SEMI-01"), is_item("dwell_p90|USLAX|APMT")
    (True, False)
    """
    return family_of(key) in ("days_of_supply", "drawdown") and key.count("|") == 2


def _latest(points: FeaturePoints) -> dict[str, tuple[int, float]]:
    """Last (end, value) of every key (points are sorted by end, then key)."""
    if not len(points.key):
        return {}
    rev = points.key[::-1]
    _, first = np.unique(rev, return_index=True)
    idx = len(points.key) - 1 - first
    return {
        points.key[i].decode(): (int(points.end_s[i]), float(points.value[i]))
        for i in idx.tolist()
    }


@dataclass
class _ItemState:
    score: float
    value: float
    detector: str
    shard: int = -1
    """The detection shard the item's series belongs to (its gauges are that shard's)."""


@dataclass
class Exporter:
    """Sets the domain gauges; keeps the item top-N and the event time of each port."""

    config: PipelineConfig
    top: int = 20
    items: dict[str, _ItemState] = field(default_factory=dict)
    item_values: dict[str, float] = field(default_factory=dict)
    event_time: dict[str, int] = field(default_factory=dict)
    owner: int = -1
    """The detection shard whose output is being exported (set by the worker)."""
    exported: dict[int, dict[tuple[Any, tuple[str, ...]], float]] = field(default_factory=dict)
    """Per detection shard, every (gauge, label values) it set and the value: what to drop
    when the shard moves to another worker (so a sum across workers counts each series
    once), and what its checkpoint carries to the next owner (:meth:`dump`)."""

    def _set(self, gauge: Any, value: float, *labels: str, shard: int | None = None) -> None:
        """``gauge.labels(*labels).set(value)``, remembered as exported by ``shard`` (by
        default the current one)."""
        owner = self.owner if shard is None else shard
        self.exported.setdefault(owner, {})[(gauge, labels)] = value
        gauge.labels(*labels).set(value)

    def _drop(self, gauge: Any, *labels: str) -> None:
        """Remove a series this exporter set, and forget it was set (items leaving the top)."""
        _remove(gauge, *labels)
        for done in self.exported.values():
            done.pop((gauge, labels), None)

    def forget_shard(self, shard: int) -> int:
        """Drop every series the shard exported (it now belongs to another worker); the
        number dropped."""
        gone = set(self.exported.pop(shard, {}))
        still = set().union(*self.exported.values()) if self.exported else set()
        for gauge, labels in gone - still:
            _remove(gauge, *labels)
        items = {lab[-1] for g, lab in gone if g is DETECTOR_SCORE}
        self.items = {k: v for k, v in self.items.items() if k not in items}
        return len(gone - still)

    def dump(self, shard: int) -> list[list[Any]]:
        """What ``shard`` exports now, as JSON-ready ``[gauge name, labels, value]`` rows
        (alert gauges left out: the new owner rebuilds them from the alerts topic)."""
        rows = [[_NAME[id(g)], list(labels), value]
                for (g, labels), value in self.exported.get(shard, {}).items() if id(g) in _NAME]
        return sorted(rows, key=lambda row: (row[0], row[1]))

    def load(self, shard: int, rows: list[list[Any]]) -> None:
        """Export again what :meth:`dump` gave, as ``shard``'s: a worker that takes the
        shard over shows its series at once rather than at the next interval."""
        self.owner = shard
        for name, labels, value in rows:
            gauge = _BY_NAME.get(name)
            if gauge is None:
                continue  # a gauge this version no longer has
            self._set(gauge, float(value), *labels)
            if gauge is SERIES_VALUE and is_item(labels[0]):
                self.item_values[labels[0]] = float(value)
            elif gauge is DETECTOR_SCORE and is_item(labels[-1]):
                self.items[labels[-1]] = _ItemState(float(value), math.nan, labels[0], shard)
        for key, st in self.items.items():
            st.value = self.item_values.get(key, st.value)

    # -- feature points

    def points(self, points: FeaturePoints) -> None:
        if len(points.end_s):
            self._event_time(points)
        # NaN is "no ship berthed, no box left this hour": keep the last known value
        known = ~np.isnan(points.value)
        finite = FeaturePoints(points.key[known], points.end_s[known], points.value[known])
        for key, (_end, value) in _latest(finite).items():
            series = SeriesKey.parse(key)
            fam = series.family
            if is_item(key):
                self.item_values[key] = value
                if key in self.items:
                    self.items[key].value = value
                    self._set(ITEM_DAYS_OF_SUPPLY, value, *series.fields)
                continue
            port = series.place if series.place is not None else ""
            self._set(SERIES_VALUE, value, key)
            terminal = series.detail if series.detail is not None else "all"
            if fam == "vessels_waiting":
                self._set(VESSELS_WAITING, value, port)
            elif fam == "arrivals":
                self._set(VESSEL_ARRIVALS, value, port)
            elif fam == "departures":
                self._set(VESSEL_DEPARTURES, value, port)
            elif fam in ("wait_p50", "wait_p90"):
                self._set(VESSEL_WAIT, value * HOUR, port, "0.5" if fam == "wait_p50" else "0.9")
            elif fam == "boxes_on_terminal":
                self._set(BOXES_ON_TERMINAL, value, port, terminal)
            elif fam in ("past_truck_limit", "past_rail_limit"):
                self._set(BOXES_PAST_LIMIT, value, port, terminal, fam.split("_")[1])
            elif fam in _DWELL:
                mode, q = _DWELL[fam]
                self._set(CONTAINER_DWELL, value * DAY, port, terminal, mode, q)
            elif fam in ("days_of_supply_p10", "days_of_supply_p50"):
                self._set(DAYS_OF_SUPPLY, value, port, "0.1" if fam.endswith("p10") else "0.5")
            elif fam == "below_limit":
                self._set(ITEMS_BELOW_LIMIT, value, port)

    def _event_time(self, points: FeaturePoints) -> None:
        """Newest interval end per port or region, from its vessel and container series."""
        for key, (end, _value) in _latest(points).items():
            series = SeriesKey.parse(key)
            port = series.place
            if port is None or series.family not in _TRACKED:
                continue
            if end > self.event_time.get(port, 0):
                self.event_time[port] = end
                self._set(EVENT_TIME, end, port)

    # -- detector scores

    def scores(self, out: StageOutput) -> None:
        chunks = out.scores.chunks
        if not chunks:
            return
        newest = chunks[-1][1]
        seen: set[tuple[str, str]] = set()
        candidates: dict[str, _ItemState] = {}
        for route, ts, keys, cols, _level in reversed(chunks):
            if ts < newest - RECENT_S:
                break
            for i, key in enumerate(keys):
                if (route, key) in seen:
                    continue
                seen.add((route, key))
                score = float(cols["score"][i])
                if is_item(key):
                    best = candidates.get(key)
                    if math.isfinite(score) and (best is None or score > best.score):
                        candidates[key] = _ItemState(score, float(cols["value"][i]), route,
                                                     self.owner)
                    continue
                self._detector(route, key, ts, cols, i)
        self._rank_items(candidates)

    def _detector(self, route: str, key: str, ts: float, cols: dict[str, np.ndarray],
                  i: int) -> None:
        score = float(cols["score"][i])
        if math.isfinite(score):
            self._set(DETECTOR_SCORE, score, route, key)
        if route == "composite":
            self._set(DISRUPTION_INDEX, float(cols["value"][i]), SeriesKey.parse(key).place or "")
            return
        for gauge, name in ((DETECTOR_EXPECTED, "expected"), (DETECTOR_LOWER, "lower"),
                            (DETECTOR_UPPER, "upper")):
            v = float(cols[name][i]) if name in cols else math.nan
            if math.isfinite(v):
                self._set(gauge, v, route, key)
        if route in TREND_ROUTES:
            self._set(DETECTOR_LIMIT, self.config.limit_of(route, key), route, key)
            crossing = float(cols["crossing"][i])
            if math.isfinite(crossing) and crossing > ts:
                self._set(DETECTOR_CROSSING, crossing, route, key)
            else:
                self._drop(DETECTOR_CROSSING, route, key)

    def _rank_items(self, candidates: dict[str, _ItemState]) -> None:
        if self.top == 0:
            return
        pool = {**self.items, **candidates}
        ranked = sorted(pool.items(), key=lambda kv: (-kv[1].score, kv[0]))[: self.top]
        keep = dict(ranked)
        for key, st in self.items.items():
            if key not in keep:
                site, item = SeriesKey.parse(key).fields
                self._drop(ITEM_DAYS_OF_SUPPLY, site, item)
                self._drop(DETECTOR_SCORE, st.detector, key)
                self._drop(SERIES_VALUE, key)
        for key, st in keep.items():
            site, item = SeriesKey.parse(key).fields
            value = self.item_values.get(key, st.value)
            # the top spans the shards: each item's series stay with its own shard
            self._set(ITEM_DAYS_OF_SUPPLY, value, site, item, shard=st.shard)
            self._set(SERIES_VALUE, value, key, shard=st.shard)
            self._set(DETECTOR_SCORE, st.score, st.detector, key, shard=st.shard)
        self.items = keep
        # values of items outside the top are not needed any more
        self.item_values = {k: v for k, v in self.item_values.items() if k in keep}

    # -- alerts

    def alert(self, a: AlertTransition) -> None:
        if is_item(a.series):
            return  # item alerts go to Alertmanager and the topic, not to labels
        firing = a.state == "firing"
        self._set(ALERT_ACTIVE, 1.0 if firing else 0.0, a.detector, a.series, a.severity)
        self._set(ALERT_SINCE, a.since if firing else 0.0, a.detector, a.series, a.severity)


def _remove(gauge: object, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)  # type: ignore[attr-defined]
