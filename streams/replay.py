"""Replay historical feed files into Kafka, in event time.

``berthwatch replay PATH...`` reads AIS NMEA, MarineCadastre CSV, container
event and inventory files (plain or gzip), validates every line, and sends
each record to its canonical topic with its event time as the Kafka
timestamp, keyed by entity (MMSI, container number, ``site|item``) and
partitioned exactly as a live producer would (murmur2 of the key, like the
Java client). Bad lines go to the dead-letter topic with the reason in the
headers. Files are merged by event time. ``--speed N`` paces the replay at N
times real time; ``--max`` (the default) sends as fast as the broker takes it.
Speed changes only when records are sent, never what is sent: the topic
contents are identical at any speed.

Producing uses aiokafka's batch API rather than a per-message ``send``: on this
project's benchmark kafka-python's producer sent about 13 k records/s where
the batch API with a cached partitioner sent over 500 k/s (``bench/``).

The CSV feeds (MarineCadastre, container events, inventory) are parsed a block
of lines at a time by :class:`streams.feeds.chunks.ChunkParser`, which builds the
canonical arrays with numpy and hands every line it is not sure about to the
per-line parser: the records, rejections and their messages are the per-line
parser's, byte for byte (tests/feeds/test_feeds_chunks.py). Items travel in
segments (arrays, not an object per line); the event-time merge works on runs of
segments and gives exactly ``heapq.merge``'s order; records are encoded and
appended to the batches a run at a time. Big files are parsed in a child process
while the parent sends, and progress is saved once the broker acknowledged
everything before it, without pausing the replay. Figures: BENCHMARKS.md.

A replay can be resumed: progress (lines done per file) is saved in a state
file after every ``flush_every`` items, and ``--resume`` skips what was already
sent. Records after the last saved state may be sent twice; the downstream
features are idempotent for a repeated position or snapshot (see docs/RECOVERY.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from streams.feeds.chunks import Chunk, ChunkParser
from streams.feeds.codec import WIRE_SIZES, Kind, encode, encode_array, key_of, keys_of_array
from streams.feeds.files import FeedFileError, blocks, detect_format, open_tracked
from streams.feeds.parse import FeedContext, FeedFormat
from streams.feeds.results import (
    ContainerEvent,
    Fragment,
    Ignored,
    InventorySnapshot,
    Outcome,
    PositionRecord,
    Record,
    Rejection,
    VesselStaticRecord,
)
from streams.feeds.times import TimeWindow
from streams.settings import Settings
from streams.times import iso_ms
from streams.topics import END_OF_FEED_HEADER

TOPIC_OF: dict[type, str] = {
    PositionRecord: "positions",
    VesselStaticRecord: "vessels",
    ContainerEvent: "containers",
    InventorySnapshot: "inventory",
}

class ReplayError(FeedFileError):
    """A replay problem phrased as one line (unreadable file, unknown format, no broker)."""


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
        (isinstance(o.result, _RECORDS) for o in slow), dtype=bool, count=len(slow)
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


def _segments(
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


@dataclass
class ReplayStats:
    sent: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    outside: int = 0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    wall_seconds: float = 0.0
    daily: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Records sent per (topic, day of event time since the epoch), for the plot."""
    newest: dict[str, int] = field(default_factory=dict)
    """Newest event time (ms) sent per topic: the end-of-feed markers carry it."""
    markers: int = 0

    @property
    def records(self) -> int:
        return sum(self.sent.values())

    def count_days(self, topic: str, ts_ms: Any) -> None:
        days, counts = np.unique(np.asarray(ts_ms, dtype=np.int64) // 86_400_000,
                                 return_counts=True)
        for day, n in zip(days.tolist(), counts.tolist(), strict=True):
            self.daily[(topic, day)] += n
        if len(days):
            self.note_newest(topic, int(np.max(ts_ms)))

    def note_newest(self, topic: str, ts_ms: int) -> None:
        self.newest[topic] = max(self.newest.get(topic, ts_ms), ts_ms)

    def plot(self, path: Path) -> Path:
        """A PNG of what was sent per day of event time, and what was rejected and why."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), height_ratios=(3, 2))
        for topic in sorted({t for t, _ in self.daily}):
            days = sorted(d for t, d in self.daily if t == topic)
            top.plot([datetime.fromtimestamp(d * 86_400, UTC) for d in days],
                     [self.daily[(topic, d)] for d in days], label=topic, lw=1)
        top.set_yscale("log")
        top.set_ylabel("records per day")
        top.set_title(f"replay: {self.records:,} records sent, by event time")
        top.legend(fontsize=8)
        reasons = self.rejected.most_common()
        if reasons:
            bottom.barh([r for r, _ in reasons], [n for _, n in reasons], color="tab:red")
            bottom.set_xlabel("lines dead-lettered, by reason")
        else:
            bottom.text(0.5, 0.5, "no line rejected", ha="center", va="center")
            bottom.set_axis_off()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path

    def summary(self) -> list[str]:
        lines = [
            f"sent {self.records:,} records in {self.wall_seconds:.1f}s "
            f"({self.records / max(self.wall_seconds, 1e-9):,.0f}/s)"
        ]
        lines += [f"  {topic}: {n:,}" for topic, n in sorted(self.sent.items())]
        if self.first_ts_ms is not None and self.last_ts_ms is not None:
            lines.append(f"event time {iso_ms(self.first_ts_ms)} .. {iso_ms(self.last_ts_ms)}")
        total_rejected = sum(self.rejected.values())
        lines.append(f"rejected {total_rejected:,} (to the dead-letter topic)")
        lines += [f"  {reason}: {n:,}" for reason, n in self.rejected.most_common()]
        if self.ignored:
            lines.append(
                "ignored " + ", ".join(f"{k} {n:,}" for k, n in self.ignored.most_common())
            )
        if self.outside:
            lines.append(f"outside --from/--to: {self.outside:,}")
        return lines


_NO_HEADERS: list[tuple[str, bytes]] = []


class BatchSender:
    """Per-partition batches through aiokafka's batch API, partitioned like a live producer."""

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, list[int]]):
        self.producer = producer
        self.partitions = partitions
        self._partitioner = DefaultPartitioner()
        self._cache: dict[str, dict[bytes, int]] = {topic: {} for topic in partitions}
        self._batches: dict[str, dict[int, Any]] = {topic: {} for topic in partitions}
        self._pending: list[asyncio.Future[Any]] = []

    def partition_of(self, topic: str, key: bytes) -> int:
        cache = self._cache[topic]
        part = cache.get(key)
        if part is None:
            parts = self.partitions[topic]
            part = cache[key] = int(self._partitioner(key, parts, parts))
        return part

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        ts_ms: int | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        part = self.partition_of(topic, key)
        batches = self._batches[topic]
        batch = batches.get(part)
        if batch is None:
            batch = batches[part] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=ts_ms, headers=list(headers)) is None:
            await self._renew(topic, part, batch)
            if (
                batches[part].append(key=key, value=value, timestamp=ts_ms, headers=list(headers))
                is None
            ):
                raise ReplayError(f"record of {len(value)} bytes does not fit a Kafka batch")

    async def send_many(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes],
                        timestamps: Sequence[int]) -> None:
        """Many records of one topic without headers, in order: the same batches as
        :meth:`send` one by one, with one await per full batch instead of one per record.

        (Records are appended in their order across partitions, so that the batches of
        all partitions fill together and leave in the same request.)
        """
        cache = self._cache[topic]
        batches = self._batches[topic]
        for key, value, ts in zip(keys, values, timestamps, strict=True):
            part = cache.get(key)
            if part is None:
                part = self.partition_of(topic, key)
            batch = batches.get(part)
            if batch is None:
                batch = batches[part] = self.producer.create_batch()
            if batch.append(timestamp=ts, key=key, value=value, headers=_NO_HEADERS) is None:
                await self._renew(topic, part, batch)
                if batches[part].append(timestamp=ts, key=key, value=value,
                                        headers=_NO_HEADERS) is None:
                    raise ReplayError(f"record of {len(value)} bytes does not fit a Kafka batch")

    async def _renew(self, topic: str, part: int, batch: Any) -> None:
        await self._submit(topic, part, batch)
        self._batches[topic][part] = self.producer.create_batch()

    async def _submit(self, topic: str, part: int, batch: Any) -> None:
        self._pending.append(await self.producer.send_batch(batch, topic, partition=part))

    async def checkpoint(self) -> list[asyncio.Future[Any]]:
        """Send every open batch; the acknowledgements of everything sent so far."""
        for topic, batches in self._batches.items():
            for part, batch in list(batches.items()):
                if batch.record_count():
                    await self._submit(topic, part, batch)
            batches.clear()
        pending, self._pending = self._pending, []
        return pending

    async def flush(self) -> None:
        """Send every open batch and wait until the broker acknowledged all of them."""
        pending = await self.checkpoint()
        if pending:
            await asyncio.gather(*pending)


