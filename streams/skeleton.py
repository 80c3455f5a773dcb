"""The walking skeleton's feature and rule: vessels at anchor per port.

A deliberately small stand-in that crosses every part of the system once
(canonical positions topic -> worker -> metric -> Prometheus, and -> alert ->
Alertmanager). A batch of canonical position messages is decoded and validated
as a whole (bad ones are returned for the dead-letter topic); a vessel counts
as at anchor at a port while its latest report is inside one of the port's
anchorage polygons with navigational status 1 ("at anchor") or a speed under
half a knot, and is at most ``horizon`` seconds older, in event time, than the
port's latest report. The alert fires at ``threshold`` ships and resolves only
below 80% of it (hysteresis, so a count hovering at the threshold does not flap).
The feature and detector stages of the workers replace it.

>>> from streams.feeds.codec import encode
>>> from streams.feeds.results import PositionRecord
>>> q = AnchorQueue(threshold=1)
>>> wire = encode([PositionRecord(1_634_299_200_000, 367000001, 33.696, -118.235, 0.1,
...                               nav_status=1)])
>>> out = q.process(wire + [b"junk"])
>>> out.waiting["USLAX"], [a.name for a in out.alerts], [r.reason for r in out.rejected]
(1, ['BerthwatchSkeletonQueue'], ['bad_length'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from streams.alerting import Alert
from streams.feeds.codec import Kind, decode_batch, validate_batch
from streams.geo import Geography, load_geography

AT_ANCHOR = 1


@dataclass
class Rejected:
    index: int
    reason: str
    message: str


@dataclass
class BatchResult:
    waiting: dict[str, int] = field(default_factory=dict)
    event_time: dict[str, float] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class AnchorQueue:
    """Latest report per vessel, geofenced to a port's anchorages, with a threshold alert."""

    def __init__(self, threshold: int, horizon: float = 6 * 3600.0,
                 geography: Geography | None = None) -> None:
        self.threshold = threshold
        self.horizon = horizon
        geo = geography or load_geography()
        self.areas: dict[str, BaseGeometry] = {}
        for region in geo.regions.values():
            for code in region.ports:
                polys = [a.polygon for a in region.anchorages if a.port == code]
                if polys:
                    self.areas[code] = shapely.union_all(polys)
        for area in self.areas.values():
            shapely.prepare(area)
        # latest report per vessel: mmsi -> (port or "", anchored, ts seconds)
        self.last: dict[int, tuple[str, bool, float]] = {}
        self.firing: dict[str, Alert] = {}

    def process(self, values: list[bytes]) -> BatchResult:
        out = BatchResult()
        batch = decode_batch(values, Kind.POSITION)
        out.rejected.extend(Rejected(i, r.reason.value, r.message) for i, r in batch.rejections)
        kept = batch.kept_index(len(values))
        records = batch.records
        check = validate_batch(records, Kind.POSITION)
        bad = np.flatnonzero(~check.ok)
        for j in bad:
            out.rejected.append(Rejected(int(kept[j]), str(check.reasons[j]),
                                         f"canonical position failed {check.reasons[j]}"))
        out.rejected.sort(key=lambda r: r.index)
        good = records[check.ok]
        if len(good) == 0:
            return out
        port = self._port_of(good)
        anchored = (good["nav_status"] == AT_ANCHOR) | (good["sog"] < 0.5)
        touched: set[str] = set()
        ts_all = good["ts_ms"] / 1000.0
        for mmsi, where, anch, ts in zip(good["mmsi"].tolist(), port.tolist(),
                                         anchored.tolist(), ts_all.tolist(), strict=True):
            prev = self.last.get(mmsi)
            if prev is None or ts >= prev[2]:
                if prev is not None and prev[0]:
                    touched.add(prev[0])
                self.last[mmsi] = (where, bool(anch), ts)
            if where:
                touched.add(where)
                out.event_time[where] = max(out.event_time.get(where, ts), ts)
        for code in sorted(touched):
            now = out.event_time.get(code, max(ts_all))
            count = sum(1 for p, anch, ts in self.last.values()
                        if p == code and anch and now - ts <= self.horizon)
            out.waiting[code] = count
            out.event_time.setdefault(code, now)
            out.alerts.extend(self._decide(code, count, now))
        return out

    def _port_of(self, rec: Any) -> np.ndarray[Any, np.dtype[Any]]:
        port = np.full(len(rec), "", dtype="<U5")
        for code, area in self.areas.items():
            inside = shapely.contains_xy(area, rec["lon"], rec["lat"])
            port[inside & (port == "")] = code
        return port

    def _decide(self, port: str, count: int, now: float) -> list[Alert]:
        key = f"skeleton-queue-{port}"
        if count >= self.threshold and port not in self.firing:
            alert = Alert(
                key=key,
                name="BerthwatchSkeletonQueue",
                severity="warning",
                labels={"port": port, "detector": "threshold"},
                summary=f"{count} vessels at anchor at {port}",
                description=(
                    f"{count} vessels are at anchor in the anchorages of {port}, at or above "
                    f"the threshold of {self.threshold}."
                ),
                starts_at=now,
            )
            self.firing[port] = alert
            return [alert]
        if count < 0.8 * self.threshold and port in self.firing:
            alert = self.firing.pop(port)
            return [Alert(**{**alert.__dict__, "ends_at": now})]
        return []
