"""The partitioner against both Kafka clients, the batch sender and read_to_end (no broker)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner as AioPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner as KafkaPythonPartitioner

from streams.kafka.io import (
    BatchSender,
    RecordTooLarge,
    partition_for,
)
from streams.kafka.records import END_OF_FEED_HEADER


class _Cluster:
    """The part of kafka-python's cluster metadata its partitioner asks."""

    def __init__(self, partitions: int) -> None:
        self.parts = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, _topic: str) -> set[int]:
        return self.parts

    def available_partitions_for_topic(self, _topic: str) -> set[int]:
        return self.parts


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=0, max_size=40), st.integers(1, 64))
def test_partition_for_is_both_clients_partitioner(key: bytes, partitions: int) -> None:
    ids = list(range(partitions))
    ours = partition_for(key, partitions)
    assert ours == AioPartitioner()(key, ids, ids)
    assert ours == KafkaPythonPartitioner().partition("t", key, key, None, None,
                                                      _Cluster(partitions))


# --------------------------------------------------------------------------- sender


class _Batch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes, int | None, list[tuple[str, bytes]]]] = []

    def append(self, *, key: bytes | None, value: bytes, timestamp: int | None,
               headers: list[tuple[str, bytes]]) -> object | None:
        if len(self.records) >= self.capacity or len(value) > 100:
            return None
        self.records.append((key, value, timestamp, list(headers)))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class _Producer:
    """Batches in, what each partition received out, in order."""

    def __init__(self, capacity: int = 3) -> None:
        self.capacity = capacity
        self.sent: list[tuple[str, int, _Batch]] = []

    def create_batch(self) -> _Batch:
        return _Batch(self.capacity)

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.sent.append((topic, partition, batch))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def partition_log(self, topic: str, partition: int) -> list[tuple[Any, ...]]:
        return [r for t, p, b in self.sent if (t, p) == (topic, partition) for r in b.records]


def test_sender_partitions_by_key_and_ends_each_partition_with_a_marker() -> None:
    producer = _Producer()
    sender = BatchSender(producer, {"t": [0, 1, 2, 3]})  # type: ignore[arg-type]
    keys = [f"k{i}".encode() for i in range(20)]

    async def run() -> int:
        await sender.send_many("t", keys[:10], [b"v"] * 10, list(range(10)))
        for i in range(10, 20):
            await sender.send("t", keys[i], b"v", i)
        markers = await sender.end_of_feed("t", 99)
        await sender.flush()
        return markers

    assert asyncio.run(run()) == 4
    for part in range(4):
        log = producer.partition_log("t", part)
        assert [r[0] for r in log[:-1]] == [k for k in keys if partition_for(k, 4) == part]
        assert [r[2] for r in log[:-1]] == sorted(r[2] for r in log[:-1])
        assert log[-1] == (None, b"", 99, [(END_OF_FEED_HEADER, b"99")])
    markers = [b for _t, _p, b in producer.sent if b.records[0][0] is None]
    assert all(b.record_count() == 1 for b in markers)  # each in a batch of its own


def test_sender_refuses_a_record_that_fits_no_batch() -> None:
    sender = BatchSender(_Producer(), {"t": [0]})  # type: ignore[arg-type]
    with pytest.raises(RecordTooLarge, match="101 bytes"):
        asyncio.run(sender.send("t", b"k", b"x" * 101, None))


# --------------------------------------------------------------------------- reader
