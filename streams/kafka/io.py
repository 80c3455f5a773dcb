"""Producing and reading berthwatch's topics: the partitioner, the batch sender, the reader.

* :func:`partition_for`: the partition of a key, murmur2 like the Java client (and
  aiokafka's and kafka-python's default partitioners), for the replay, the in-process
  worker and the detection shards alike;
* :class:`BatchSender`: per-partition batches through aiokafka's batch API. On this
  project's benchmark kafka-python's producer sent about 13 k records/s where the batch
  API with a cached partitioner sent over 500 k/s (``bench/``);
* :func:`read_to_end`: every record of a topic up to the end offsets it had when the
  read started (:func:`read_topic_to_end` without an event loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from streams.kafka.client import aiokafka_args, diagnose, failure
from streams.kafka.records import WireRecord, end_of_feed_marker
from streams.settings import Settings


def partition_for(key: bytes, partitions: int) -> int:
    """The partition (of ``0..partitions-1``) a live producer sends ``key`` to.

    >>> partition_for(b"CSQU3054383", 8), partition_for(b"367752440", 8)
    (5, 4)
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class RecordTooLarge(ValueError):
    """A record that does not fit an empty Kafka batch."""


_NO_HEADERS: list[tuple[str, bytes]] = []


class BatchSender:
    """Per-partition batches through aiokafka's batch API, partitioned like a live producer
    (:func:`partition_for`). ``partitions``: full topic name -> its partition ids."""

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, list[int]]):
        self.producer = producer
        self.partitions = partitions
        self._cache: dict[str, dict[bytes, int]] = {topic: {} for topic in partitions}
        self._batches: dict[str, dict[int, Any]] = {topic: {} for topic in partitions}
        self._pending: list[asyncio.Future[Any]] = []
        self.unacked = 0
        """Batches handed to the producer and not acknowledged yet."""
        self.acked_at = time.monotonic()
        """Monotonic time of the last acknowledgement (or of the first send after none
        were waiting)."""

    def stalled_s(self) -> float:
        """Seconds the broker has not acknowledged anything while batches wait (0 when
        none wait): how long the broker has been unreachable, as the sender sees it."""
        return 0.0 if self.unacked == 0 else time.monotonic() - self.acked_at

    def _acked(self, fut: asyncio.Future[Any]) -> None:
        self.unacked -= 1
        if not fut.cancelled() and fut.exception() is None:
            self.acked_at = time.monotonic()

    def partition_of(self, topic: str, key: bytes) -> int:
        cache = self._cache[topic]
        part = cache.get(key)
        if part is None:
            parts = self.partitions[topic]
            part = cache[key] = parts[partition_for(key, len(parts))]
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
                raise RecordTooLarge(f"record of {len(value)} bytes does not fit a Kafka batch")

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
                    raise RecordTooLarge(
                        f"record of {len(value)} bytes does not fit a Kafka batch")

    async def end_of_feed(self, topic: str, newest_ms: int) -> int:
        """An end-of-feed marker (:func:`~streams.kafka.records.end_of_feed_marker`) after
        everything sent so far to every partition of ``topic``, each in a batch of its own;
        returns how many."""
        return await self.marker(topic, end_of_feed_marker(newest_ms))

    async def marker(self, topic: str, marker: WireRecord) -> int:
        """``marker`` after everything sent so far to every partition of ``topic``, each in
        a batch of its own; returns how many."""
        batches = self._batches[topic]
        for part in self.partitions[topic]:
            open_batch = batches.pop(part, None)
            if open_batch is not None and open_batch.record_count():
                await self._submit(topic, part, open_batch)
            batch = self.producer.create_batch()
            batch.append(key=marker.key, value=marker.value, timestamp=marker.timestamp_ms,
                         headers=marker.headers)
            await self._submit(topic, part, batch)
        return len(self.partitions[topic])

    async def _renew(self, topic: str, part: int, batch: Any) -> None:
        await self._submit(topic, part, batch)
        self._batches[topic][part] = self.producer.create_batch()

    async def _submit(self, topic: str, part: int, batch: Any) -> None:
        if self.unacked == 0:
            self.acked_at = time.monotonic()
        self.unacked += 1
        try:
            fut = await self.producer.send_batch(batch, topic, partition=part)
        except BaseException:
            self.unacked -= 1
            raise
        fut.add_done_callback(self._acked)
        self._pending.append(fut)

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


# --------------------------------------------------------------------------- reading


