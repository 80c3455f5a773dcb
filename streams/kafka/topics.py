"""The one table of berthwatch's Kafka topics and the lookups derived from it.

Feed topics are keyed by entity so that every record of one vessel, container or
inventory series lands in the same partition, in order: MMSI for positions and
vessel data, the ISO 6346 number for container events, ``site|item`` for inventory.
Keyed topics are partitioned by murmur2 of the key, like the Java client
(:func:`streams.kafka.io.partition_for`). The alerts and checkpoints topics are
compacted: the latest record per key is what counts. The partials topic carries
the feature stage's output to the detection shards (one partition per shard).

Every other table of topics is derived from :data:`TOPICS`:

>>> FEED_TOPICS
('positions', 'containers', 'inventory')
>>> KIND_OF_TOPIC["containers"].name, TOPIC_OF_KIND[Kind.VESSEL_STATIC]
('CONTAINER_EVENT', 'vessels')
>>> spec("partials").partitioner.name, spec("alerts").kind is None
('SHARD', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from streams.feeds.codec import Kind, kind_of
from streams.feeds.results import Record
from streams.kafka.records import DEAD_LETTER_MAX_BYTES
from streams.settings import Settings


class Partitioner(Enum):
    """How a topic's records are spread over its partitions."""

    KEY = "murmur2 of the key, like the Java client"
    SHARD = "one partition per detection shard"


Config = Callable[[Settings], dict[str, str]]


def _feed(s: Settings) -> dict[str, str]:
    return {"retention.ms": str(s.topic_retention_ms),
            "retention.bytes": str(s.topic_retention_bytes),
            "message.timestamp.type": "CreateTime"}


def _compacted(_s: Settings) -> dict[str, str]:
    return {"cleanup.policy": "compact", "retention.ms": "-1"}


def _deadletter(s: Settings) -> dict[str, str]:
    return {
        "retention.ms": str(s.deadletter_retention_ms),
        "max.message.bytes": str(DEAD_LETTER_MAX_BYTES),
    }


def _partials(s: Settings) -> dict[str, str]:
    return {"retention.ms": str(s.partials_retention_ms), "max.message.bytes": str(16 << 20)}


def cluster_config(s: Settings) -> dict[str, str]:
    """What every topic gets besides its kind's configuration: ``min.insync.replicas``
    when set, and the compression.

    >>> cluster_config(Settings(topic_min_insync_replicas=2, topic_compression_type="lz4"))
    {'compression.type': 'lz4', 'min.insync.replicas': '2'}
    """
    out: dict[str, str] = {"compression.type": s.topic_compression_type}
    if s.topic_min_insync_replicas is not None:
        out["min.insync.replicas"] = str(s.topic_min_insync_replicas)
    return out


def _checkpoints(s: Settings) -> dict[str, str]:
    return {**_compacted(s), "max.message.bytes": str(64 << 20), "segment.ms": "600000",
            "min.cleanable.dirty.ratio": "0.1"}


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its short name (the full name is ``settings.topic(short)``), the record
    kind of its values (canonical feed records; None for the others), what its key is,
    how it is partitioned and configured, and whether the feature stage reads it."""

    short: str
    kind: Kind | None
    key: str
    partitioner: Partitioner
    description: str
    configure: Config = field(repr=False)
    feature_source: bool = False
    """Read by the feature stage (one source per partition); ends with end-of-feed markers."""

    def partitions(self, s: Settings) -> int:
        return s.detect_partitions if self.partitioner is Partitioner.SHARD else s.topic_partitions

    def config(self, s: Settings) -> dict[str, str]:
        return {**self.configure(s), **cluster_config(s)}


_KEY, _SHARD = Partitioner.KEY, Partitioner.SHARD

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("positions", Kind.POSITION, "MMSI", _KEY, "AIS position reports", _feed, True),
    TopicSpec("vessels", Kind.VESSEL_STATIC, "MMSI", _KEY, "AIS static and voyage data",
              _compacted),
    TopicSpec("containers", Kind.CONTAINER_EVENT, "container number", _KEY,
              "terminal container events", _feed, True),
    TopicSpec("inventory", Kind.INVENTORY, "site|item", _KEY, "inventory snapshots", _feed, True),
    TopicSpec("deadletter", None, "source key", _KEY,
              "rejected records with the reason in headers", _deadletter),
    TopicSpec("partials", None, "none (partition = detection shard)", _SHARD,
              "feature partials and watermarks from each feed partition", _partials),
    TopicSpec("alerts", None, "alert key", _KEY, "alert transitions (latest per key)",
              _compacted),
    TopicSpec("checkpoints", None, "group|stage|topic|partition", _KEY,
              "worker state + the input offsets it covers", _checkpoints),
)
"""Every topic berthwatch uses; the feature sources in source-numbering order."""

_BY_SHORT = {t.short: t for t in TOPICS}

FEED_TOPICS: tuple[str, ...] = tuple(t.short for t in TOPICS if t.feature_source)
"""Feed topics (short names) the feature stage reads, in source-numbering order."""
KIND_OF_TOPIC: dict[str, Kind] = {
    t.short: t.kind for t in TOPICS if t.feature_source and t.kind is not None
}
"""Record kind of each feed topic the feature stage reads."""
TOPIC_OF_KIND: dict[Kind, str] = {t.kind: t.short for t in TOPICS if t.kind is not None}
"""The topic (short name) of each canonical record kind."""
MARKED_TOPICS: tuple[str, ...] = FEED_TOPICS
"""Topics a complete replay ends with end-of-feed markers: the feature stage's sources."""


def spec(short: str) -> TopicSpec:
    """The table's entry of a topic."""
    return _BY_SHORT[short]


def topic_of(record: Record) -> str:
    """The topic (short name) a canonical record goes to.

    >>> from streams.feeds.results import InventorySnapshot
    >>> topic_of(InventorySnapshot(0, "S1", "chip", 10.0, 2.0))
    'inventory'
    """
    return TOPIC_OF_KIND[kind_of(record)]
