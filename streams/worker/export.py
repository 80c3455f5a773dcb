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
    exported: dict[int, set[tuple[Any, tuple[str, ...]]]] = field(default_factory=dict)
    """Per detection shard, every (gauge, label values) it set: what to drop when the
    shard moves to another worker, so a sum across workers counts each series once."""

    def _g(self, gauge: Any, *labels: str) -> Any:
        """``gauge.labels(*labels)``, remembered as exported by the current shard."""
        self.exported.setdefault(self.owner, set()).add((gauge, labels))
        return gauge.labels(*labels)

    def _drop(self, gauge: Any, *labels: str) -> None:
        """Remove a series this exporter set, and forget it was set (items leaving the top)."""
        _remove(gauge, *labels)
        for done in self.exported.values():
            done.discard((gauge, labels))

    def forget_shard(self, shard: int) -> int:
        """Drop every series the shard exported (it now belongs to another worker); the
        number dropped."""
        gone = self.exported.pop(shard, set())
        still = set().union(*self.exported.values()) if self.exported else set()
        for gauge, labels in gone - still:
            _remove(gauge, *labels)
        items = {lab[-1] for g, lab in gone if g is DETECTOR_SCORE}
        self.items = {k: v for k, v in self.items.items() if k not in items}
        return len(gone - still)

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
                    self._g(ITEM_DAYS_OF_SUPPLY, *series.fields).set(value)
                continue
            port = series.place if series.place is not None else ""
            self._g(SERIES_VALUE, key).set(value)
            terminal = series.detail if series.detail is not None else "all"
            if fam == "vessels_waiting":
                self._g(VESSELS_WAITING, port).set(value)
            elif fam == "arrivals":
                self._g(VESSEL_ARRIVALS, port).set(value)
            elif fam == "departures":
                self._g(VESSEL_DEPARTURES, port).set(value)
            elif fam in ("wait_p50", "wait_p90"):
                self._g(VESSEL_WAIT, port, "0.5" if fam == "wait_p50" else "0.9").set(value * HOUR)
            elif fam == "boxes_on_terminal":
                self._g(BOXES_ON_TERMINAL, port, terminal).set(value)
            elif fam in ("past_truck_limit", "past_rail_limit"):
                self._g(BOXES_PAST_LIMIT, port, terminal, fam.split("_")[1]).set(value)
            elif fam in _DWELL:
                mode, q = _DWELL[fam]
                self._g(CONTAINER_DWELL, port, terminal, mode, q).set(value * DAY)
            elif fam in ("days_of_supply_p10", "days_of_supply_p50"):
                self._g(DAYS_OF_SUPPLY, port, "0.1" if fam.endswith("p10") else "0.5").set(value)
            elif fam == "below_limit":
                self._g(ITEMS_BELOW_LIMIT, port).set(value)

    def _event_time(self, points: FeaturePoints) -> None:
        """Newest interval end per port or region, from its vessel and container series."""
        for key, (end, _value) in _latest(points).items():
            series = SeriesKey.parse(key)
            port = series.place
            if port is None or series.family not in _TRACKED:
                continue
            if end > self.event_time.get(port, 0):
                self.event_time[port] = end
                EVENT_TIME.labels(port).set(end)

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
                        candidates[key] = _ItemState(score, float(cols["value"][i]), route)
                    continue
                self._detector(route, key, ts, cols, i)
        self._rank_items(candidates)

    def _detector(self, route: str, key: str, ts: float, cols: dict[str, np.ndarray],
                  i: int) -> None:
        score = float(cols["score"][i])
        if math.isfinite(score):
            self._g(DETECTOR_SCORE, route, key).set(score)
        if route == "composite":
            self._g(DISRUPTION_INDEX, SeriesKey.parse(key).place or "").set(float(cols["value"][i]))
            return
        for gauge, name in ((DETECTOR_EXPECTED, "expected"), (DETECTOR_LOWER, "lower"),
                            (DETECTOR_UPPER, "upper")):
            v = float(cols[name][i]) if name in cols else math.nan
            if math.isfinite(v):
                self._g(gauge, route, key).set(v)
        if route in TREND_ROUTES:
            self._g(DETECTOR_LIMIT, route, key).set(self.config.limit_of(route, key))
            crossing = float(cols["crossing"][i])
            if math.isfinite(crossing) and crossing > ts:
                self._g(DETECTOR_CROSSING, route, key).set(crossing)
            else:
                _remove(DETECTOR_CROSSING, route, key)

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
            self._g(ITEM_DAYS_OF_SUPPLY, site, item).set(value)
            self._g(SERIES_VALUE, key).set(value)
            self._g(DETECTOR_SCORE, st.detector, key).set(st.score)
        self.items = keep
        # values of items outside the top are not needed any more
        self.item_values = {k: v for k, v in self.item_values.items() if k in keep}

    # -- alerts

    def alert(self, a: AlertTransition) -> None:
        if is_item(a.series):
            return  # item alerts go to Alertmanager and the topic, not to labels
        firing = a.state == "firing"
        self._g(ALERT_ACTIVE, a.detector, a.series, a.severity).set(1.0 if firing else 0.0)
        self._g(ALERT_SINCE, a.detector, a.series, a.severity).set(a.since if firing else 0.0)


def _remove(gauge: object, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)  # type: ignore[attr-defined]
