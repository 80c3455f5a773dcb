"""The files' items as segments: read and parsed (ahead of the sending), merged in event time.

The CSV feeds (MarineCadastre, container events, inventory) are parsed a block
of lines at a time by :class:`streams.feeds.chunks.ChunkParser`, which builds the
canonical arrays with numpy and hands every line it is not sure about to the
per-line parser: the records, rejections and their messages are the per-line
parser's, byte for byte (tests/feeds/test_feeds_chunks.py). Items travel in
segments (arrays, not an object per line); the event-time merge works on runs of
segments and gives exactly ``heapq.merge``'s order. Big files are parsed in a child
process while the parent sends, the others in a thread.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.feeds.chunks import Chunk, ChunkParser
from streams.feeds.codec import Kind
from streams.feeds.files import blocks, open_tracked
from streams.feeds.parse import FeedContext
from streams.feeds.results import RECORD_TYPES, Fragment, Outcome
from streams.replay.options import ReplayError


@dataclass
class Segment:
    """Final outcomes (items) of one stretch of one file, in the order the file gives them.

    Item ``i`` sorts by ``(ts[i], file_index, lines[i])``: its event time (for a
    line without one, the latest event time seen so far in the file). A line
    taken by the vectorized path has ``row[i] >= 0``, its row in ``arrays``; any
    other item has ``row[i] == -1`` and its outcome in ``outcomes[i]``.
    """

    file_index: int
    ts: npt.NDArray[np.int64]
    lines: npt.NDArray[np.int64]
    row: npt.NDArray[np.int64]
    is_record: npt.NDArray[np.bool_]
    outcomes: list[Outcome | None]
    arrays: dict[Kind, npt.NDArray[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ts)


class _FileTimes:
    """The running latest event time of one file (sort time of lines without one)."""

    def __init__(self) -> None:
        self.last = 0

    def sort_times(
        self, rec_ts: npt.NDArray[np.int64], is_record: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.int64]:
        floor = np.iinfo(np.int64).min
        running = np.maximum.accumulate(np.where(is_record, rec_ts, floor))
        running = np.maximum(running, self.last)
        if len(running):
            self.last = int(running[-1])
        out: npt.NDArray[np.int64] = np.where(is_record, rec_ts, running)
        return out


def _segment(
    index: int, chunk: Chunk | None, outcomes: list[Outcome], times: _FileTimes, skip_lines: int
) -> Segment | None:
    """Items of a parsed chunk (fast rows and per-line outcomes), minus fragments and
    lines already done."""
    slow = [o for o in outcomes if not isinstance(o.result, Fragment)]
    slow_refs = np.fromiter(
        (o.ref if isinstance(o.ref, int) else 0 for o in slow), dtype=np.int64, count=len(slow)
    )
    slow_rec = np.fromiter(
        (isinstance(o.result, RECORD_TYPES) for o in slow), dtype=bool, count=len(slow)
    )
    slow_ts = np.fromiter(
        (getattr(o.result, "ts_ms", 0) for o in slow), dtype=np.int64, count=len(slow)
    )
    arrays: dict[Kind, npt.NDArray[Any]] = {}
    if chunk is not None and chunk.fast.any():
        arrays = chunk.arrays
        fast_refs = chunk.refs[chunk.fast]
        main = next(iter(arrays.values()))
        refs = np.concatenate([fast_refs, slow_refs])
        order = np.argsort(refs, kind="stable")  # CSV: one outcome per line, in line order
        refs = refs[order]
        row = np.concatenate([np.arange(len(fast_refs)), np.full(len(slow), -1)])[order]
        is_record = np.concatenate([np.ones(len(fast_refs), dtype=bool), slow_rec])[order]
        rec_ts = np.concatenate([main["ts_ms"].astype(np.int64), slow_ts])[order]
        slot = np.concatenate([np.full(len(fast_refs), -1), np.arange(len(slow))])[order]
        items: list[Outcome | None] = [slow[j] if j >= 0 else None for j in slot.tolist()]
    else:
        refs, is_record, rec_ts = slow_refs, slow_rec, slow_ts
        row = np.full(len(slow), -1, dtype=np.int64)
        items = list(slow)
    ts = times.sort_times(rec_ts, is_record)
    keep = refs > skip_lines
    if not keep.any():
        return None
    if not keep.all():
        idx = np.flatnonzero(keep)
        refs, row, is_record, ts = refs[idx], row[idx], is_record[idx], ts[idx]
        items = [items[i] for i in idx.tolist()]
    return Segment(index, ts, refs, row, is_record, items, arrays)


def file_segments(
    path: Path, index: int, ctx: FeedContext, skip_lines: int, bytes_read: list[int]
) -> Iterator[Segment]:
    """Segments of one file in file order: CSV feeds through the vectorized path, with the
    per-line parser for whatever it leaves; other formats line by line."""
    parser = ChunkParser(ctx)
    times = _FileTimes()
    number = 1
    disk, reader = open_tracked(path)
    with disk, reader as fh:
        for buf, starts, ends in blocks(fh):
            chunk = parser.parse_buffer(buf, starts, ends, number, strip_cr=True)
            number += len(starts)
            bytes_read[index] = disk.tell()
            seg = _segment(index, chunk, chunk.slow, times, skip_lines)
            if seg is not None:
                yield seg
        seg = _segment(index, None, parser.parser.flush(), times, skip_lines)
        if seg is not None:
            yield seg


def prefetched(segments: Iterator[Segment], depth: int = 2) -> Iterator[Segment]:
    """The same segments, read and parsed ahead in a thread.

    Parsing is mostly numpy and reading mostly I/O, both of which release the
    GIL, so the next segments are parsed while the current one is being sent.
    An exception in the thread is raised here, in order.
    """
    q: queue.Queue[tuple[Segment | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for seg in segments:
                while not stop.is_set():
                    try:
                        q.put((seg, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((None, None))
        except BaseException as e:  # handed to the consumer
            q.put((None, e))

    thread = threading.Thread(target=work, name="replay-parse", daemon=True)
    thread.start()
    try:
        while True:
            seg, error = q.get()
            if error is not None:
                raise error
            if seg is None:
                return
            yield seg
    finally:
        stop.set()
        thread.join()


PARSE_APART_BYTES = 16 << 20
"""Files at least this big are parsed in a separate process, so that parsing and
sending use two cores."""


def _parse_into(out: Any, path: Path, index: int, ctx: FeedContext, skip_lines: int) -> None:
    """Child process: put each segment with the bytes read so far, then None (or an error)."""
    try:
        bytes_read = [0] * (index + 1)
        for seg in file_segments(path, index, ctx, skip_lines, bytes_read):
            out.put((seg, bytes_read[index]))
        out.put((None, bytes_read[index]))
    except BaseException as e:  # handed to the parent
        out.put((e, 0))


def parsed_apart(
    path: Path, index: int, ctx: FeedContext, skip_lines: int, bytes_read: list[int]
) -> Iterator[Segment]:
    """The segments of :func:`file_segments`, parsed in a child process, a few ahead.

    The child is forked: it needs nothing but this module, which is loaded (a spawned
    child would import the command's main module again), and it touches neither the
    event loop nor the Kafka client it inherits.
    """
    mp = multiprocessing.get_context("fork")
    out = mp.Queue(4)
    proc = mp.Process(
        target=_parse_into,
        args=(out, path, index, ctx, skip_lines),
        name="replay-parse",
        daemon=True,
    )
    proc.start()
    try:
        while True:
            try:
                item, done = out.get(timeout=1.0)
            except queue.Empty:
                if proc.is_alive():
                    continue
                raise ReplayError(
                    f"{path}: the parsing process ended unexpectedly (exit code {proc.exitcode})"
                ) from None
            bytes_read[index] = done
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()
        out.close()


def parsed_ahead(
    path: Path, index: int, ctx: FeedContext, skip_lines: int, bytes_read: list[int]
) -> Iterator[Segment]:
    """The segments of one file (:func:`file_segments`), parsed ahead while the replay
    sends: in a child process for a big file, in a thread otherwise."""
    if path.stat().st_size >= PARSE_APART_BYTES:
        return parsed_apart(path, index, ctx, skip_lines, bytes_read)
    return prefetched(file_segments(path, index, ctx, skip_lines, bytes_read))


def merged_runs(streams: list[Iterator[Segment]]) -> Iterator[tuple[Segment, int, int]]:
    """Items of all files in event-time order (ties: file order, then line), as runs
    ``(segment, a, b)`` of consecutive items of one segment.

    Exactly the order of ``heapq.merge`` over the files' items with the key
    ``(ts, file_index, line)``: the head with the smallest key goes first, and a run
    goes on while its next item still sorts before every other file's head.
    """
    heads: dict[int, tuple[Segment, int, Iterator[Segment]]] = {}
    for it in streams:
        seg = next(it, None)
        if seg is not None:
            heads[seg.file_index] = (seg, 0, it)
    while heads:
        if len(heads) == 1:
            ((seg, pos, it),) = heads.values()
            yield seg, pos, len(seg)
            for seg in it:
                yield seg, 0, len(seg)
            return
        j = min(heads, key=lambda f: (int(heads[f][0].ts[heads[f][1]]), f))
        seg, pos, it = heads[j]
        other_ts, other_f = min((int(heads[f][0].ts[heads[f][1]]), f) for f in heads if f != j)
        t = seg.ts[pos:]
        later = (t > other_ts) | ((t == other_ts) & (j > other_f))
        n = int(np.argmax(later)) if later.any() else len(t)
        yield seg, pos, pos + n
        pos += n
        if pos >= len(seg):
            nxt = next(it, None)
            if nxt is None:
                del heads[j]
                continue
            seg, pos = nxt, 0
        heads[j] = (seg, pos, it)