def state_path(settings: Settings, paths: Sequence[Path]) -> Path:
    digest = hashlib.sha256("\0".join(str(p.resolve()) for p in paths).encode()).hexdigest()
    return settings.stack_dir / "replay" / f"{digest[:16]}.json"


@dataclass
class ResumeState:
    """Lines done per file, and the static data last sent per vessel (to send only changes)."""

    done: dict[str, int] = field(default_factory=dict)
    static: dict[int, str] = field(default_factory=dict)


def _load_state(path: Path, files: Sequence[Path]) -> ResumeState:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ResumeState()
    state = ResumeState(static={int(k): v for k, v in data.get("static", {}).items()})
    for f in files:
        entry = data.get("files", {}).get(str(f.resolve()))
        if entry and entry.get("size") == f.stat().st_size:
            state.done[str(f.resolve())] = int(entry["lines_done"])
    return state


def _save_state(path: Path, files: Sequence[Path], state: ResumeState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "files": {
            str(f.resolve()): {
                "size": f.stat().st_size,
                "lines_done": state.done.get(str(f.resolve()), 0),
            }
            for f in files
        },
        "static": state.static,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    tmp.replace(path)


@dataclass
class ReplayOptions:
    speed: float | None = None  # None: as fast as possible
    start_ms: int | None = None
    end_ms: int | None = None
    resume: bool = False
    flush_every: int = 50_000
    known_ports: frozenset[str] | None = None
    window: TimeWindow | None = None
    max_bytes: int = 4096
    fallback_time_ms: int | None = None  # receive time of bare NMEA sentences
    stop_after: int | None = None  # stop after this many items (tests of resume)
    end_of_feed: bool = True  # end a complete replay with end-of-feed markers


def options_from_settings(settings: Settings, **overrides: Any) -> ReplayOptions:
    """Replay options with the settings' validation rules: known ports from the
    geography, the accepted event-time window, the longest accepted line."""
    from streams.geo import load_geography

    return ReplayOptions(
        known_ports=frozenset(load_geography(settings.geography_file).ports),
        window=TimeWindow(int(settings.earliest_event_time.timestamp() * 1000),
                          int((time.time() + settings.future_tolerance_seconds) * 1000)),
        max_bytes=settings.max_record_bytes,
        **overrides,
    )


ProgressFn = Callable[[int, int, int | None], None]  # bytes read, records sent, event time


async def replay(
    settings: Settings,
    paths: Sequence[Path],
    options: ReplayOptions,
    progress: ProgressFn | None = None,
) -> ReplayStats:
    """Replay ``paths`` into the canonical topics; returns what was sent and rejected."""
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise ReplayError(f"no such file: {f}")
    formats = [detect_format(f) for f in files]
    state_file = state_path(settings, files)
    state = _load_state(state_file, files) if options.resume else ResumeState()
    stats = ReplayStats()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
        linger_ms=50,
        request_timeout_ms=30_000,
    )
    try:
        await producer.start()
    except KafkaError as e:
        await producer.stop()
        raise ReplayError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {e}") from None
    try:
        topics = {name: settings.topic(name) for name in (*TOPIC_OF.values(), "deadletter")}
        partitions: dict[str, list[int]] = {}
        for full in topics.values():
            parts = await producer.partitions_for(full)
            if not parts:
                raise ReplayError(f"topic {full} does not exist: run `berthwatch topics create`")
            partitions[full] = sorted(parts)
        sender = BatchSender(producer, partitions)
        t0 = time.monotonic()
        started = time.time()
        complete = await _run(files, formats, state, options, stats, sender, topics, state_file,
                              progress)
        await sender.flush()
        _save_state(state_file, files, state)
        if complete and options.end_of_feed:
            await _end_of_feed(sender, topics, partitions, stats)
        stats.wall_seconds = time.monotonic() - t0
        if complete:
            _log_run(settings, files, stats, started)
    finally:
        await producer.stop()
    return stats


