"""The topic table on a broker: creating the missing topics and listing what is there
(kafka-python's admin client); the table itself is :mod:`streams.kafka.topics`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from streams.kafka.client import KafkaClientError, check_connection, kafka_python_args
from streams.kafka.topics import TOPICS, TopicSpec
from streams.settings import Settings


def _admin(s: Settings) -> KafkaAdminClient:
    """An admin client, after one connection attempt that explains a refused login or
    certificate in one line (kafka-python itself would retry it for a long time)."""
    check_connection(s)
    try:
        return KafkaAdminClient(**kafka_python_args(s), request_timeout_ms=10_000)
    except KafkaError as e:
        raise ConnectionError(f"cannot reach Kafka at {s.kafka_bootstrap}: {e}") from None


def _refused(s: Settings, e: KafkaError, doing: str) -> ConnectionError:
    """One line for a Kafka error of the admin client; an authorization failure names the
    user and the prefix it needs ACLs for."""
    if isinstance(e, TopicAuthorizationFailedError | ClusterAuthorizationFailedError):
        who = s.kafka.sasl_username or "this client's principal"
        return KafkaClientError(
            f"topic_prefix: the broker at {s.kafka_bootstrap} does not authorize {who} to "
            f"{doing} (ACLs for topics with the prefix {s.topic_prefix!r} are needed)")
    return ConnectionError(f"cannot {doing} at {s.kafka_bootstrap}: {e}")


def create_topics(s: Settings) -> tuple[list[str], list[str]]:
    """Create missing topics with the replication the settings ask for (the cluster's
    default when unset); returns (created, already there). Idempotent."""
    admin = _admin(s)
    created, existing = [], []
    replication = s.topic_replication_factor or -1  # -1: default.replication.factor
    try:
        present = set(admin.list_topics())
        for t in TOPICS:
            name = s.topic(t.short)
            if name in present:
                existing.append(name)
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, t.partitions(s), replication, topic_configs=t.config(s))]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                existing.append(name)
    except KafkaError as e:
        raise _refused(s, e, f"create the topics {s.topic_prefix}*") from None
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
    replication: int | None = None
    """Replicas of its partitions (the fewest of any partition), if known."""
    expected_replication: int | None = None
    """What the settings ask for (None: the cluster's default, not checked)."""

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
        if (self.expected_replication is not None and self.replication is not None
                and self.replication != self.expected_replication):
            out.append(f"replication factor {self.replication}, the settings say "
                       f"{self.expected_replication}")
        for key, want in self.expected_config.items():
            got = self.config.get(key)
            if got != want:
                out.append(f"{key}={got}, the table says {want}")
        return out


BrokerTopic = tuple[int, Mapping[str, str]] | tuple[int, Mapping[str, str], int]
"""A topic as the broker reports it: partitions, configuration (and replication)."""


def topic_listing(s: Settings, broker: Mapping[str, BrokerTopic]) -> list[TopicListing]:
    """The table's topics against what the broker reports: ``broker`` maps a full topic
    name to its partition count, configuration and, optionally, replication factor (a
    topic absent from it is missing).

    >>> s = Settings()
    >>> rows = topic_listing(s, {"berthwatch.alerts": (4, {"cleanup.policy": "delete"})})
    >>> [r.name for r in rows if not r.missing]
    ['berthwatch.alerts']
    >>> [r for r in rows if r.spec.short == "alerts"][0].differences()
    ['cleanup.policy=delete, the table says compact', 'retention.ms=None, the table says -1', \
'compression.type=None, the table says producer']
    """
    out = []
    for t in TOPICS:
        name = s.topic(t.short)
        expected = t.config(s)
        parts, config, *replication = broker.get(name, (None, {}))
        out.append(TopicListing(
            t, name, parts, {k: v for k, v in config.items() if k in expected},
            t.partitions(s), expected, replication[0] if replication else None,
            s.topic_replication_factor,
        ))  # fmt: skip
    return out


def differing(s: Settings) -> list[str]:
    """One line per existing topic of the table whose partitions, replication or
    configuration differ from what the settings ask for (``topics create`` does not
    change existing topics: see README, "Topic sizing")."""
    return [f"{r.name} differs: {'; '.join(r.differences())}" for r in list_topics(s)
            if not r.missing and r.differences()]


def replication_factor(s: Settings) -> int:
    """The replication factor for topics others create (faust's): the setting, else the
    one the cluster gave the table's topics (the fewest replicas of any)."""
    if s.topic_replication_factor is not None:
        return s.topic_replication_factor
    return min((r.replication for r in list_topics(s) if r.replication), default=1)


def list_topics(s: Settings) -> list[TopicListing]:
    """Every topic of the table with its partitions and configuration as the broker reports
    them, and which are missing."""
    admin = _admin(s)
    try:
        present = set(admin.list_topics())
        names = {s.topic(t.short): t for t in TOPICS if s.topic(t.short) in present}
        broker: dict[str, BrokerTopic] = {}
        if names:
            described = {d["name"]: d for d in admin.describe_topics(list(names))}
            resources = [ConfigResource(ConfigResourceType.TOPIC, name, list(t.config(s)))
                         for name, t in names.items()]
            configs = admin.describe_configs(resources, config_filter="all").get("topic", {})
            for name in names:
                values = configs.get(name, {})
                partitions = described.get(name, {}).get("partitions") or ()
                broker[name] = (len(partitions),
                                {k: str(v.get("value")) for k, v in values.items()},
                                min((len(p.get("replica_nodes") or ()) for p in partitions),
                                    default=0))
    except KafkaError as e:
        raise _refused(s, e, "list the topics") from None
    finally:
        admin.close()
    return topic_listing(s, broker)
