"""The Kafka contracts on the real broker: ``topics list`` and reading a topic to its end."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka.admin import list_topics
from streams.kafka.client import aiokafka_args
from streams.kafka.io import BatchSender, partition_for, read_to_end, read_topic_to_end
from streams.kafka.records import end_of_feed_of
from streams.kafka.topics import TOPICS
from streams.settings import Settings
from tests.integration.conftest import run_cli


def _prefix() -> str:
    return f"k{uuid.uuid4().hex[:8]}."


def test_topics_list_reports_missing_then_what_topics_create_made(stack: Settings) -> None:
    prefix = _prefix()
    env = {"BERTHWATCH_TOPIC_PREFIX": prefix}
    before = run_cli("topics", "list", env=env, check=False)
    assert before.returncode == 3, before.stdout + before.stderr
    assert f"{len(TOPICS)} missing" in before.stderr
    run_cli("topics", "create", env=env)
    after = run_cli("topics", "list", env=env)
    for t in TOPICS:
        assert prefix + t.short in after.stdout
    assert "missing" not in after.stdout + after.stderr
    settings = stack.model_copy(update={"topic_prefix": prefix})
    rows = list_topics(settings)
    assert [r.name for r in rows] == [prefix + t.short for t in TOPICS]
    assert all(r.differences() == [] for r in rows), [r.differences() for r in rows]


async def _produce(settings: Settings, topic: str, keys: list[bytes], newest: int) -> None:
    """``keys`` with event times from an hour ago (inside the feed topics' retention),
    then an end-of-feed marker at ``newest``."""
    t0 = int(time.time() * 1000) - 3_600_000
    producer = AIOKafkaProducer(**aiokafka_args(settings, producer=True), acks="all")
    await producer.start()
    try:
        sender = BatchSender(producer, {topic: sorted(await producer.partitions_for(topic))})
        await sender.send_many(topic, keys, [k + b"!" for k in keys],
                                [t0 + i for i in range(len(keys))])
        await sender.end_of_feed(topic, newest)
        await sender.flush()
    finally:
        await producer.stop()


def test_read_to_end_reads_every_record_in_partition_order(stack: Settings) -> None:
    prefix = _prefix()
    run_cli("topics", "create", env={"BERTHWATCH_TOPIC_PREFIX": prefix})
    topic = prefix + "positions"
    keys = [f"{366_000_000 + i}".encode() for i in range(5000)]
    newest = int(time.time() * 1000)
    asyncio.run(_produce(stack, topic, keys, newest))
    records = read_topic_to_end(stack, topic, timeout_s=60)
    parts = stack.topic_partitions
    assert len(records) == len(keys) + parts  # and one end-of-feed marker per partition
    assert [(r.partition, r.offset) for r in records] == sorted(
        (r.partition, r.offset) for r in records)
    data = [r for r in records if r.key is not None]
    assert all(r.partition == partition_for(r.key, parts) for r in data)
    assert sorted(r.key for r in data) == sorted(keys)
    assert all(r.value == r.key + b"!" for r in data)
    markers = [r for r in records if r.key is None]
    assert sorted(r.partition for r in markers) == list(range(parts))
    assert all(end_of_feed_of(r.headers) == newest for r in markers)
    # a second read sees what was appended since; an empty or missing topic has nothing
    asyncio.run(_produce(stack, topic, keys[:10], newest))
    again = read_topic_to_end(stack, topic, timeout_s=60)
    assert len(again) == len(records) + 10 + parts
    assert read_topic_to_end(stack, prefix + "alerts") == []
    assert read_topic_to_end(stack, prefix + "no-such-topic") == []


def test_read_to_end_on_a_shared_consumer_leaves_it_unassigned(stack: Settings) -> None:
    prefix = _prefix()
    run_cli("topics", "create", env={"BERTHWATCH_TOPIC_PREFIX": prefix})
    topic = prefix + "containers"
    asyncio.run(_produce(stack, topic, [b"CSQU3054383", b"MSCU1234566"], 1))

    async def twice() -> tuple[int, int, int]:
        consumer = AIOKafkaConsumer(**aiokafka_args(stack), enable_auto_commit=False)
        await consumer.start()
        try:
            first = await read_to_end(consumer, topic)
            assigned = len(consumer.assignment())
            second = await read_to_end(consumer, topic, range(stack.topic_partitions))
            return len(first), assigned, len(second)
        finally:
            await consumer.stop()

    n, assigned, again = asyncio.run(twice())
    assert n == again == 2 + stack.topic_partitions and assigned == 0
