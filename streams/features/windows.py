"""Event-time windows, watermarks, late records and mergeable partial outputs.

Every feature engine shares the same clock discipline:

* The watermark is the maximum event time seen minus the allowed lateness.
  It is computed *per record* (from the records that arrived before it), so
  it does not depend on how the stream is cut into batches.
* Intervals are fixed, aligned to the Unix epoch. An interval ``[a, a + I)``
  is closed once the watermark reaches ``a + I``; ``closed`` is the largest
  multiple of ``I`` not above the watermark.
* A record whose event time falls in an already closed interval is *late*.
  Late records are counted. Under the default policy ``"state"`` they never
  enter window aggregates (counts, percentiles), but a late record still
  updates its entity (vessel, container, series) when it is newer than every
  record of that entity that arrived before it. Its effect on the entity
  starts at its *effective time* ``max(ts, closed boundary when it arrived)``
  so that intervals already emitted are never revised. Under ``"drop"`` late
  records are counted and otherwise ignored.
* Records that are not late wait in a buffer until the watermark closes
  their interval, then are applied in event-time order per entity.

Engines emit :class:`Partials` for the intervals they close. Partials from
several engines (one per input partition) combine with :func:`merge_partials`
into :class:`FeaturePoints`, exactly as one engine over all records would.

>>> clock = EventClock(WindowConfig(interval_s=60, lateness_s=0))
>>> clock.observe(np.array([0, 125_000, 30_000], dtype=np.int64)).tolist()
[-4611686018427387904, 0, 120000]
>>> clock.closed
120000
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "NONE",
    "EventClock",
    "FeaturePoints",
    "Partials",
    "WindowConfig",
    "WindowedEngine",
    "concat_partials",
    "concat_points",
    "floor_to",
    "merge_partials",
]

NONE = -(2**62)
"""Sentinel event time (ms) meaning "not yet"."""

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Keys = npt.NDArray[np.bytes_]


@dataclass(frozen=True)
class WindowConfig:
    """Interval length, allowed lateness and late-record policy."""

    interval_s: int = 3600
    """Length of the output intervals in seconds, aligned to the epoch."""
    lateness_s: int = 900
    """Allowed lateness: the watermark trails the maximum event time by this much."""
    late_policy: Literal["state", "drop"] = "state"
    """``state``: late records update entity state if newer; ``drop``: ignored."""

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.lateness_s < 0:
            raise ValueError("interval_s must be > 0 and lateness_s >= 0")
        if self.late_policy not in ("state", "drop"):
            raise ValueError("late_policy must be 'state' or 'drop'")

    @property
    def interval_ms(self) -> int:
        return self.interval_s * 1000

    @property
    def lateness_ms(self) -> int:
        return self.lateness_s * 1000


def floor_to(ts: Any, step: int) -> Any:
    """Floor event times (ms) to a multiple of ``step`` (works on arrays and ints)."""
    return (ts // step) * step


class EventClock:
    """The watermark and the closed-interval boundary, advanced record by record."""

    def __init__(self, config: WindowConfig) -> None:
        self.config = config
        self.max_ts = NONE
        self.closed = NONE

    def _closed_of(self, max_ts: I64) -> I64:
        step = self.config.interval_ms
        out = floor_to(max_ts - self.config.lateness_ms, step)
        return np.where(max_ts == NONE, NONE, out).astype(np.int64)

    def observe(self, ts: I64) -> I64:
        """Advance over ``ts`` (arrival order); return the closed boundary seen by each record."""
        if len(ts) == 0:
            return np.empty(0, dtype=np.int64)
        prefix = np.maximum.accumulate(np.concatenate(([self.max_ts], ts.astype(np.int64))))
        # A flush may have closed further than the watermark: respect it.
        before = np.maximum(self._closed_of(prefix[:-1]), np.int64(self.closed))
        self.max_ts = int(prefix[-1])
        self.closed = max(self.closed, int(self._closed_of(prefix[-1:])[0]))
        return before

    def force_close(self, until_ms: int) -> None:
        """Close every interval ending at or before ``until_ms`` (end of stream)."""
        self.closed = max(self.closed, int(floor_to(until_ms, self.config.interval_ms)))

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return {"clock": np.array([self.max_ts, self.closed], dtype=np.int64)}

    def load(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.max_ts, self.closed = (int(v) for v in arrays["clock"])


class WindowedEngine:
    """The clock discipline every feature engine shares: records that are not late wait in
    ``pending`` until the watermark closes their interval; ``flush`` closes intervals at
    the end of a stream. Subclasses set ``PENDING`` (buffered columns and their dtypes),
    ``QUANTILES`` (percentile families of their partials), and implement ``_apply``.
    """

    PENDING: ClassVar[Mapping[str, Any]] = {}
    QUANTILES: ClassVar[Mapping[str, tuple[int, ...]]] = {}
    config: Any
    clock: EventClock
    pending: dict[str, npt.NDArray[Any]]
    emitted: int
    stats: dict[str, int]

    def _start_windows(self) -> None:
        """The clock, the empty buffer and nothing emitted yet (call from ``__init__``)."""
        self.clock = EventClock(self.config.window)
        self.pending = self._empty_pending()
        self.emitted = NONE

    def _late_applied(self, ent: npt.NDArray[np.int64], ts: I64, late: npt.NDArray[np.bool_],
                      arrived: I64) -> npt.NDArray[np.bool_]:
        """Which late records still update their entity under the late policy; counts both."""
        applied = late_applicable(ent, ts, late, arrived)
        if self.config.window.late_policy == "drop":
            applied[:] = False
        self.stats["late"] += int(late.sum())
        self.stats["late_applied"] += int(applied.sum())
        return applied

    def _no_partials(self) -> Partials:
        return Partials(quantiles=dict(self.QUANTILES))

    def _empty_pending(self) -> dict[str, npt.NDArray[Any]]:
        return {k: np.empty(0, dtype=dt) for k, dt in self.PENDING.items()}

    def flush(self, until_ms: int | None = None) -> Partials:
        """Close every interval up to ``until_ms`` (default: the one holding the newest record)."""
        if until_ms is None:
            if self.clock.max_ts == NONE:
                return self._no_partials()
            step = self.config.window.interval_ms
            until_ms = int(floor_to(self.clock.max_ts, step)) + step
        self.clock.force_close(until_ms)
        empty = self._empty_pending()
        empty["eff"] = np.empty(0, dtype=np.int64)
        return self._advance(empty)

    def _advance(self, late_rows: dict[str, npt.NDArray[Any]]) -> Partials:
        """Apply the buffered records of the intervals now closed, with ``late_rows``."""
        closed = self.clock.closed
        if closed == NONE:
            return self._no_partials()
        due = self.pending["ts"] < closed
        rows = {k: np.concatenate([self.pending[k][due], late_rows[k]]) for k in self.PENDING}
        rows["eff"] = np.concatenate([self.pending["ts"][due], late_rows["eff"]])
        rows["late"] = np.concatenate(
            [np.zeros(int(due.sum()), dtype=bool), np.ones(len(late_rows["ts"]), dtype=bool)]
        )
        self.pending = {k: v[~due] for k, v in self.pending.items()}
        return self._apply(rows, closed)

    def _apply(self, r: dict[str, npt.NDArray[Any]], c_new: int) -> Partials:
        raise NotImplementedError


def late_applicable(
    entity: npt.NDArray[np.int64], ts: I64, late: npt.NDArray[np.bool_], last_arrived: I64
) -> npt.NDArray[np.bool_]:
    """Which late records are newer than every earlier arrival of their entity.

    ``last_arrived[e]`` is the newest event time of entity ``e`` over all
    earlier batches; it is updated in place with this batch.
    """
    out = np.zeros(len(ts), dtype=bool)
    if late.any():
        ents = np.unique(entity[late])
        sel = np.flatnonzero(np.isin(entity, ents))
        order = sel[np.argsort(entity[sel], kind="stable")]
        e, t = entity[order], ts[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = e[1:] != e[:-1]
        # exclusive running max within entity, seeded with last_arrived
        seg = np.cumsum(first) - 1
        seed = last_arrived[e[first]]
        shifted = np.empty(len(order), dtype=np.int64)
        shifted[0] = NONE
        shifted[1:] = t[:-1]
        shifted[first] = seed
        # segmented running max: offset each segment so maxima never leak across
        lo = min(int(shifted.min()), int(t.min()))
        span = max(int(shifted.max()), int(t.max())) - lo + 1
        if span * (int(seg[-1]) + 1) < 2**62:
            w = seg * span + (shifted - lo)
            prev_max = np.maximum.accumulate(w) - seg * span + lo
        else:  # pragma: no cover - astronomically wide batches
            prev_max = shifted.copy()
            for i in range(1, len(order)):
                if not first[i]:
                    prev_max[i] = max(prev_max[i - 1], shifted[i])
        out[order] = late[order] & (t > prev_max)
    np.maximum.at(last_arrived, entity, ts)
    return out


# -- partial outputs and merging ---------------------------------------------


class FeaturePoints(NamedTuple):
    """Feature points: series key (UTF-8 bytes), interval end (epoch s), value.

    Sorted by interval end, then key.
    """

    key: Keys
    end_s: I64
    value: F64

    def as_dict(self) -> dict[tuple[str, int], float]:
        """``{(key, end_s): value}`` for tests and small reports."""
        return {
            (k.decode(), int(e)): float(v)
            for k, e, v in zip(
                self.key.tolist(), self.end_s.tolist(), self.value.tolist(), strict=True
            )
        }


def concat_points(parts: list[FeaturePoints]) -> FeaturePoints:
    """Points of several sources in one, sorted by interval end, then key."""
    parts = [p for p in parts if len(p.key)]
    if not parts:
        return FeaturePoints(_empty_keys(), np.empty(0, np.int64), np.empty(0, np.float64))
    key = np.concatenate([p.key for p in parts])
    end = np.concatenate([p.end_s for p in parts])
    val = np.concatenate([p.value for p in parts])
    order = np.lexsort((key, end))
    return FeaturePoints(key[order], end[order], val[order])


def _empty_keys() -> Keys:
    return np.empty(0, dtype="S1")


@dataclass
class Partials:
    """Mergeable per-(series, interval) contributions of one engine.

    * ``sums``: values that add up across engines (counts).
    * ``samples``: raw values of a percentile *family* such as ``wait|USLAX``;
      a NaN sample only declares that the (family, interval) slot exists.
      :func:`merge_partials` turns each family into one series per quantile of
      ``quantiles[metric]``, named ``{metric}_p{q}|{rest}``.
    * ``values``: one owner per series (e.g. one inventory series); when two
      engines report one, the one with the later ``values_ts`` wins.
    """

    sums_key: Keys = field(default_factory=_empty_keys)
    sums_end: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    sums_val: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    samples_key: Keys = field(default_factory=_empty_keys)
    samples_end: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    samples_val: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    values_key: Keys = field(default_factory=_empty_keys)
    values_end: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    values_val: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    values_ts: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    quantiles: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sums_key) + len(self.samples_key) + len(self.values_key)


def concat_partials(parts: list[Partials]) -> Partials:
    """Concatenate partials (no merging)."""
    if not parts:
        return Partials()
    q: dict[str, tuple[int, ...]] = {}
    for p in parts:
        q.update(p.quantiles)

    def cat(name: str, dtype: Any) -> Any:
        arrs = [getattr(p, name) for p in parts]
        return np.concatenate(arrs) if arrs else np.empty(0, dtype)

    return Partials(
        cat("sums_key", "S1"), cat("sums_end", np.int64), cat("sums_val", np.float64),
        cat("samples_key", "S1"), cat("samples_end", np.int64), cat("samples_val", np.float64),
        cat("values_key", "S1"), cat("values_end", np.int64), cat("values_val", np.float64),
        cat("values_ts", np.int64), q,
    )  # fmt: skip


def _groups(key: Keys, end: I64, *extra: npt.NDArray[Any]) -> tuple[npt.NDArray[np.intp], Any]:
    """Sort by (end, key, *extra) and return the order and group-start flags."""
    order = np.lexsort((*reversed(extra), key, end))
    k, e = key[order], end[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = (k[1:] != k[:-1]) | (e[1:] != e[:-1])
    return order, start


def _lerp(a: F64, b: F64, t: F64) -> F64:
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def quantiles_sorted(values: F64, starts: I64, counts: I64, q: float) -> F64:
    """Linear-interpolated quantile ``q`` (0..1) of sorted groups; NaN for empty groups."""
    out = np.full(len(starts), np.nan)
    ok = counts > 0
    if ok.any():
        pos = q * (counts[ok] - 1).astype(np.float64)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, counts[ok] - 1)
        t = pos - lo
        a = values[starts[ok] + lo]
        b = values[starts[ok] + hi]
        with np.errstate(invalid="ignore"):
            out[ok] = np.where(a == b, a, _lerp(a, b, t))  # exact, and inf-safe
    return out


def merge_partials(parts: list[Partials]) -> FeaturePoints:
    """Combine partials of any number of engines into feature points.

    Counts are summed, percentile families are computed from the union of
    their raw samples, owned values keep the latest report. The result does
    not depend on the order of ``parts`` nor on how records were spread over
    the engines.
    """
    p = concat_partials(parts)
    keys: list[Keys] = []
    ends: list[I64] = []
    vals: list[F64] = []
    if len(p.sums_key):
        order, start = _groups(p.sums_key, p.sums_end)
        idx = np.flatnonzero(start)
        keys.append(p.sums_key[order][idx])
        ends.append(p.sums_end[order][idx])
        vals.append(np.add.reduceat(p.sums_val[order], idx))
    if len(p.samples_key):
        v = p.samples_val
        order, start = _groups(p.samples_key, p.samples_end, np.isnan(v), v)
        sv = v[order]
        idx = np.flatnonzero(start)
        counts = np.add.reduceat((~np.isnan(sv)).astype(np.int64), idx)
        fam = p.samples_key[order][idx]
        fend = p.samples_end[order][idx]
        uniq, inv = np.unique(fam, return_inverse=True)
        metric_of = [u.split(b"|", 1) for u in uniq.tolist()]
        for qs_metric in sorted({m[0] for m in metric_of}):
            qs = p.quantiles.get(qs_metric.decode(), (50, 90))
            sel_u = np.array([m[0] == qs_metric for m in metric_of], dtype=bool)
            sel = sel_u[inv]
            for q in qs:
                names = np.array(
                    [m[0] + b"_p%d" % q + (b"|" + m[1] if len(m) > 1 else b"") for m in metric_of]
                )
                keys.append(names[inv[sel]])
                ends.append(fend[sel])
                vals.append(quantiles_sorted(sv, idx[sel], counts[sel], q / 100.0))
    if len(p.values_key):
        order, start = _groups(p.values_key, p.values_end, -p.values_ts, -p.values_val)
        idx = np.flatnonzero(start)
        keys.append(p.values_key[order][idx])
        ends.append(p.values_end[order][idx])
        vals.append(p.values_val[order][idx])
    if not keys:
        return FeaturePoints(_empty_keys(), np.empty(0, np.int64), np.empty(0, np.float64))
    k = np.concatenate(keys)
    e = np.concatenate(ends)
    v = np.concatenate(vals).astype(np.float64)
    order = np.lexsort((k, e))
    return FeaturePoints(k[order], (e[order] // 1000).astype(np.int64), v[order])
