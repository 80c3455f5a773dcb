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

A replay can be resumed: progress (lines done per file) is saved in a state
file after every flush, and ``--resume`` skips what was already sent. Records
after the last saved flush may be sent twice; the downstream features are
idempotent for a repeated position or snapshot (see docs/RECOVERY.md).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import heapq
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from streams.feeds.codec import encode, key_of
from streams.feeds.parse import FeedContext, FeedFormat, FeedParser
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

TOPIC_OF: dict[type, str] = {
    PositionRecord: "positions",
    VesselStaticRecord: "vessels",
    ContainerEvent: "containers",
    InventorySnapshot: "inventory",
}

CSV_HEADERS: dict[str, FeedFormat] = {
    "mmsi": FeedFormat.AIS_MARINECADASTRE_CSV,
    "time,port,terminal,container,event": FeedFormat.CONTAINER_CSV,
    "time,site,item,on_hand,daily_usage": FeedFormat.INVENTORY_CSV,
}


class ReplayError(Exception):
    """A replay problem phrased as one line (unreadable file, unknown format, no broker)."""


def open_tracked(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(file on disk, reader): the reader gunzips by magic number, not by name; the
    file's position says how far the reader got (for progress)."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise ReplayError(f"cannot read {path}: {e.strerror}") from None
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw, raw


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, transparently gunzipped."""
    return open_tracked(path)[1]


def detect_format(path: Path) -> FeedFormat:
    """Tell a feed's format from its first non-blank line.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = Path(d) / "x.csv"; _ = p.write_text("time,site,item,on_hand,daily_usage\\n")
    >>> detect_format(p)
    <FeedFormat.INVENTORY_CSV: 'inventory_csv'>
    """
    with open_binary(path) as fh:
        try:
            for raw in fh:  # first non-blank line
                line = raw.decode("utf-8", errors="replace").strip()
                if line:
                    break
            else:
                raise ReplayError(f"{path}: file is empty")
        except (OSError, EOFError) as e:
            raise ReplayError(f"{path}: unreadable ({e})") from None
    head = line.lower().replace(" ", "")
    if head.startswith("mmsi,"):
        return FeedFormat.AIS_MARINECADASTRE_CSV
    for header, fmt in CSV_HEADERS.items():
        if head.startswith(header):
            return fmt
    if "!" in line[:40] and ("vdm," in head or "vdo," in head):
        return FeedFormat.AIS_NMEA
    if head.startswith("{"):
        if '"container"' in head:
            return FeedFormat.CONTAINER_JSONL
        if '"site"' in head:
            return FeedFormat.INVENTORY_JSONL
    raise ReplayError(
        f"{path}: unknown feed format (first line {line[:60]!r}); expected AIS NMEA, "
        "MarineCadastre CSV, or container/inventory CSV or JSON lines (docs/FEEDS.md)"
    )


@dataclass(frozen=True)
class Item:
    """One outcome ready to send, ordered by event time then source position."""

    ts_ms: int
    file_index: int
    line: int
    outcome: Outcome


def _outcomes(path: Path, index: int, ctx: FeedContext, skip_lines: int,
              bytes_read: list[int]) -> Iterator[Item]:
    """Final outcomes of one file, each with the event time it sorts by."""
    parser = FeedParser(ctx)
    last_ts = 0
    disk, reader = open_tracked(path)
    with disk, reader as fh:
        for number, raw in enumerate(fh, 1):
            if number % 1024 == 0:
                bytes_read[index] = disk.tell()
            for out in parser.feed(raw.rstrip(b"\r\n"), number):
                ref = int(out.ref) if isinstance(out.ref, int) else number
                ts = getattr(out.result, "ts_ms", last_ts)
                last_ts = max(last_ts, ts) if isinstance(ts, int) else last_ts
                if ref > skip_lines and not isinstance(out.result, Fragment):
                    yield Item(last_ts if not isinstance(ts, int) else ts, index, ref, out)
        for out in parser.flush():
            ref = int(out.ref) if isinstance(out.ref, int) else 0
            if ref > skip_lines:
                yield Item(last_ts, index, ref, out)


@dataclass
class ReplayStats:
    sent: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    outside: int = 0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    wall_seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(self.sent.values())

    def summary(self) -> list[str]:
        lines = [
            f"sent {self.records:,} records in {self.wall_seconds:.1f}s "
            f"({self.records / max(self.wall_seconds, 1e-9):,.0f}/s)"
        ]
        lines += [f"  {topic}: {n:,}" for topic, n in sorted(self.sent.items())]
        if self.first_ts_ms is not None and self.last_ts_ms is not None:
            lines.append(f"event time {_iso(self.first_ts_ms)} .. {_iso(self.last_ts_ms)}")
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


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BatchSender:
    """Per-partition batches through aiokafka's batch API, partitioned like a live producer."""

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, list[int]]):
        self.producer = producer
        self.partitions = partitions
        self._partitioner = DefaultPartitioner()
        self._cache: dict[tuple[str, bytes], int] = {}
        self._batches: dict[tuple[str, int], Any] = {}
        self._pending: list[asyncio.Future[Any]] = []

    def partition_of(self, topic: str, key: bytes) -> int:
        ck = (topic, key)
        part = self._cache.get(ck)
        if part is None:
            parts = self.partitions[topic]
            part = self._cache[ck] = int(self._partitioner(key, parts, parts))
        return part

    async def send(self, topic: str, key: bytes, value: bytes, ts_ms: int | None,
                   headers: Sequence[tuple[str, bytes]] = ()) -> None:
        part = self.partition_of(topic, key)
        slot = (topic, part)
        batch = self._batches.get(slot)
        if batch is None:
            batch = self._batches[slot] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=ts_ms, headers=list(headers)) is None:
            await self._submit(slot, batch)
            batch = self._batches[slot] = self.producer.create_batch()
            if batch.append(key=key, value=value, timestamp=ts_ms, headers=list(headers)) is None:
                raise ReplayError(f"record of {len(value)} bytes does not fit a Kafka batch")

    async def _submit(self, slot: tuple[str, int], batch: Any) -> None:
        self._pending.append(await self.producer.send_batch(batch, slot[0], partition=slot[1]))

    async def flush(self) -> None:
        """Send every open batch and wait until the broker acknowledged all of them."""
        for slot, batch in list(self._batches.items()):
            if batch.record_count():
                await self._submit(slot, batch)
        self._batches.clear()
        pending, self._pending = self._pending, []
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
    body = {"files": {str(f.resolve()): {"size": f.stat().st_size,
                                         "lines_done": state.done.get(str(f.resolve()), 0)}
                      for f in files},
            "static": state.static}
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


