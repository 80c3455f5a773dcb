"""The topic table and the lookups derived from it."""

from __future__ import annotations

from streams.feeds.codec import Kind
from streams.feeds.results import ContainerEvent, ContainerEventType, InventorySnapshot
from streams.kafka.topics import (
    FEED_TOPICS,
    KIND_OF_TOPIC,
    MARKED_TOPICS,
    TOPIC_OF_KIND,
    TOPICS,
    Partitioner,
    spec,
    topic_of,
)
from streams.settings import Settings


def test_every_topic_once_and_every_record_kind_has_its_topic() -> None:
    shorts = [t.short for t in TOPICS]
    assert len(shorts) == len(set(shorts)) == 8
    assert set(TOPIC_OF_KIND) == set(Kind)
    box = ContainerEvent(0, "USLAX", "APM", "CSQU3054383", ContainerEventType.DISCHARGED)
    assert topic_of(box) == "containers"
    assert topic_of(InventorySnapshot(0, "S", "I", 1.0, 1.0)) == "inventory"


def test_feature_sources_in_source_order_and_they_get_the_markers() -> None:
    assert FEED_TOPICS == ("positions", "containers", "inventory")
    assert MARKED_TOPICS == FEED_TOPICS
    assert KIND_OF_TOPIC == {"positions": Kind.POSITION, "containers": Kind.CONTAINER_EVENT,
                             "inventory": Kind.INVENTORY}
    assert "vessels" not in FEED_TOPICS and spec("vessels").kind is Kind.VESSEL_STATIC


def test_partitions_and_configuration_follow_the_settings() -> None:
    s = Settings(topic_partitions=6, detect_partitions=3, topic_retention_ms=1000,
                 deadletter_retention_ms=2000)
    assert {t.short: t.partitions(s) for t in TOPICS} == {
        "positions": 6, "vessels": 6, "containers": 6, "inventory": 6, "deadletter": 6,
        "partials": 3, "alerts": 6, "checkpoints": 6,
    }  # fmt: skip
    assert [t.short for t in TOPICS if t.partitioner is Partitioner.SHARD] == ["partials"]
    feed = {"retention.ms": "1000", "message.timestamp.type": "CreateTime"}
    compact = {"cleanup.policy": "compact", "retention.ms": "-1"}
    assert {t.short: t.config(s) for t in TOPICS} == {
        "positions": feed, "vessels": compact, "containers": feed, "inventory": feed,
        "deadletter": {"retention.ms": "2000"},
        "partials": {"retention.ms": "604800000", "max.message.bytes": "16777216"},
        "alerts": compact,
        "checkpoints": {**compact, "max.message.bytes": "67108864", "segment.ms": "600000",
                        "min.cleanable.dirty.ratio": "0.1"},
    }  # fmt: skip
