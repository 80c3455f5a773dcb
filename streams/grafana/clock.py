"""Event time of a series' wall times, per port, from the workers' event-time gauge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.grafana.prometheus import series_arrays
from streams.series import place_of


def port_of(labels: dict[str, str]) -> str | None:
    """The port (or region) a series is about: its ``port`` label, else the second field
    of its ``series`` key (``family|PORT[|TERMINAL]``), else None.

    >>> port_of({"port": "USLAX"}), port_of({"series": "dwell_truck_p90|USLGB|LBCT"})
    ('USLAX', 'USLGB')
    >>> port_of({"topic": "berthwatch.positions"}) is None
    True
    """
    if labels.get("port"):
        return labels["port"]
    return place_of(labels.get("series", "")) or None


def to_event_time(ts: np.ndarray, clock_ts: np.ndarray, clock_event: np.ndarray) -> np.ndarray:
    """Event time of each wall time ``ts``, interpolated linearly between the clock's
    samples (wall time ``clock_ts`` -> event time ``clock_event``); NaN outside the clock.

    >>> to_event_time(np.array([5.0, 15.0, 30.0]), np.array([10.0, 20.0]),
    ...               np.array([1000.0, 2000.0])).tolist()
    [nan, 1500.0, nan]
    """
    out = np.full(ts.shape, np.nan)
    ok = np.isfinite(clock_event) & (clock_event > 0)
    if ok.sum() == 0:
        return out
    cts, cev = clock_ts[ok], clock_event[ok]
    inside = (ts >= cts[0]) & (ts <= cts[-1])
    out[inside] = np.interp(ts[inside], cts, cev)
    return out


@dataclass
class EventClock:
    """Wall time -> event time per port, from ``berthwatch_event_time_seconds`` samples."""

    ports: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_matrix(cls, matrix: list[dict[str, Any]]) -> EventClock:
        """From a range query of ``max by (port) (berthwatch_event_time_seconds)``."""
        ports = {}
        for s in matrix:
            port = s["metric"].get("port")
            if port:
                ts, vals = series_arrays(s["values"])
                ports[port] = (ts, vals)
        return cls(ports)

    def newest(self) -> tuple[np.ndarray, np.ndarray]:
        """The newest event time of any port at each wall time (for series of no port)."""
        if not self.ports:
            return np.array([]), np.array([])
        ts = np.unique(np.concatenate([t for t, _ in self.ports.values()]))
        ev = np.full(ts.shape, -np.inf)
        for t, v in self.ports.values():
            ev[np.searchsorted(ts, t)] = np.maximum(ev[np.searchsorted(ts, t)], v)
        return ts, np.where(np.isfinite(ev), ev, np.nan)

    def map(self, labels: dict[str, str], ts: np.ndarray) -> np.ndarray:
        """Event time of the wall times ``ts`` of a series with ``labels``."""
        port = port_of(labels)
        clock = self.ports[port] if port in self.ports else self.newest()
        return to_event_time(ts, *clock)
