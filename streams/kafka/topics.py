"""The one table of berthwatch's Kafka topics, the lookups derived from it, and its admin.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.feeds.codec import Kind, kind_of
from streams.feeds.results import Record
from streams.settings import Settings


class Partitioner(Enum):
    """How a topic's records are spread over its partitions."""

    KEY = "murmur2 of the key, like the Java client"
    SHARD = "one partition per detection shard"


Config = Callable[[Settings], dict[str, str]]


def _feed(s: Settings) -> dict[str, str]:
    return {"retention.ms": str(s.topic_retention_ms), "message.timestamp.type": "CreateTime"}


def _compacted(_s: Settings) -> dict[str, str]:
    return {"cleanup.policy": "compact", "retention.ms": "-1"}


def _deadletter(s: Settings) -> dict[str, str]:
    return {"retention.ms": str(s.deadletter_retention_ms)}


def _partials(_s: Settings) -> dict[str, str]:
    return {"retention.ms": str(7 * 86_400_000), "max.message.bytes": str(16 << 20)}


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
        return self.configure(s)


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


# --------------------------------------------------------------------------- admin


def _admin(s: Settings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=10_000)
    except KafkaError as e:
        raise ConnectionError(f"cannot reach Kafka at {s.kafka_bootstrap}: {e}") from None


def create_topics(s: Settings) -> tuple[list[str], list[str]]:
    """Create missing topics; returns (created, already there). Idempotent."""
    admin = _admin(s)
    created, existing = [], []
    try:
        present = set(admin.list_topics())
        for t in TOPICS:
            name = s.topic(t.short)
            if name in present:
                existing.append(name)
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, t.partitions(s), 1, topic_configs=t.config(s))]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                existing.append(name)
    finally:
        admin.close()
    return created, existing


@dataclass(frozen=True)
class TopicListing:
    """A topic of the table as the broker has it (``partitions`` None: it is missing)."""

    spec: TopicSpec
    name: str
    partitions: int | None
    config: dict[str, str]
    """The broker's values of the configuration keys the table sets."""
    expected_partitions: int
    expected_config: dict[str, str]

    @property
    def missing(self) -> bool:
        return self.partitions is None

    def differences(self) -> list[str]:
        """What the broker has that the table (with these settings) does not say."""
        if self.partitions is None:
            return ["missing"]
        out = []
        if self.partitions != self.expected_partitions:
            out.append(f"{self.partitions} partitions, the table says {self.expected_partitions}")
        for key, want in self.expected_config.items():
            got = self.config.get(key)
            if got != want:
                out.append(f"{key}={got}, the table says {want}")
        return out


def topic_listing(
    s: Settings, broker: Mapping[str, tuple[int, Mapping[str, str]]]
) -> list[TopicListing]:
    """The table's topics against what the broker reports: ``broker`` maps a full topic
    name to its partition count and configuration (a topic absent from it is missing).

    >>> s = Settings()
    >>> rows = topic_listing(s, {"berthwatch.alerts": (4, {"cleanup.policy": "delete"})})
    >>> [r.name for r in rows if not r.missing]
    ['berthwatch.alerts']
    >>> [r for r in rows if r.spec.short == "alerts"][0].differences()
    ['cleanup.policy=delete, the table says compact', 'retention.ms=None, the table says -1']
    """
    out = []
    for t in TOPICS:
        name = s.topic(t.short)
        expected = t.config(s)
        parts, config = broker.get(name, (None, {}))
        out.append(TopicListing(
            t, name, parts, {k: v for k, v in config.items() if k in expected},
            t.partitions(s), expected,
        ))  # fmt: skip
    return out


def list_topics(s: Settings) -> list[TopicListing]:
    """Every topic of the table with its partitions and configuration as the broker reports
    them, and which are missing."""
    admin = _admin(s)
    try:
        present = set(admin.list_topics())
        names = {s.topic(t.short): t for t in TOPICS if s.topic(t.short) in present}
        broker: dict[str, tuple[int, dict[str, str]]] = {}
        if names:
            described = {d["name"]: d for d in admin.describe_topics(list(names))}
            resources = [ConfigResource(ConfigResourceType.TOPIC, name, list(t.config(s)))
                         for name, t in names.items()]
            configs = admin.describe_configs(resources, config_filter="all").get("topic", {})
            for name in names:
                values = configs.get(name, {})
                broker[name] = (len(described.get(name, {}).get("partitions") or ()),
                                {k: str(v.get("value")) for k, v in values.items()})
    except KafkaError as e:
        raise ConnectionError(f"cannot list the topics at {s.kafka_bootstrap}: {e}") from None
    finally:
        admin.close()
    return topic_listing(s, broker)
