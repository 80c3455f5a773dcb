"""The walking skeleton's feature and rule: vessels at anchor per port.

A deliberately small stand-in that crosses every part of the system once
(topic -> worker -> metric -> Prometheus, and -> alert -> Alertmanager). Records
are JSON objects ``{"mmsi", "port", "nav_status", "time"}``; a vessel counts as
waiting while its latest report says "at anchor" (navigational status 1) and is
less than ``horizon`` seconds old in event time. The feature and detector stages
of the workers replace it.

>>> q = AnchorQueue(threshold=1)
>>> out = q.process([b'{"mmsi": 367000001, "port": "USLAX", "nav_status": 1, "time": 100}',
...                  b'{"mmsi": 367000002, "port": "USLAX", "nav_status": 1, "time": 160}'])
>>> out.waiting, [a.name for a in out.alerts]
({'USLAX': 2}, ['BerthwatchSkeletonQueue'])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from streams.alerting import Alert

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


def _parse(raw: bytes) -> tuple[int, str, int, float]:
    obj = json.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("record is not a JSON object")
    mmsi, port, status, when = obj["mmsi"], obj["port"], obj["nav_status"], obj["time"]
    if not isinstance(mmsi, int) or not 100_000_000 <= mmsi <= 999_999_999:
        raise ValueError(f"mmsi must be a 9-digit integer, got {mmsi!r}")
    if not isinstance(port, str) or len(port) != 5:
        raise ValueError(f"port must be a UN/LOCODE, got {port!r}")
    if isinstance(when, str):
        ts = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    else:
        ts = float(when)
    if not math.isfinite(ts):
        raise ValueError("time is not finite")
    return mmsi, port, int(status), ts


class AnchorQueue:
    """Latest status per vessel, counted per port, with a threshold alert per port."""

    def __init__(self, threshold: int, horizon: float = 6 * 3600.0) -> None:
        self.threshold = threshold
        self.horizon = horizon
        self.last: dict[int, tuple[str, int, float]] = {}
        self.firing: dict[str, Alert] = {}

    def process(self, values: list[bytes]) -> BatchResult:
        out = BatchResult()
        touched: set[str] = set()
        for i, raw in enumerate(values):
            try:
                mmsi, port, status, ts = _parse(raw)
            except (ValueError, KeyError, TypeError) as e:
                kind = "missing_field" if isinstance(e, KeyError) else "bad_record"
                out.rejected.append(Rejected(i, kind, f"{type(e).__name__}: {e}"[:300]))
                continue
            prev = self.last.get(mmsi)
            if prev is None or ts >= prev[2]:
                self.last[mmsi] = (port, status, ts)
            touched.add(port)
            out.event_time[port] = max(out.event_time.get(port, ts), ts)
        for port in sorted(touched):
            now = out.event_time[port]
            count = sum(
                1
                for p, status, ts in self.last.values()
                if p == port and status == AT_ANCHOR and now - ts <= self.horizon
            )
            out.waiting[port] = count
            out.alerts.extend(self._decide(port, count, now))
        return out

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
                    f"{count} vessels report 'at anchor' at {port}, at or above the "
                    f"threshold of {self.threshold}."
                ),
                starts_at=now,
            )
            self.firing[port] = alert
            return [alert]
        if count < self.threshold and port in self.firing:
            alert = self.firing.pop(port)
            alert.ends_at = now
            return [alert]
        return []
