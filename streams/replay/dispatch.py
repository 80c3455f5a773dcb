"""Sending a replay's items: records to their topics, rejections to the dead-letter topic.

Each item goes where a live producer would send it: a record to the topic of its kind
(:mod:`streams.kafka.topics`) with its event time as the Kafka timestamp, keyed by
entity; a rejected line to the dead-letter topic with the reason in the headers
(:class:`streams.kafka.records.DeadLetter`). Records are encoded and appended to the
batches a run of items at a time; ``--speed`` paces them in event time. A vessel's static
data is sent only when it changes (:class:`StaticMemory`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.feeds.codec import WIRE_SIZES, Kind, encode, encode_array, key_of, keys_of_array
from streams.feeds.results import (
    RECORD_TYPES,
    Ignored,
    Outcome,
    PositionRecord,
    Record,
    Rejection,
    VesselStaticRecord,
)
from streams.kafka.io import BatchSender
from streams.kafka.records import DeadLetter
from streams.kafka.topics import TOPIC_OF_KIND, topic_of
from streams.replay.options import ReplayOptions
from streams.replay.segments import Segment
from streams.replay.stats import ReplayStats


class Dispatch:
    """Sends items: records to their topics, rejections to the dead-letter topic."""

    def __init__(
        self,
        files: list[Path],
        options: ReplayOptions,
        stats: ReplayStats,
        sender: BatchSender,
        topics: dict[str, str],
        last_static: dict[int, str],
    ):
        self.files = files
        self.options = options
        self.stats = stats
        self.sender = sender
        self.topics = topics
        self.last_static = last_static
        self.pace_origin: tuple[float, int] | None = None
        self.statics = StaticMemory(last_static)

    async def paced(self, seg: Segment, a: int, b: int) -> None:
        """Items ``a..b`` at ``speed`` times real time: sleep before a record that is early."""
        speed = self.options.speed
        assert speed is not None
        while a < b:
            rec = seg.is_record[a:b]
            if self.pace_origin is None:
                first = np.flatnonzero(rec)
                if not len(first):
                    break
                self.pace_origin = (time.monotonic(), int(seg.ts[a + first[0]]))
            wall0, ts0 = self.pace_origin
            due = wall0 + (seg.ts[a:b] - ts0) / 1000 / speed
            early = np.flatnonzero(rec & (due > time.monotonic()))
            if not len(early):
                break
            j = a + int(early[0])
            await self.items(seg, a, j)
            delay = float(due[early[0]]) - time.monotonic()
            if delay > 0:
                await self.sender.flush()  # nothing waits in a buffer while we sleep
                await asyncio.sleep(delay)
            await self.items(seg, j, j + 1)
            a = j + 1
        await self.items(seg, a, b)

    async def items(self, seg: Segment, a: int, b: int) -> None:
        """Items ``a..b`` of a segment, in order.

        Order matters within a topic partition, so the vectorized rows are cut only at
        the per-line parser's records (which go to the same topics); its rejections go
        to the dead-letter topic and are sent apart, in their own order.
        """
        if a >= b:
            return
        row = seg.row[a:b]
        fast = row >= 0
        if not fast.any():
            await self._outcomes(seg, a, b)
            return
        cuts = [0]
        slow_records = np.flatnonzero(~fast & seg.is_record[a:b])
        for k in slow_records.tolist():
            cuts += [k, k + 1]
        cuts.append(b - a)
        for lo, hi in itertools.pairwise(cuts):
            if lo >= hi:
                continue
            rows = row[lo:hi][fast[lo:hi]]
            if len(rows):
                await self._rows(seg, int(rows[0]), int(rows[-1]) + 1)
            if not fast[lo:hi].all():
                await self._outcomes(seg, a + lo, a + hi)

    def _in_range(self, ts: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        keep = np.ones(len(ts), dtype=bool)
        if self.options.start_ms is not None:
            keep &= ts >= self.options.start_ms
        if self.options.end_ms is not None:
            keep &= ts < self.options.end_ms
        return keep

    async def _rows(self, seg: Segment, r0: int, r1: int) -> None:
        """Rows ``r0..r1`` of the vectorized path's arrays, in order."""
        stats = self.stats
        kinds = list(seg.arrays)
        main = seg.arrays[kinds[0]][r0:r1]
        ts = main["ts_ms"].astype(np.int64)
        keep = self._in_range(ts)
        if not keep.all():
            stats.outside += int((~keep).sum())
            main, ts = main[keep], ts[keep]
        if not len(main):
            return
        ts_list = ts.tolist()
        topic = self.topics[TOPIC_OF_KIND[kinds[0]]]
        await self.sender.send_many(
            topic, keys_of_array(main, kinds[0]), encode_array(main, kinds[0]), ts_list
        )
        stats.sent[topic] += len(main)
        stats.count_days(topic, ts)
        if Kind.VESSEL_STATIC in seg.arrays:
            static = seg.arrays[Kind.VESSEL_STATIC][r0:r1][keep]
            wires = encode_array(static, Kind.VESSEL_STATIC)
            changed = self.statics.changes(static["mmsi"], wires)
            idx = np.flatnonzero(changed).tolist()
            if idx:
                vessels = self.topics["vessels"]
                await self.sender.send_many(
                    vessels,
                    keys_of_array(static[changed], Kind.VESSEL_STATIC),
                    [wires[i] for i in idx],
                    [ts_list[i] for i in idx],
                )
                stats.sent[vessels] += len(idx)
                stats.count_days(vessels, ts[changed])
        lo, hi = int(ts.min()), int(ts.max())
        stats.first_ts_ms = lo if stats.first_ts_ms is None else min(stats.first_ts_ms, lo)
        stats.last_ts_ms = hi if stats.last_ts_ms is None else max(stats.last_ts_ms, hi)

    async def _outcomes(self, seg: Segment, a: int, b: int) -> None:
        """Items ``a..b`` from the per-line parser, one by one (records encoded together)."""
        todo = [
            (int(line), out)
            for line, out in zip(seg.lines[a:b].tolist(), seg.outcomes[a:b], strict=True)
            if out is not None
        ]
        records: list[Record] = []
        for _line, out in todo:
            r = out.result
            if isinstance(r, RECORD_TYPES) and not self._outside(r.ts_ms):
                records.append(r)
                if isinstance(r, PositionRecord) and r.static is not None:
                    records.append(r.static)
        wires = iter(encode(records))
        for line, out in todo:
            await self._outcome(seg, line, out, wires)

    def _outside(self, ts: int) -> bool:
        o = self.options
        return (o.start_ms is not None and ts < o.start_ms) or (
            o.end_ms is not None and ts >= o.end_ms
        )

    async def _outcome(self, seg: Segment, line: int, out: Outcome, wires: Iterator[bytes]) -> None:
        stats, sender = self.stats, self.sender
        path = self.files[seg.file_index]
        result = out.result
        if isinstance(result, Rejection):
            stats.rejected[result.reason.value] += 1
            letter, value, _ = DeadLetter.of_line(
                path.name, line, result.reason.value, result.message
            ).bounded(out.raw)
            await sender.send(self.topics["deadletter"], f"{path.name}:{line}".encode(), value,
                              None, headers=letter.headers())
            return
        if isinstance(result, Ignored):
            stats.ignored[result.kind] += 1
            return
        if not isinstance(result, RECORD_TYPES):
            return
        if self._outside(result.ts_ms):
            stats.outside += 1
            return
        records: list[Record] = [result]
        if isinstance(result, PositionRecord) and result.static is not None:
            records.append(result.static)
        for rec in records:
            wire = next(wires)
            # decoded rows repeat the static data on every row: send it when it changes
            if isinstance(rec, VesselStaticRecord) and not self.statics.sent_one(rec.mmsi, wire):
                continue
            topic = self.topics[topic_of(rec)]
            await sender.send(topic, key_of(rec), wire, rec.ts_ms)
            stats.sent[topic] += 1
            stats.daily[(topic, rec.ts_ms // 86_400_000)] += 1
            stats.note_newest(topic, rec.ts_ms)
        ts = result.ts_ms
        stats.first_ts_ms = ts if stats.first_ts_ms is None else min(stats.first_ts_ms, ts)
        stats.last_ts_ms = ts if stats.last_ts_ms is None else max(stats.last_ts_ms, ts)


_STATIC_BODY = 2 + 8  # version, kind and timestamp are not part of what "changed" means


def _digest(wire: bytes) -> str:
    return hashlib.blake2b(wire[_STATIC_BODY:], digest_size=8).hexdigest()


class StaticMemory:
    """The static record last sent per vessel, to send a vessel's static data only when it
    changes: digests (what ``--resume`` saves) and, for the vessels seen in this run, the
    bytes behind them, so that an unchanged record needs no digest."""

    BODY = WIRE_SIZES[Kind.VESSEL_STATIC] - _STATIC_BODY

    def __init__(self, digests: dict[int, str]):
        self.digests = digests
        self.slot: dict[int, int] = {}
        self.bodies = np.zeros(0, dtype=f"S{self.BODY}")
        self.known = np.zeros(0, dtype=bool)

    def _slots(self, keys: list[int]) -> npt.NDArray[np.intp]:
        slot = self.slot
        for k in keys:
            if k not in slot:
                slot[k] = len(slot)
        if len(slot) > len(self.bodies):
            grow = max(len(slot), 2 * len(self.bodies), 1024) - len(self.bodies)
            self.bodies = np.concatenate([self.bodies, np.zeros(grow, dtype=self.bodies.dtype)])
            self.known = np.concatenate([self.known, np.zeros(grow, dtype=bool)])
        return np.array([slot[k] for k in keys], dtype=np.intp)

    def sent_one(self, mmsi: int, wire: bytes) -> bool:
        """Whether to send this static record (one by one); remembers it if so."""
        body = _digest(wire)
        if self.digests.get(mmsi) == body:
            return False
        self.digests[mmsi] = body
        s = self._slots([mmsi])[0]
        self.bodies[s], self.known[s] = wire[_STATIC_BODY:], True
        return True

    def changes(self, mmsi: npt.NDArray[Any], wires: list[bytes]) -> npt.NDArray[np.bool_]:
        """Which static records (in order) to send: exactly those :meth:`sent_one` would
        send, called on each in turn."""
        n = len(wires)
        if not n:
            return np.zeros(0, dtype=bool)
        size = len(wires[0])
        body = np.frombuffer(b"".join(wires), dtype=np.uint8).reshape(n, size)[:, _STATIC_BODY:]
        body_s = np.ascontiguousarray(body).view(f"S{size - _STATIC_BODY}").reshape(n)
        order = np.argsort(mmsi, kind="stable")
        m = mmsi[order]
        b = body_s[order]
        first = np.ones(n, dtype=bool)
        first[1:] = m[1:] != m[:-1]
        changed = np.ones(n, dtype=bool)
        # same bytes as the previous record of the same vessel (equal lengths: exact compare)
        changed[1:] = first[1:] | (b[1:] != b[:-1])
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], n) - 1
        keys = m[starts].tolist()
        slots = self._slots(keys)
        known = self.known[slots]
        same = known & (self.bodies[slots] == b[starts])
        for i in np.flatnonzero(~known).tolist():  # first record of a vessel in this run
            if self.digests.get(keys[i]) == _digest(wires[int(order[starts[i]])]):
                same[i] = True
        changed[starts] = ~same
        tail = b[ends]
        for i in np.flatnonzero(~known | (self.bodies[slots] != tail)).tolist():
            self.digests[keys[i]] = _digest(wires[int(order[ends[i]])])
        self.bodies[slots] = tail
        self.known[slots] = True
        out = np.empty(n, dtype=bool)
        out[order] = changed
        return out
