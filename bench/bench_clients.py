"""The hot path's Kafka client, aiokafka, against confluent-kafka (librdkafka).

Run from the project root against a running broker (``berthwatch stack up``):
python bench/bench_clients.py [--bootstrap HOST:PORT] [--records N]

Both clients get the same connection from the one client configuration
(``streams.kafka.client``: aiokafka's arguments, and the standard property names
as they are for librdkafka) and measure, on the same topic, in the same run:

* sending N position-sized records (44-byte values, MMSI keys, murmur2 partitions,
  ``acks=all``, idempotent): aiokafka through the replay's batch sender, confluent-kafka
  through ``Producer.produce`` and ``flush``;
* reading them back to the end offsets with the worker's fetch sizes: aiokafka's
  ``getmany``, confluent-kafka's ``Consumer.consume`` in batches, every value touched.

It prints records per second and CPU seconds for each. confluent-kafka is not a
dependency: without it the script says so and measures aiokafka alone. A benchmark,
not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

from streams.kafka.client import aiokafka_args, kafka_python_args  # noqa: E402
from streams.kafka.io import BatchSender  # noqa: E402
from streams.settings import Settings, load_settings  # noqa: E402

PARTITIONS = 4
BATCH = 50_000


def records(n: int) -> tuple[list[bytes], list[bytes], list[int]]:
    """``n`` position-sized records over 2,000 vessels, an hour of event time apart."""
    keys = [str(366_000_000 + i % 2000).encode() for i in range(n)]
    values = [os.urandom(44) for _ in range(n)]
    t0 = int(time.time() * 1000) - 3_600_000
    return keys, values, [t0 + i % 3_600_000 for i in range(n)]


def librdkafka_config(s: Settings) -> dict[str, Any]:
    """The one client configuration as librdkafka properties (its own names)."""
    k = s.kafka
    out: dict[str, Any] = {"bootstrap.servers": s.kafka_bootstrap, "client.id": k.client_id,
                           "security.protocol": k.security_protocol.lower()}
    if k.security_protocol.startswith("SASL_"):
        out.update({"sasl.mechanism": k.sasl_mechanism, "sasl.username": k.sasl_username,
                    "sasl.password": k.sasl_password.get_secret_value()
                    if k.sasl_password else None})
    for name in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
        value = getattr(k, name.replace(".", "_"))
        if value is not None:
            out[name] = str(value)
    if k.ssl_key_password is not None:
        out["ssl.key.password"] = k.ssl_key_password.get_secret_value()
    return out


def timed(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


async def aiokafka_send(s: Settings, topic: str, keys: list[bytes], values: list[bytes],
                        stamps: list[int]) -> None:
    producer = AIOKafkaProducer(**aiokafka_args(s, producer=True), acks="all",
                                enable_idempotence=True, max_batch_size=1 << 20,
                                max_request_size=4 << 20, linger_ms=50)
    await producer.start()
    try:
        sender = BatchSender(producer, {topic: sorted(await producer.partitions_for(topic))})
        for lo in range(0, len(keys), BATCH):
            hi = lo + BATCH
            await sender.send_many(topic, keys[lo:hi], values[lo:hi], stamps[lo:hi])
        await sender.flush()
    finally:
        await producer.stop()


async def aiokafka_read(s: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(**aiokafka_args(s), enable_auto_commit=False,
                                max_partition_fetch_bytes=4 << 20, fetch_max_bytes=32 << 20)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        total, size = sum(ends.values()), 0
        count = 0
        while count < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            for msgs in batches.values():
                count += len(msgs)
                size += sum(len(m.value or b"") for m in msgs)
        return count
    finally:
        await consumer.stop()


def confluent_send(s: Settings, topic: str, keys: list[bytes], values: list[bytes],
                   stamps: list[int]) -> None:
    from confluent_kafka import Producer

    producer = Producer({**librdkafka_config(s), "acks": "all", "enable.idempotence": True,
                         "linger.ms": 50, "batch.size": 1 << 20,
                         "partitioner": "murmur2_random", "queue.buffering.max.messages": 1 << 20})
    for key, value, ts in zip(keys, values, stamps, strict=True):
        while True:
            try:
                producer.produce(topic, value, key, timestamp=ts)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(60)
    assert left == 0, f"{left} records not delivered"


def confluent_read(s: Settings, topic: str, total: int) -> int:
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as CTopicPartition

    consumer = Consumer({**librdkafka_config(s), "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "fetch.max.bytes": 32 << 20,
                         "max.partition.fetch.bytes": 4 << 20})
    consumer.assign([CTopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    count, size = 0, 0
    try:
        while count < total:
            for msg in consumer.consume(BATCH, 1.0):
                if msg.error() is None:
                    count += 1
                    size += len(msg.value() or b"")
    finally:
        consumer.close()
    return count


def fresh_topic(s: Settings, tag: str) -> str:
    topic = f"bench-clients-{tag}-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(**kafka_python_args(s))
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, s.topic_replication_factor or -1)])
    finally:
        admin.close()
    return topic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="brokers (default: the settings' kafka_servers)")
    parser.add_argument("--records", type=int, default=300_000)
    args = parser.parse_args()
    s = load_settings(**({"kafka_servers": args.bootstrap} if args.bootstrap else {}))
    keys, values, stamps = records(args.records)
    n = len(keys)
    rows = []
    topic = fresh_topic(s, "aiokafka")
    _, wall, cpu = timed(lambda: asyncio.run(aiokafka_send(s, topic, keys, values, stamps)))
    rows.append(("aiokafka send (replay's BatchSender)", n / wall, cpu))
    read, wall, cpu = timed(lambda: asyncio.run(aiokafka_read(s, topic)))
    rows.append(("aiokafka read (getmany)", read / wall, cpu))
    try:
        import confluent_kafka
    except ImportError:
        print("confluent-kafka is not installed: `pip install confluent-kafka` to compare")
    else:
        topic = fresh_topic(s, "confluent")
        _, wall, cpu = timed(lambda: confluent_send(s, topic, keys, values, stamps))
        rows.append((f"confluent-kafka {confluent_kafka.__version__} send (produce)",
                     n / wall, cpu))
        read, wall, cpu = timed(lambda: confluent_read(s, topic, n))
        rows.append(("confluent-kafka read (consume)", read / wall, cpu))
    print(f"{n} records of 44 bytes, {PARTITIONS} partitions, {s.kafka_bootstrap}")
    for name, rate, cpu in rows:
        print(f"  {name:<44} {rate:>10,.0f} records/s  {cpu:6.2f} s CPU (this process)")


if __name__ == "__main__":
    main()