async def _run(
    files: list[Path],
    formats: list[FeedFormat],
    state: ResumeState,
    options: ReplayOptions,
    stats: ReplayStats,
    sender: BatchSender,
    topics: dict[str, str],
    state_file: Path,
    progress: ProgressFn | None,
) -> bool:
    """Send everything; False when stopped early by ``stop_after``."""
    bytes_read = [0] * len(files)
    contexts = [
        FeedContext(
            fmt,
            known_ports=options.known_ports,
            window=options.window,
            max_bytes=options.max_bytes,
            fallback_time_ms=options.fallback_time_ms,
        )
        for fmt in formats
    ]
    skips = [state.done.get(str(f.resolve()), 0) for f in files]
    streams = [
        _parsed_apart(f, i, ctx, skip, bytes_read)
        if f.stat().st_size >= PARSE_APART_BYTES
        else _prefetched(_segments(f, i, ctx, skip, bytes_read))
        for i, (f, ctx, skip) in enumerate(zip(files, contexts, skips, strict=True))
    ]
    keys = [str(f.resolve()) for f in files]
    done = state.done
    since_flush = 0
    items = 0
    run = _Dispatch(files, options, stats, sender, topics, state.static)
    saved: asyncio.Task[None] | None = None
    for seg, a, b in _merged_runs(streams):
        if options.stop_after is not None:
            b = min(b, a + options.stop_after - items)
        if options.speed is not None:
            await run.paced(seg, a, b)
        else:
            await run.items(seg, a, b)
        key = keys[seg.file_index]
        done[key] = max(done.get(key, 0), int(seg.lines[a:b].max()))
        before = items
        items += b - a
        since_flush += b - a
        if since_flush >= options.flush_every:
            # the state is saved once the broker acknowledged everything before it,
            # while the replay goes on
            snapshot = ResumeState(dict(done), dict(state.static))
            saved = asyncio.create_task(
                _save_when_acked(await sender.checkpoint(), saved, state_file, files, snapshot)
            )
            since_flush = 0
        if progress is not None and items // 2048 != before // 2048:
            progress(sum(bytes_read), stats.records, stats.last_ts_ms)
        if options.stop_after is not None and items >= options.stop_after:
            if saved is not None:
                await saved
            return False
        if items // 4096 != before // 4096:
            await asyncio.sleep(0)  # let the producer's network tasks run
    if saved is not None:
        await saved
    return True


