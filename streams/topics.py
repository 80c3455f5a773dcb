"""Topic names, keys and configuration, and their creation with kafka-python's admin client.

Feed topics are keyed by entity so that every record of one vessel, container or
inventory series lands in the same partition, in order: MMSI for positions and
vessel data, the ISO 6346 number for container events, ``site|item`` for inventory.
The alerts and checkpoints topics are compacted: the latest record per key is
what counts. The partials topic carries the feature stage's output to the
detection shards (one partition per shard).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.settings import Settings

END_OF_FEED_HEADER = "berthwatch-end-of-feed"
"""Header of an end-of-feed marker: an empty record a replay sends to every partition of
every feed topic when it is done; the value is the newest event time (ms) of the topic."""


@dataclass(frozen=True)
class TopicSpec:
    short: str
    key: str
    description: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(s: Settings) -> list[TopicSpec]:
    """Every topic berthwatch uses, with its partitions and configuration."""
    feed = {"retention.ms": str(s.topic_retention_ms), "message.timestamp.type": "CreateTime"}
    compact = {"cleanup.policy": "compact", "retention.ms": "-1"}
    n = s.topic_partitions
    return [
        TopicSpec("positions", "MMSI", "AIS position reports", n, feed),
        TopicSpec("vessels", "MMSI", "AIS static and voyage data", n, compact),
        TopicSpec("containers", "container number", "terminal container events", n, feed),
        TopicSpec("inventory", "site|item", "inventory snapshots", n, feed),
        TopicSpec(
            "deadletter", "source key", "rejected records with the reason in headers", n,
            {"retention.ms": str(s.deadletter_retention_ms)},
        ),
        TopicSpec(
            "partials", "none (partition = detection shard)",
            "feature partials and watermarks from each feed partition", s.detect_partitions,
            {"retention.ms": str(7 * 86_400_000), "max.message.bytes": str(16 << 20)},
        ),
        TopicSpec("alerts", "alert key", "alert transitions (latest per key)", n, compact),
        TopicSpec(
            "checkpoints", "group|stage|topic|partition",
            "worker state + the input offsets it covers",
            n, {**compact, "max.message.bytes": str(64 << 20), "segment.ms": "600000",
                "min.cleanable.dirty.ratio": "0.1"},
        ),
    ]


def create_topics(s: Settings) -> tuple[list[str], list[str]]:
    """Create missing topics; returns (created, already there). Idempotent."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=10_000)
    except KafkaError as e:
        raise ConnectionError(f"cannot reach Kafka at {s.kafka_bootstrap}: {e}") from None
    created, existing = [], []
    try:
        present = set(admin.list_topics())
        for spec in topic_specs(s):
            name = s.topic(spec.short)
            if name in present:
                existing.append(name)
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, spec.partitions, 1, topic_configs=spec.config)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                existing.append(name)
    finally:
        admin.close()
    return created, existing