ProgressFn = Callable[[int, int, int | None], None]  # bytes read, records sent, event time


async def replay(settings: Settings, paths: Sequence[Path], options: ReplayOptions,
                 progress: ProgressFn | None = None) -> ReplayStats:
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
        await _run(files, formats, state, options, stats, sender, topics, state_file, progress)
        await sender.flush()
        _save_state(state_file, files, state)
        stats.wall_seconds = time.monotonic() - t0
    finally:
        await producer.stop()
    return stats


async def _run(files: list[Path], formats: list[FeedFormat], state: ResumeState,
               options: ReplayOptions, stats: ReplayStats, sender: BatchSender,
               topics: dict[str, str], state_file: Path, progress: ProgressFn | None) -> None:
    bytes_read = [0] * len(files)
    streams = [
        _outcomes(f, i, FeedContext(fmt, known_ports=options.known_ports, window=options.window,
                                    max_bytes=options.max_bytes,
                                    fallback_time_ms=options.fallback_time_ms),
                  state.done.get(str(f.resolve()), 0), bytes_read)
        for i, (f, fmt) in enumerate(zip(files, formats, strict=True))
    ]
    keys = [str(f.resolve()) for f in files]
    done = state.done
    since_flush = 0
    pace_origin: tuple[float, int] | None = None
    items = 0
    async for item in _merged(streams):
        result = item.outcome.result
        if options.speed is not None and isinstance(result, _RECORDS):
            if pace_origin is None:
                pace_origin = (time.monotonic(), item.ts_ms)
            due = pace_origin[0] + (item.ts_ms - pace_origin[1]) / 1000 / options.speed
            delay = due - time.monotonic()
            if delay > 0:
                await sender.flush()  # nothing waits in a buffer while we sleep
                await asyncio.sleep(delay)
        await _dispatch(item, files[item.file_index], options, stats, sender, topics, state.static)
        done[keys[item.file_index]] = max(done.get(keys[item.file_index], 0), item.line)
        since_flush += 1
        items += 1
        if since_flush >= options.flush_every:
            await sender.flush()
            _save_state(state_file, files, state)
            since_flush = 0
        if progress is not None and items % 2048 == 0:
            progress(sum(bytes_read), stats.records, stats.last_ts_ms)
        if options.stop_after is not None and items >= options.stop_after:
            break


_RECORDS = (PositionRecord, VesselStaticRecord, ContainerEvent, InventorySnapshot)


async def _merged(streams: list[Iterator[Item]]) -> AsyncIterator[Item]:
    """Items of all files in event-time order (ties: file order, then line)."""
    merged = heapq.merge(*streams, key=lambda it: (it.ts_ms, it.file_index, it.line))
    for n, item in enumerate(merged):
        yield item
        if n % 4096 == 0:
            await asyncio.sleep(0)  # let the producer's network tasks run


async def _dispatch(item: Item, path: Path, options: ReplayOptions, stats: ReplayStats,
                    sender: BatchSender, topics: dict[str, str],
                    last_static: dict[int, str]) -> None:
    out = item.outcome
    result = out.result
    if isinstance(result, Rejection):
        stats.rejected[result.reason.value] += 1
        await sender.send(
            topics["deadletter"], f"{path.name}:{item.line}".encode(), out.raw, None,
            headers=[
                ("source_topic", f"file:{path.name}".encode()),
                ("source_partition", b"-1"),
                ("source_offset", str(item.line).encode()),
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
    if (options.start_ms is not None and result.ts_ms < options.start_ms) or (
        options.end_ms is not None and result.ts_ms >= options.end_ms
    ):
        stats.outside += 1
        return
    records: list[Record] = [result]
    if isinstance(result, PositionRecord) and result.static is not None:
        records.append(result.static)
    for rec, wire in zip(records, encode(records), strict=True):
        if isinstance(rec, VesselStaticRecord):
            # decoded rows repeat the static data on every row: send it when it changes
            # the payload without version, kind and timestamp
            body = hashlib.blake2b(wire[2 + 8:], digest_size=8).hexdigest()
            if last_static.get(rec.mmsi) == body:
                continue
            last_static[rec.mmsi] = body
        topic = topics[TOPIC_OF[type(rec)]]
        await sender.send(topic, key_of(rec), wire, rec.ts_ms)
        stats.sent[topic] += 1
    ts = result.ts_ms
    stats.first_ts_ms = ts if stats.first_ts_ms is None else min(stats.first_ts_ms, ts)
    stats.last_ts_ms = ts if stats.last_ts_ms is None else max(stats.last_ts_ms, ts)