MARKED_TOPICS = ("positions", "containers", "inventory")


async def _end_of_feed(sender: BatchSender, topics: dict[str, str],
                       partitions: dict[str, list[int]], stats: ReplayStats) -> None:
    """Tell every partition of every feed topic that the feed ended, and when: the workers
    then close the last intervals, as the backtest does at the end of a file."""
    if not stats.newest:
        return
    overall = max(stats.newest.values())
    for short in MARKED_TOPICS:
        topic = topics[short]
        newest = stats.newest.get(topic, overall)
        header = [(END_OF_FEED_HEADER, str(newest).encode())]
        for part in partitions[topic]:
            batch = sender.producer.create_batch()
            batch.append(key=None, value=b"", timestamp=newest, headers=header)
            await sender._submit(topic, part, batch)
            stats.markers += 1
    await sender.flush()


def _log_run(settings: Settings, files: Sequence[Path], stats: ReplayStats,
             started: float) -> None:
    """One line per complete replay in ``replays.jsonl`` (``dashboards push`` annotates them)."""
    line = {
        "started": started, "finished": time.time(), "files": [str(f) for f in files],
        "records": stats.records, "rejected": sum(stats.rejected.values()),
        "event_from": None if stats.first_ts_ms is None else stats.first_ts_ms / 1000,
        "event_to": None if stats.last_ts_ms is None else stats.last_ts_ms / 1000,
    }  # fmt: skip
    path = settings.stack_dir / "replays.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")


async def _save_when_acked(
    acks: list[asyncio.Future[Any]],
    previous: asyncio.Task[None] | None,
    state_file: Path,
    files: list[Path],
    snapshot: ResumeState,
) -> None:
    if previous is not None:
        await previous
    if acks:
        await asyncio.gather(*acks)
    _save_state(state_file, files, snapshot)


def _prefetched(segments: Iterator[Segment], depth: int = 2) -> Iterator[Segment]:
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
        for seg in _segments(path, index, ctx, skip_lines, bytes_read):
            out.put((seg, bytes_read[index]))
        out.put((None, bytes_read[index]))
    except BaseException as e:  # handed to the parent
        out.put((e, 0))


def _parsed_apart(
    path: Path, index: int, ctx: FeedContext, skip_lines: int, bytes_read: list[int]
) -> Iterator[Segment]:
    """The segments of :func:`_segments`, parsed in a child process, a few ahead.

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


_RECORDS = (PositionRecord, VesselStaticRecord, ContainerEvent, InventorySnapshot)
TOPIC_OF_KIND: dict[Kind, str] = {
    Kind.POSITION: "positions",
    Kind.VESSEL_STATIC: "vessels",
    Kind.CONTAINER_EVENT: "containers",
    Kind.INVENTORY: "inventory",
}


def _merged_runs(streams: list[Iterator[Segment]]) -> Iterator[tuple[Segment, int, int]]:
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


class _Dispatch:
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
            if isinstance(r, _RECORDS) and not self._outside(r.ts_ms):
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
            await sender.send(
                self.topics["deadletter"],
                f"{path.name}:{line}".encode(),
                out.raw,
                None,
                headers=[
                    ("source_topic", f"file:{path.name}".encode()),
                    ("source_partition", b"-1"),
                    ("source_offset", str(line).encode()),
                    ("error_class", result.reason.value.encode()),
                    ("error_message", result.message.encode()),
                ],
            )
            return
        if isinstance(result, Ignored):
            stats.ignored[result.kind] += 1
            return
        if not isinstance(result, _RECORDS):
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
            topic = self.topics[TOPIC_OF[type(rec)]]
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
