"""The topic table, the lookups derived from it, and ``topics list`` without a broker."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import streams.cli
import streams.kafka.admin
from streams.feeds.codec import Kind
from streams.feeds.results import ContainerEvent, ContainerEventType, InventorySnapshot
from streams.kafka.admin import TopicListing, topic_listing
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
                 deadletter_retention_ms=2000, partials_retention_ms=3000,
                 topic_retention_bytes=10 << 30, topic_min_insync_replicas=2,
                 topic_compression_type="zstd")
    assert {t.short: t.partitions(s) for t in TOPICS} == {
        "positions": 6, "vessels": 6, "containers": 6, "inventory": 6, "deadletter": 6,
        "partials": 3, "alerts": 6, "checkpoints": 6,
    }  # fmt: skip
    assert [t.short for t in TOPICS if t.partitioner is Partitioner.SHARD] == ["partials"]
    every = {"min.insync.replicas": "2", "compression.type": "zstd"}
    feed = {"retention.ms": "1000", "retention.bytes": str(10 << 30),
            "message.timestamp.type": "CreateTime", **every}
    compact = {"cleanup.policy": "compact", "retention.ms": "-1", **every}
    assert {t.short: t.config(s) for t in TOPICS} == {
        "positions": feed, "vessels": compact, "containers": feed, "inventory": feed,
        "deadletter": {"retention.ms": "2000", "max.message.bytes": str(1 << 20), **every},
        "partials": {"retention.ms": "3000", "max.message.bytes": "16777216", **every},
        "alerts": compact,
        "checkpoints": {**compact, "max.message.bytes": "67108864", "segment.ms": "600000",
                        "min.cleanable.dirty.ratio": "0.1"},
    }  # fmt: skip
    defaults = Settings()  # the cluster's min.insync.replicas; producers' compression
    assert spec("alerts").config(defaults) == {"cleanup.policy": "compact", "retention.ms": "-1",
                                               "compression.type": "producer"}


def test_listing_says_what_is_missing_and_what_differs() -> None:
    s = Settings()
    broker = {s.topic(t.short): (t.partitions(s), {**t.config(s), "flush.ms": "1"})
              for t in TOPICS if t.short != "checkpoints"}
    broker[s.topic("alerts")] = (2, {"cleanup.policy": "delete", "retention.ms": "-1",
                                     "compression.type": "producer"})
    rows = {r.spec.short: r for r in topic_listing(s, broker)}
    assert [r.name for r in rows.values()] == [s.topic(t.short) for t in TOPICS]
    assert rows["checkpoints"].missing and rows["checkpoints"].differences() == ["missing"]
    assert rows["positions"].differences() == []
    assert "flush.ms" not in rows["positions"].config  # only the keys the table sets
    assert rows["alerts"].differences() == ["2 partitions, the table says 4",
                                            "cleanup.policy=delete, the table says compact"]


def test_replication_is_checked_only_when_the_settings_ask_for_one() -> None:
    s = Settings()
    broker = {s.topic(t.short): (t.partitions(s), t.config(s), 1) for t in TOPICS}
    assert all(r.differences() == [] for r in topic_listing(s, broker))
    s3 = Settings(topic_replication_factor=3, topic_min_insync_replicas=2)
    rows = {r.spec.short: r for r in topic_listing(s3, broker)}
    assert rows["positions"].differences() == [
        "replication factor 1, the settings say 3", "min.insync.replicas=None, the table says 2"]


def test_topics_create_says_in_one_line_per_topic_what_differs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    broker = {s.topic(t.short): (t.partitions(s), t.config(s), 1) for t in TOPICS}
    broker[s.topic("alerts")] = (2, {"cleanup.policy": "delete", "retention.ms": "-1"}, 1)
    monkeypatch.setattr(streams.kafka.admin, "list_topics", lambda s: topic_listing(s, broker))
    monkeypatch.setattr(streams.cli, "create_topics",
                        lambda s: ([], [s.topic(t.short) for t in TOPICS]))
    result = CliRunner().invoke(streams.cli.cli, ["topics", "create"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "berthwatch.alerts differs: 2 partitions, the table says 4; cleanup.policy=delete, "
        "the table says compact; compression.type=None, the table says producer",
        "0 created, 8 already present, 1 differ (left as they are)",
    ]


def _listing(s: Settings, short: str, partitions: int | None) -> TopicListing:
    t = spec(short)
    return TopicListing(t, s.topic(short), partitions, t.config(s) if partitions else {},
                        t.partitions(s), t.config(s))


def test_topics_list_command_prints_the_table_and_fails_on_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    rows = [_listing(s, "positions", 4), _listing(s, "alerts", None)]
    monkeypatch.setattr(streams.cli, "list_topics", lambda _s: rows)
    result = CliRunner().invoke(streams.cli.cli, ["topics", "list"])
    assert result.exit_code == 3
    assert "berthwatch.positions" in result.output and "retention.ms=-1" in result.output
    assert "missing" in result.output and "topics create" in result.output
    monkeypatch.setattr(streams.cli, "list_topics", lambda _s: rows[:1])
    assert CliRunner().invoke(streams.cli.cli, ["topics", "list"]).exit_code == 0


def test_topics_list_without_a_broker_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(s: Settings) -> list[TopicListing]:
        raise ConnectionError(f"cannot reach Kafka at {s.kafka_bootstrap}: no broker")

    monkeypatch.setattr(streams.cli, "list_topics", unreachable)
    result = CliRunner().invoke(streams.cli.cli, ["topics", "list"])
    assert result.exit_code == 1 and "cannot reach Kafka" in result.output
    assert "Traceback" not in result.output