class TopicRecord(NamedTuple):
    """A record read from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    """Milliseconds (the record's CreateTime on berthwatch's topics)."""
    headers: tuple[tuple[str, bytes], ...]


async def read_to_end(
    consumer: AIOKafkaConsumer,
    topic: str,
    partitions: Iterable[int] | None = None,
    *,
    timeout_s: float | None = None,
) -> list[TopicRecord]:
    """Every record of ``topic`` (of ``partitions``; default: all of them) from the
    beginning up to the end offsets taken when the read starts, in (partition, offset)
    order; nothing appended after that. A missing topic has no records.

    ``consumer`` is a started consumer outside any group; it is assigned the partitions
    for the read and unassigned after. The end is reached when every partition's position
    passes its end offset, never by a pause; ``timeout_s`` only bounds how long that may
    take (:class:`TimeoutError` after it).
    """
    if partitions is None:
        # the consumer's own metadata covers only what it was assigned: ask the cluster
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic) or ()
    parts = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not parts:
        return []
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    out: list[TopicRecord] = []
    start: dict[TopicPartition, int] = await consumer.beginning_offsets(parts)
    end: dict[TopicPartition, int] = await consumer.end_offsets(parts)
    # only partitions with records are assigned: an empty one is done before any fetch
    # (and a consumer left waiting for the position of one does not stop)
    todo = {tp for tp in parts if start[tp] < end[tp]}
    if not todo:
        return out
    consumer.assign(sorted(todo))
    try:
        for tp in todo:
            consumer.seek(tp, start[tp])
        while todo:
            if deadline is not None and time.monotonic() > deadline:
                left = {tp.partition: end[tp] for tp in todo}
                raise TimeoutError(f"{topic} not read to its end offsets {left} "
                                   f"in {timeout_s} s")
            got = await consumer.getmany(*todo, timeout_ms=500)
            for tp, msgs in got.items():
                stop = end[tp]
                out.extend(
                    TopicRecord(m.partition, m.offset, m.key, m.value, m.timestamp,
                                tuple(m.headers or ()))
                    for m in msgs if m.offset < stop
                )
            for tp in list(todo):
                if await consumer.position(tp) >= end[tp]:
                    todo.discard(tp)
    finally:
        consumer.unsubscribe()
    out.sort(key=lambda r: (r.partition, r.offset))
    return out


def latest_by_key(records: Iterable[TopicRecord]) -> dict[bytes, bytes]:
    """The latest value of each key, what a compacted topic means: records without a key
    are left out, and so is a key whose latest record is a tombstone (no value).

    >>> latest_by_key([TopicRecord(0, 0, b"k", b"1", 0, ()), TopicRecord(0, 1, None, b"x", 0, ()),
    ...                TopicRecord(0, 2, b"k", b"2", 0, ()), TopicRecord(1, 0, b"j", b"3", 0, ()),
    ...                TopicRecord(1, 1, b"j", None, 0, ())])
    {b'k': b'2'}
    """
    latest = {r.key: r.value for r in records if r.key is not None}
    return {k: v for k, v in latest.items() if v is not None}


async def start_client(client: AIOKafkaProducer | AIOKafkaConsumer, s: Settings) -> None:
    """Start an aiokafka client; when the broker cannot be used, stop it again and raise
    :class:`ConnectionError` with one line (naming the setting when the broker refused
    the credentials or the certificates, :func:`streams.kafka.client.diagnose`). With
    TLS or SASL the settings are tried once first: aiokafka would log the refusal."""
    if s.kafka.security_protocol != "PLAINTEXT":
        problem = await diagnose(s)
        if problem is not None:
            await client.stop()
            raise failure(problem)
    try:
        await client.start()
    except KafkaError as e:
        await client.stop()
        problem = await diagnose(s)
        raise ConnectionError(problem or f"cannot reach Kafka at {s.kafka_bootstrap}: {e}"
                              ) from None


async def _read_with_own_consumer(s: Settings, topic: str, timeout_s: float | None,
                                  config: dict[str, Any]) -> list[TopicRecord]:
    consumer = AIOKafkaConsumer(**aiokafka_args(s), enable_auto_commit=False, **config)
    await start_client(consumer, s)
    try:
        return await read_to_end(consumer, topic, timeout_s=timeout_s)
    finally:
        await consumer.stop()


def read_topic_to_end(s: Settings, topic: str, *, timeout_s: float | None = None,
                      **config: Any) -> list[TopicRecord]:
    """:func:`read_to_end` with a consumer of its own (the settings' Kafka client
    configuration; ``config``: more aiokafka consumer settings), for callers without an
    event loop. :class:`ConnectionError` when the broker cannot be used."""
    return asyncio.run(_read_with_own_consumer(s, topic, timeout_s, config))
