"""Combining the partials of several feature engines, one per input partition.

The feed topics are keyed by entity (MMSI, container, ``site|item``), so one
worker partition sees only some of a port's vessels. Each partition's engine
emits :class:`Partials` for the intervals its watermark closed, together with
that watermark. A :class:`PartialsCombiner` collects them and releases an
interval's feature points once every source partition has closed it: the
result is exactly what one engine over all records would give
(:func:`merge_partials`), whatever the order in which the partitions report.

A source that reports the same interval again (a worker restarted from a
checkpoint and replayed its input) replaces its earlier contribution instead of
adding to it, so a repeat never doubles a count.

A source can also say it is *idle* (a live partition that received nothing for a
while): it then no longer holds the release back, the watermark is the minimum over
the other sources (if every source is idle, nothing moves). Its next report that is
not flagged idle counts it again; a report of a source in a replay counts every
source again (a replay waits for all of its partitions). What an idle source then
sends for an interval released without it is dropped and counted in
:attr:`PartialsCombiner.late`.

>>> c = PartialsCombiner(sources=2)
>>> p = Partials(sums_key=np.array([b"vessels_waiting|USLAX"]),
...              sums_end=np.array([3_600_000]), sums_val=np.array([2.0]))
>>> c.add(0, p, closed_ms=3_600_000).key.size  # partition 1 has not closed it yet
0
>>> c.add(1, p, closed_ms=3_600_000).as_dict()
{('vessels_waiting|USLAX', 3600): 4.0}

An idle source no longer holds the others back; its late contribution is dropped:

>>> c = PartialsCombiner(sources=2)
>>> c.add(0, p, closed_ms=3_600_000).key.size
0
>>> c.add(1, Partials(), closed_ms=0, idle=True).as_dict()
{('vessels_waiting|USLAX', 3600): 2.0}
>>> c.add(1, p, closed_ms=3_600_000).key.size, c.late
(0, [0, 1])
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.features._state import load_npz, save_npz
from streams.features.windows import NONE, FeaturePoints, Partials, merge_partials

_ARRAYS = [f.name for f in fields(Partials) if f.name != "quantiles"]
_GROUPS = (("sums_key", "sums_end", "sums_val"),
           ("samples_key", "samples_end", "samples_val"),
           ("values_key", "values_end", "values_val", "values_ts"))


def _select(p: Partials, end_ms: int) -> Partials:
    """The part of ``p`` that belongs to the interval ending at ``end_ms``."""
    out = Partials(quantiles=dict(p.quantiles))
    for group in _GROUPS:
        mask = getattr(p, group[1]) == end_ms
        for name in group:
            setattr(out, name, getattr(p, name)[mask])
    return out


def _ends(p: Partials) -> list[int]:
    ends = np.concatenate([p.sums_end, p.samples_end, p.values_end])
    return sorted(set(ends.tolist()))


class PartialsCombiner:
    """Per-interval contributions of ``sources`` engines, released when all have closed it."""

    def __init__(self, sources: int) -> None:
        if sources < 1:
            raise ValueError("sources must be at least 1")
        self.sources = sources
        self.closed = [NONE] * sources
        self.idle = [False] * sources
        """Sources that said they are idle and sent nothing real since."""
        self.emitted = NONE
        self.released = NONE
        """The highest watermark applied: intervals ending at or before it are final."""
        self.late = [0] * sources
        """Contributions per source dropped because their interval was released without
        them (the source was idle); counted since this object was made."""
        # interval end (ms) -> source -> that source's partials for the interval
        self.pending: dict[int, dict[int, Partials]] = {}

    def add(self, source: int, partials: Partials, closed_ms: int, idle: bool = False,
            replaying: bool = False) -> FeaturePoints:
        """Take one source's partials and watermark (``idle``: the source says it is idle;
        ``replaying``: it is in a replay, so every source counts again, idle or not);
        return the points now complete."""
        if not 0 <= source < self.sources:
            raise ValueError(f"source {source} outside 0..{self.sources - 1}")
        if replaying:
            self.idle = [False] * self.sources
        for end in _ends(partials):
            if end <= self.released:
                if end > self.closed[source]:
                    self.late[source] += 1  # released while the source was idle
                continue  # otherwise already released: a replay after a restart
            self.pending.setdefault(end, {})[source] = _select(partials, end)
        self.closed[source] = max(self.closed[source], closed_ms)
        self.idle[source] = idle
        return self._release()

    @property
    def watermark(self) -> int:
        """The boundary every source that is not idle has closed (intervals ending at or
        before are final); it never goes back, and stays put while every source is idle."""
        active = [c for c, idle in zip(self.closed, self.idle, strict=True) if not idle]
        return max(self.released, min(active)) if active else self.released

    def _release(self) -> FeaturePoints:
        self.released = wm = self.watermark
        ready = sorted(end for end in self.pending if end <= wm)
        parts = [p for end in ready for p in self.pending.pop(end).values()]
        if ready:
            self.emitted = max(self.emitted, ready[-1])
        return merge_partials(parts)

    # -- checkpoints ---------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as bytes (npz): watermarks, idle flags and the partials still
        pending."""
        arrays: dict[str, npt.NDArray[Any]] = {}
        index = []
        for end, by_source in sorted(self.pending.items()):
            for source, p in sorted(by_source.items()):
                index.append([end, source, p.quantiles])
                for name in _ARRAYS:
                    arrays[f"{name}.{end}.{source}"] = getattr(p, name)
        meta = {"closed": self.closed, "emitted": self.emitted, "index": index,
                "idle": self.idle, "released": self.released}
        return save_npz(arrays, meta)

    def restore(self, data: bytes) -> None:
        arrays, meta = load_npz(data)
        if len(meta["closed"]) != self.sources:
            raise ValueError(f"snapshot has {len(meta['closed'])} sources, not {self.sources}")
        self.closed = [int(c) for c in meta["closed"]]
        self.emitted = int(meta["emitted"])
        # snapshots from before idle sources: none idle, released up to every source
        self.idle = [bool(i) for i in meta.get("idle", [False] * self.sources)]
        self.released = int(meta.get("released", min(self.closed)))
        self.pending = {}
        for end, source, quantiles in meta["index"]:
            p = Partials(quantiles={k: tuple(v) for k, v in quantiles.items()})
            for name in _ARRAYS:
                setattr(p, name, arrays[f"{name}.{end}.{source}"])
            self.pending.setdefault(int(end), {})[int(source)] = p
