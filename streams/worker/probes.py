"""What a worker's probes answer: alive (``/healthz``) and ready (``/readyz``).

Alive is the web server answering. Ready is more: the pipeline consumes with the broker
answering, the worker owns partitions, and it makes progress. Progress is judged from
the outside, at each probe: a worker whose partitions have records waiting (lag) and
whose positions have not moved for ``ready_stall_seconds`` is stuck, not ready. A
worker that is caught up (no lag) is ready however long it has had nothing to do.

>>> w = ProgressWatch(stall_seconds=60)
>>> w.stalled_for({"p0": 10}, lag=5, now=0.0)
0.0
>>> w.stalled_for({"p0": 10}, lag=5, now=61.0)
61.0
>>> w.stalled_for({"p0": 11}, lag=4, now=62.0)
0.0
>>> w.stalled_for({"p0": 11}, lag=0, now=200.0)
0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProgressWatch:
    """Seconds a worker has had lag without its positions moving."""

    def __init__(self, stall_seconds: float) -> None:
        self.stall_seconds = stall_seconds
        self._positions: dict[Any, int] = {}
        self._moved_at: float | None = None

    def stalled_for(self, positions: Mapping[Any, int], lag: int, now: float) -> float:
        """Seconds since the positions last moved while records wait; 0 when they moved
        since the last call, when nothing waits, or at the first call."""
        if self._moved_at is None or lag <= 0 or dict(positions) != self._positions:
            self._moved_at = now
        self._positions = dict(positions)
        return now - self._moved_at

    def stalled(self, positions: Mapping[Any, int], lag: int, now: float) -> bool:
        """True when :meth:`stalled_for` reaches ``stall_seconds``."""
        return self.stalled_for(positions, lag, now) >= self.stall_seconds


class _Broker(Protocol):
    @property
    def is_up(self) -> bool: ...

    def outage_s(self) -> float: ...


@dataclass
class Readiness:
    """One answer of ``/readyz``: ready or not, and why in a few words."""

    ready: bool
    reason: str
    details: dict[str, float] = field(default_factory=dict)


def readiness(*, consuming: bool, broker: _Broker, positions: Mapping[Any, int],
              lag: int, watch: ProgressWatch, now: float) -> Readiness:
    """The readiness of a worker from what its runtime knows.

    >>> class Up:
    ...     is_up = True
    ...     def outage_s(self) -> float: return 0.0
    >>> w = ProgressWatch(30)
    >>> readiness(consuming=True, broker=Up(), positions={}, lag=0, watch=w, now=0).reason
    'no partitions assigned'
    >>> readiness(consuming=True, broker=Up(), positions={"p": 1}, lag=3, watch=w, now=1).ready
    True
    >>> r = readiness(consuming=True, broker=Up(), positions={"p": 1}, lag=3, watch=w, now=40)
    >>> r.ready, r.reason
    (False, '3 records waiting and none processed for 39 s')
    """
    if not broker.is_up:
        return Readiness(False, f"Kafka unreachable for {broker.outage_s():.0f} s")
    if not consuming:
        return Readiness(False, "not consuming")
    if not positions:
        return Readiness(False, "no partitions assigned")
    stalled = watch.stalled_for(positions, lag, now)
    details = {"partitions": float(len(positions)), "lag": float(lag),
               "stalled_seconds": round(stalled, 1)}
    if stalled >= watch.stall_seconds:
        return Readiness(False, f"{lag} records waiting and none processed for {stalled:.0f} s",
                         details)
    return Readiness(True, "consuming", details)
