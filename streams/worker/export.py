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
                    ITEM_DAYS_OF_SUPPLY.labels(*series.fields).set(value)
                continue
            port = series.place if series.place is not None else ""
            SERIES_VALUE.labels(key).set(value)
            terminal = series.detail if series.detail is not None else "all"
            if fam == "vessels_waiting":
                VESSELS_WAITING.labels(port).set(value)
            elif fam == "arrivals":
                VESSEL_ARRIVALS.labels(port).set(value)
            elif fam == "departures":
                VESSEL_DEPARTURES.labels(port).set(value)
            elif fam in ("wait_p50", "wait_p90"):
                VESSEL_WAIT.labels(port, "0.5" if fam == "wait_p50" else "0.9").set(value * HOUR)
            elif fam == "boxes_on_terminal":
                BOXES_ON_TERMINAL.labels(port, terminal).set(value)
            elif fam in ("past_truck_limit", "past_rail_limit"):
                BOXES_PAST_LIMIT.labels(port, terminal, fam.split("_")[1]).set(value)
            elif fam in _DWELL:
                mode, q = _DWELL[fam]
                CONTAINER_DWELL.labels(port, terminal, mode, q).set(value * DAY)
            elif fam in ("days_of_supply_p10", "days_of_supply_p50"):
                DAYS_OF_SUPPLY.labels(port, "0.1" if fam.endswith("p10") else "0.5").set(value)
            elif fam == "below_limit":
                ITEMS_BELOW_LIMIT.labels(port).set(value)

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
            DETECTOR_SCORE.labels(route, key).set(score)
        if route == "composite":
            DISRUPTION_INDEX.labels(SeriesKey.parse(key).place).set(float(cols["value"][i]))
            return
        for gauge, name in ((DETECTOR_EXPECTED, "expected"), (DETECTOR_LOWER, "lower"),
                            (DETECTOR_UPPER, "upper")):
            v = float(cols[name][i]) if name in cols else math.nan
            if math.isfinite(v):
                gauge.labels(route, key).set(v)
        if route in TREND_ROUTES:
            DETECTOR_LIMIT.labels(route, key).set(self.config.limit_of(route, key))
            crossing = float(cols["crossing"][i])
            if math.isfinite(crossing) and crossing > ts:
                DETECTOR_CROSSING.labels(route, key).set(crossing)
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
                _remove(ITEM_DAYS_OF_SUPPLY, site, item)
                _remove(DETECTOR_SCORE, st.detector, key)
                _remove(SERIES_VALUE, key)
        for key, st in keep.items():
            site, item = SeriesKey.parse(key).fields
            value = self.item_values.get(key, st.value)
            ITEM_DAYS_OF_SUPPLY.labels(site, item).set(value)
            SERIES_VALUE.labels(key).set(value)
            DETECTOR_SCORE.labels(st.detector, key).set(st.score)
        self.items = keep
        # values of items outside the top are not needed any more
        self.item_values = {k: v for k, v in self.item_values.items() if k in keep}

    # -- alerts

    @staticmethod
    def alert(a: AlertTransition) -> None:
        if is_item(a.series):
            return  # item alerts go to Alertmanager and the topic, not to labels
        firing = a.state == "firing"
        ALERT_ACTIVE.labels(a.detector, a.series, a.severity).set(1.0 if firing else 0.0)
        ALERT_SINCE.labels(a.detector, a.series, a.severity).set(a.since if firing else 0.0)


def _remove(gauge: object, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)  # type: ignore[attr-defined]
