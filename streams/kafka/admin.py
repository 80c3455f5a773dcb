"""The topic table on a broker: creating the missing topics and listing what is there
(kafka-python's admin client); the table itself is :mod:`streams.kafka.topics`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka.topics import TOPICS, TopicSpec
from streams.settings import Settings


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
