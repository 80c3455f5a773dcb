"""Alert policy: turns scores into firing and resolved transitions.

Scoring and deciding are separate: a detector scores, the policy decides.
Per series and severity the policy keeps a small state machine, driven only
by event time and scores, so a replay at any speed and any batching gives
the same transitions:

* **fire** when at least ``k`` of the last ``n`` scores reached the
  severity's ``fire`` threshold (persistence), the series is past the
  policy's ``warmup`` points, and any cool-down is over;
* **resolve** once ``resolve_after`` consecutive scores are below the lower
  ``resolve`` threshold (hysteresis); a cool-down (quiet period) of ``cooldown``
  seconds of event time then blocks re-firing, unless ``worse`` is set and the
  value got clearly worse: at least ``worse`` beyond the worst value of the last
  episode, in the policy's ``direction`` (+1: higher is worse, -1: lower), or
  ``rearm = (s, m)`` is set and the series clearly recovered: ``m`` consecutive
  scores below ``s`` (with ``rearm_value``: ``m`` consecutive values back on the
  good side of it) end the quiet period (a series hovering about its threshold
  never does; one that went back to normal can warn of the next event).

Severities are independent (a critical alert can be active together with a
warning; routing and inhibition are the alert manager's business). Points
whose value or score is NaN are skipped. Alert keys are stable: a short hash
of series key, detector and severity.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.base import Result, SeriesRegistry

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Severity:
    """A severity level: fire at ``score >= fire``, resolve below ``resolve``."""

    name: str
    fire: float
    resolve: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.resolve <= self.fire <= 1.0:
            raise ValueError(f"severity {self.name}: need 0 <= resolve <= fire <= 1")


DEFAULT_SEVERITIES = (Severity("warning", 0.8, 0.6), Severity("critical", 0.95, 0.85))

#: persistence ``(k, n)`` when none is given: 2 of 3 scores, except for detectors whose
#: scale is robust to the anomalies themselves, where one score at the threshold is already
#: strong evidence and waiting for a second one costs early warning (chosen on the tuning
#: half of the labelled series, see docs/QUALITY.md)
DEFAULT_PERSISTENCE: dict[str, tuple[int, int]] = {"robust": (1, 1), "changes": (1, 1)}


def alert_key(series: str, detector: str, severity: str) -> str:
    """Stable alert key, the same in every process and run.

    >>> alert_key("USLAX/anchor_queue", "trend", "warning")
    'd07842e427ea8263'
    """
    raw = "\x1f".join((series, detector, severity)).encode()
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:16]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Transition:
    """An alert changing state, with what an operator needs to judge it."""

    key: str  # stable alert key
    state: str  # "firing" or "resolved"
    series: str  # series key
    row: int
    detector: str
    severity: str
    ts: float  # event time of this transition
    since: float  # event time the alert started firing
    value: float
    expected: float  # the detector's baseline or forecast (NaN if none)
    score: float
    eta_seconds: float  # projected seconds until the limit is crossed (NaN if none)
    eta_lower: float
    eta_upper: float
    kind: str = ""  # the kind of change the detector saw ("" if it names none)

    @property
    def crossing_ts(self) -> float:
        """Projected event time of the limit crossing (NaN if none)."""
        return self.ts + self.eta_seconds if math.isfinite(self.eta_seconds) else math.nan

    def explanation(self) -> str:
        """One line: what series, what value against what baseline, which detector, since when.

        >>> t = Transition("k", "firing", "USLAX/anchor", 0, "trend", "warning", 86400.0, 0.0,
        ...                50.0, 49.0, 0.9, 86400.0 * 5, 86400.0 * 4, 86400.0 * 7)
        >>> for part in t.explanation().replace(": value", ";value").split(";"):
        ...     print(part.strip())
        USLAX/anchor: warning firing since 1970-01-01T00:00:00Z (trend score 0.90)
        value 50 vs expected 49
        limit projected at 1970-01-07T00:00:00Z (1970-01-06T00:00:00Z .. 1970-01-09T00:00:00Z)
        """
        seen = f"{self.detector} score {self.score:.2f}" + (f", {self.kind}" if self.kind else "")
        text = (
            f"{self.series}: {self.severity} {self.state} since {_iso(self.since)} "
            f"({seen}): value {self.value:g}"
        )
        if not math.isnan(self.expected):
            text += f" vs expected {self.expected:g}"
        if math.isfinite(self.eta_seconds):
            lo = self.ts + self.eta_lower if math.isfinite(self.eta_lower) else math.nan
            hi = self.ts + self.eta_upper if math.isfinite(self.eta_upper) else math.nan
            text += f"; limit projected at {_iso(self.crossing_ts)} ("
            text += f"{_iso(lo) if not math.isnan(lo) else '?'} .. "
            text += f"{_iso(hi) if not math.isnan(hi) else 'beyond horizon'})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "crossing_ts": self.crossing_ts, "explanation": self.explanation()}


@dataclass(frozen=True)
class PolicyResult:
    """Per point, the highest active severity after it (0 none, 1 first severity, ...;
    0 for skipped NaN points), and the transitions in input order (severities in
    their order within a point)."""

    alert: NDArray[np.int8]
    transitions: list[Transition]


_FIELDS: dict[str, tuple[str, float]] = {
    "active": ("i1", 0),
    "hits": ("u8", 0),
    "below": ("i8", 0),
    "since": ("f8", math.nan),
    "quiet_until": ("f8", -math.inf),
    "peak": ("f8", math.nan),
    "calm": ("i8", 0),
}


class AlertPolicy:
    """Thresholds, persistence, hysteresis and cool-down, vectorized over series.

    >>> pol = AlertPolicy("ewma", persistence=(2, 3), resolve_after=2, cooldown=3600.0)
    >>> score = np.array([0.1, 0.9, 0.2, 0.9, 0.3, 0.5, 0.1, 0.9, 0.9])
    >>> res = pol.evaluate(np.zeros(9, dtype=np.int64), np.arange(9) * 600.0, score, keys=["a"])
    >>> res.alert.tolist()
    [0, 0, 0, 1, 1, 0, 0, 0, 0]

    Two of three scores above 0.8 fire at 1800 s, two below 0.6 resolve at 3000 s, and
    the last two high scores fall into the hour of cool-down:

    >>> [(t.state, t.severity, t.ts, t.since) for t in res.transitions]
    [('firing', 'warning', 1800.0, 1800.0), ('resolved', 'warning', 3000.0, 1800.0)]
    """

    def __init__(
        self,
        detector: str,
        severities: Sequence[Severity] = DEFAULT_SEVERITIES,
        persistence: tuple[int, int] | None = None,
        resolve_after: int = 2,
        cooldown: float = 3600.0,
        warmup: int = 0,
        worse: float | None = None,
        direction: float = 1.0,
        rearm: tuple[float, int] | None = None,
        rearm_value: float | None = None,
    ) -> None:
        k, n = persistence or DEFAULT_PERSISTENCE.get(detector, (2, 3))
        if not 1 <= k <= n <= 64:
            raise ValueError("persistence (k, n) needs 1 <= k <= n <= 64")
        if resolve_after < 1 or cooldown < 0 or warmup < 0 or not severities:
            raise ValueError("need resolve_after >= 1, cooldown >= 0, warmup >= 0, a severity")
        if (worse is not None and not worse > 0) or direction not in (1.0, -1.0):
            raise ValueError("need worse > 0 (or None) and direction +1 or -1")
        if rearm is not None and not (0.0 <= rearm[0] <= 1.0 and rearm[1] >= 1):
            raise ValueError("need rearm (score in [0, 1], points >= 1) or None")
        self.detector = detector
        self.severities = tuple(severities)
        self.k, self.n = int(k), int(n)
        self.resolve_after, self.cooldown, self.warmup = int(resolve_after), float(cooldown), warmup
        self.worse = None if worse is None else float(worse)
        self.direction = float(direction)
        self.rearm = None if rearm is None else (float(rearm[0]), int(rearm[1]))
        self.rearm_value = None if rearm_value is None else float(rearm_value)
        self.mask = np.uint64((1 << self.n) - 1)
        m = len(self.severities)
        self.state: dict[str, NDArray[Any]] = {
            f: np.full((0, m), fill, dtype=dt) for f, (dt, fill) in _FIELDS.items()
        }
        self.count = np.zeros(0, dtype=np.int64)

    def params(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "severities": [asdict(s) for s in self.severities],
            "persistence": [self.k, self.n],
            "resolve_after": self.resolve_after,
            "cooldown": self.cooldown,
            "warmup": self.warmup,
            "worse": self.worse,
            "direction": self.direction,
            "rearm": None if self.rearm is None else list(self.rearm),
            "rearm_value": self.rearm_value,
        }

    def _grow(self, n: int) -> None:
        old = len(self.count)
        if n <= old:
            return
        cap = max(n, 2 * old, 16)
        m = len(self.severities)
        for f, (dt, fill) in _FIELDS.items():
            new = np.full((cap, m), fill, dtype=dt)
            new[:old] = self.state[f]
            self.state[f] = new
        count = np.zeros(cap, dtype=np.int64)
        count[:old] = self.count
        self.count = count

    def evaluate(
        self,
        series: ArrayLike,
        ts: ArrayLike,
        score: ArrayLike,
        *,
        keys: SeriesRegistry | Sequence[str] | None = None,
        value: ArrayLike | None = None,
        result: Result | None = None,
    ) -> PolicyResult:
        """Advance the state machines by a batch of scored points.

        ``keys`` names series rows (a registry or a list indexed by row; the
        row number is used otherwise); ``value`` and the detector ``result``
        (for ``expected`` and ``eta_*`` extras) only feed the explanations.
        """
        rows = np.asarray(series, dtype=np.int64).ravel()
        t = np.asarray(ts, dtype=np.float64).ravel()
        sc = np.asarray(score, dtype=np.float64).ravel()
        n = len(rows)
        val = np.full(n, np.nan) if value is None else np.asarray(value, np.float64).ravel()
        if not (len(t) == len(sc) == len(val) == n):
            raise ValueError("series, ts, score and value must have the same length")
        if n and rows.min() < 0:
            raise ValueError("series rows must be >= 0")
        if n:
            self._grow(int(rows.max()) + 1)
        ok = ~np.isnan(sc)
        if value is not None:
            ok &= ~np.isnan(val)
        alert = np.zeros(n, dtype=np.int8)
        # (input index, severity, +1 fire / -1 resolve, since)
        events: list[tuple[int, int, int, float]] = []
        fire = np.array([s.fire for s in self.severities])
        resolve = np.array([s.resolve for s in self.severities])
        st = self.state
        # rounds: the r-th point of each series in round r (rows unique within a round)
        idx = np.flatnonzero(ok)
        order = np.argsort(rows[idx], kind="stable")
        srows = rows[idx][order]
        start = np.ones(len(srows), dtype=bool)
        start[1:] = srows[1:] != srows[:-1]
        ar = np.arange(len(srows))
        rank = ar - np.maximum.accumulate(np.where(start, ar, 0)) if len(srows) else ar
        by_round = np.argsort(rank, kind="stable")
        bounds = np.searchsorted(rank[by_round], np.arange(int(rank.max(initial=-1)) + 2))
        for r in range(len(bounds) - 1):
            i = idx[order[by_round[bounds[r] : bounds[r + 1]]]]
            rw, ti, si = rows[i], t[i][:, None], sc[i][:, None]
            warm = (self.count[rw] >= self.warmup)[:, None]
            self.count[rw] += 1
            active = st["active"][rw] == 1
            hit = (si >= fire) & warm
            hits = ((st["hits"][rw] << np.uint64(1)) | hit.astype(np.uint64)) & self.mask
            enough = np.bitwise_count(hits) >= self.k
            if self.rearm is not None:
                # a clear recovery (m scores in a row below s) ends the quiet period
                if self.rearm_value is None:
                    good = si < self.rearm[0]
                else:
                    dv = (self.direction * val[i])[:, None]
                    good = dv <= self.direction * self.rearm_value
                calm = np.where(~active & good, st["calm"][rw] + 1, 0)
                st["calm"][rw] = calm
                st["quiet_until"][rw] = np.where(
                    calm >= self.rearm[1], -np.inf, st["quiet_until"][rw]
                )
            quiet_over = ti >= st["quiet_until"][rw]
            if self.worse is not None:
                # inside the quiet period only a clearly worse value fires again
                dv = (self.direction * val[i])[:, None]
                quiet_over |= dv >= st["peak"][rw] + self.worse
            fires = ~active & enough & quiet_over
            below = np.where(active & (si < resolve), st["below"][rw] + 1, 0)
            resolves = active & (below >= self.resolve_after)
            st["since"][rw] = np.where(fires, ti, st["since"][rw])
            dv_now = (self.direction * val[i])[:, None]
            peak = np.where(fires, dv_now, np.fmax(st["peak"][rw], dv_now))
            st["peak"][rw] = np.where(active | fires, peak, st["peak"][rw])
            st["quiet_until"][rw] = np.where(resolves, ti + self.cooldown, st["quiet_until"][rw])
            st["hits"][rw] = np.where(resolves, np.uint64(0), hits)
            st["below"][rw] = np.where(resolves, 0, below)
            now_active = (active | fires) & ~resolves
            st["active"][rw] = now_active.astype(np.int8)
            level = np.where(now_active, np.arange(1, len(fire) + 1), 0).max(axis=1)
            alert[i] = level
            since = st["since"][rw]
            for p, sv in zip(*np.nonzero(fires | resolves), strict=True):
                kind = 1 if fires[p, sv] else -1
                events.append((int(i[p]), int(sv), kind, float(since[p, sv])))
        events.sort()
        return PolicyResult(alert, self._records(events, rows, t, sc, val, keys, result))

    def _records(
        self,
        events: list[tuple[int, int, int, float]],
        rows: NDArray[np.int64],
        t: F64,
        sc: F64,
        val: F64,
        keys: SeriesRegistry | Sequence[str] | None,
        result: Result | None,
    ) -> list[Transition]:
        names = keys.keys if isinstance(keys, SeriesRegistry) else keys
        extras = result.extras if result is not None else {}

        def extra(name: str, j: int) -> float:
            arr = extras.get(name)
            return float(arr[j]) if arr is not None else math.nan

        out = []
        for j, sv, kind, since in events:
            row = int(rows[j])
            series = names[row] if names is not None else str(row)
            sev = self.severities[sv].name
            out.append(
                Transition(
                    key=alert_key(series, self.detector, sev),
                    state="firing" if kind == 1 else "resolved",
                    series=series,
                    row=row,
                    detector=self.detector,
                    severity=sev,
                    ts=float(t[j]),
                    since=since,
                    value=float(val[j]),
                    expected=extra("expected", j),
                    score=float(sc[j]),
                    eta_seconds=extra("eta_seconds", j),
                    eta_lower=extra("eta_lower", j),
                    eta_upper=extra("eta_upper", j),
                    kind=result.kind_name(j) if result is not None else "",
                )
            )
        return out

    def snapshot(self) -> bytes:
        """The whole policy state as ``.npz`` bytes (no pickled objects)."""
        buf = io.BytesIO()
        meta = json.dumps(self.params(), sort_keys=True).encode()
        arrays = {f"s_{k}": v for k, v in self.state.items()}
        arrays["_meta"] = np.frombuffer(meta, dtype=np.uint8)
        arrays["count"] = self.count
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state by a snapshot of a policy with the same parameters."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["_meta"].tobytes().decode())
            want = json.loads(json.dumps(self.params(), sort_keys=True))
            if meta != want:
                raise ValueError(f"snapshot is for policy {meta}, not {want}")
            self.count = z["count"].copy()
            self.state = {k: z[f"s_{k}"].copy() for k in _FIELDS}
