"""What the detection stage produces: explained alert transitions and per-point scores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.times import iso

F64 = NDArray[np.float64]

@dataclass(frozen=True)
class AlertTransition:
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
    """Composite alerts: (component series, contribution, share), largest first; grouped
    supply alerts: (item series, days of supply, score), worst first."""
    kind: str = ""
    """The kind of change seen: spike, dip, level, ramp, variance, flatline, stoppage
    (the ``changes`` route); trend or past_limit (limit routes); "" when none is named."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlertTransition:
        """The transition of an :meth:`as_dict` document (missing numbers as null or
        absent ``kind`` read as NaN and "")."""

        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        return cls(
            key=d["key"], state=d["state"], series=d["series"], detector=d["detector"],
            severity=d["severity"], ts=float(d["ts"]), since=float(d["since"]),
            value=num(d["value"]), expected=num(d["expected"]), score=num(d["score"]),
            limit=num(d["limit"]), eta_seconds=num(d["eta_seconds"]),
            eta_lower=num(d["eta_lower"]), eta_upper=num(d["eta_upper"]),
            crossing_ts=num(d["crossing_ts"]), explanation=d["explanation"],
            components=tuple((str(c[0]), float(c[1]), float(c[2])) for c in d["components"]),
            kind=str(d.get("kind", "")),
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["components"] = [list(c) for c in self.components]
        for k, v in list(d.items()):
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["ts_iso"], d["since_iso"] = iso(self.ts), iso(self.since)
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

    alerts: list[AlertTransition] = field(default_factory=list)
    scores: PointScores = field(default_factory=PointScores)
    intervals: int = 0

    def __add__(self, other: StageOutput) -> StageOutput:
        s = PointScores()
        s.extend(self.scores)
        s.extend(other.scores)
        return StageOutput(self.alerts + other.alerts, s, self.intervals + other.intervals)
