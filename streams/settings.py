"""One typed settings object for every berthwatch command.

Every field can be set from the environment as ``BERTHWATCH_<FIELD>`` (upper
case), from a YAML file named by ``BERTHWATCH_CONFIG`` or ``--config``, or left at
its default. The environment wins over the file. Secrets (the Grafana token)
come from the environment or a secrets directory, never from code.

>>> Settings(kafka_port=19092).kafka_bootstrap
'127.0.0.1:19092'
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package runs from, when it runs from one: ``deploy/`` lives here.
An installed package (``pip install berthwatch``, the image) has no checkout: see
:func:`_default_stack_dir`."""

CONFIG_ENV = "BERTHWATCH_CONFIG"
_config_file: Path | None = None  # set by load_settings(config_file=...)


def _shown(url: str) -> str:
    """A URL without the password it may carry, for an error message."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _default_stack_dir() -> Path:
    """``.stack`` in the source checkout; for an installed package (no checkout around
    it), ``berthwatch`` under ``XDG_STATE_HOME`` (``~/.local/state``)."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / ".stack"
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "berthwatch"


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "berthwatch"


KAFKA_ENV_PREFIX = "BERTHWATCH_KAFKA_"
CODEC_PACKAGES = {"gzip": None, "snappy": "cramjam", "lz4": "cramjam", "zstd": "cramjam"}
"""The Python package each compression codec needs in aiokafka and kafka-python."""


class KafkaClientSettings(BaseModel):
    """How every berthwatch Kafka client connects: the standard Kafka client property
    names (as librdkafka and the Java client spell them), mapped once to each client's own
    arguments by :mod:`streams.kafka.client`. Set them under ``kafka:`` in the settings
    file or as ``BERTHWATCH_KAFKA_<NAME>`` (dots as underscores). Secrets (the passwords)
    are never printed.

    >>> k = KafkaClientSettings.model_validate({"security.protocol": "SASL_SSL",
    ...     "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": "p"})
    >>> k.sasl_password
    SecretStr('**********')
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              populate_by_name=True)

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", alias="security.protocol")
    """PLAINTEXT, SSL (TLS, with a client certificate for mutual TLS), SASL_PLAINTEXT or
    SASL_SSL."""

    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        "PLAIN", alias="sasl.mechanism")
    """SASL mechanism with SASL_* protocols: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or
    OAUTHBEARER."""

    sasl_username: str | None = Field(None, alias="sasl.username")
    """SASL user (PLAIN and SCRAM)."""

    sasl_password: SecretStr | None = Field(None, alias="sasl.password")
    """SASL password (PLAIN and SCRAM); from the environment or the secrets directory."""

    sasl_oauthbearer_token_file: Path | None = Field(None, alias="sasl.oauthbearer.token.file")
    """OAUTHBEARER: a file holding the current access token, read again for every
    authentication (a sidecar or an operator keeps it fresh). Not a librdkafka name:
    berthwatch's own, as is ``sasl.oauthbearer.token.command``."""

    sasl_oauthbearer_token_command: str | None = Field(
        None, alias="sasl.oauthbearer.token.command")
    """OAUTHBEARER: a command whose standard output is the current access token, run for
    every authentication."""

    ssl_ca_location: Path | None = Field(None, alias="ssl.ca.location")
    """PEM file of the CA certificates that sign the brokers' certificates; the system's
    trusted CAs when unset."""

    ssl_certificate_location: Path | None = Field(None, alias="ssl.certificate.location")
    """PEM file of this client's certificate (mutual TLS)."""

    ssl_key_location: Path | None = Field(None, alias="ssl.key.location")
    """PEM file of this client's private key (mutual TLS)."""

    ssl_key_password: SecretStr | None = Field(None, alias="ssl.key.password")
    """Password of an encrypted private key."""

    ssl_endpoint_identification_algorithm: Literal["https", "none"] = Field(
        "https", alias="ssl.endpoint.identification.algorithm")
    """``https`` checks that the broker's certificate names the host connected to;
    ``none`` does not (only for brokers whose certificates name no usable host)."""

    client_id: str = Field("berthwatch", alias="client.id", min_length=1)
    """Client id every berthwatch client sends (broker logs, quotas, ACL audit)."""

    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "none", alias="compression.type")
    """Compression of what berthwatch produces. gzip needs nothing more; snappy, lz4 and
    zstd need the ``cramjam`` package. Topics keep the producer's compression unless
    ``topic_compression_type`` says otherwise."""

    @model_validator(mode="after")
    def _consistent(self) -> KafkaClientSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism == "OAUTHBEARER":
            if (self.sasl_oauthbearer_token_file is None) == (
                    self.sasl_oauthbearer_token_command is None):
                raise ValueError("OAUTHBEARER needs exactly one of sasl.oauthbearer.token.file "
                                 "and sasl.oauthbearer.token.command")
        elif sasl and (self.sasl_username is None or self.sasl_password is None):
            raise ValueError(f"{self.security_protocol} with {self.sasl_mechanism} needs "
                             "sasl.username and sasl.password")
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError("mutual TLS needs both ssl.certificate.location and "
                             "ssl.key.location")
        for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location",
                     "sasl_oauthbearer_token_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                alias = type(self).model_fields[name].alias
                raise ValueError(f"{alias}: no such file: {path}")
        package = CODEC_PACKAGES[self.compression_type] if self.compression_type != "none" \
            else None
        if package is not None and importlib.util.find_spec(package) is None:
            raise ValueError(f"compression.type {self.compression_type} needs the {package} "
                             f"package (pip install {package}), or use gzip")
        return self

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")


class Settings(BaseSettings):
    """Settings for the local stack, the workers and the command line."""

    model_config = SettingsConfigDict(
        env_prefix="BERTHWATCH_",
        extra="forbid",
        use_attribute_docstrings=True,
        secrets_dir=os.environ.get("BERTHWATCH_SECRETS_DIR"),
        validate_default=True,
    )

    # --- local stack -----------------------------------------------------
    stack_dir: Path = Field(default_factory=_default_stack_dir)
    """Folder for the local stack's data, logs and pid files; delete it to start afresh
    (``.stack`` of the source checkout; ``~/.local/state/berthwatch`` when installed)."""

    state_dir: Path | None = None
    """Folder where a worker keeps its local files (faust's data directory, one folder per
    worker_id); the worker's user must be able to write it. Defaults to
    ``<stack_dir>/workers``; the image sets ``/var/lib/berthwatch``. Created when a worker
    starts, never at import."""

    cache_dir: Path = Field(default_factory=_default_cache_dir)
    """Folder where the Kafka jars fetched from Maven Central are kept between runs."""

    host: str = "127.0.0.1"
    """Address every local service binds to; keep it on loopback unless you mean to expose it."""

    kafka_version: str = "3.9.1"
    """Apache Kafka release (org.apache.kafka:kafka_2.13) the local broker runs."""

    kafka_port: int = Field(9092, ge=1, le=65535)
    """Port of the local broker's client listener."""

    kafka_controller_port: int = Field(9095, ge=1, le=65535)
    """Port of the local broker's KRaft controller listener."""

    kafka_heap: str = "512m"
    """Java heap size of the local broker (-Xmx)."""

    stack_sasl_ssl_port: int | None = Field(None, ge=1, le=65535)
    """Port of a SASL_SSL listener (SCRAM-SHA-512) on the local broker; none when unset.
    Setting it or ``stack_mtls_port`` secures the local broker: a CA and the broker's
    certificate are made under ``<stack_dir>/kafka/tls``, the controller speaks mutual TLS,
    and an ACL authorizer denies whatever no ACL allows (super users excepted). For trying
    a secured cluster and for the security tests; the plaintext listener stays."""

    stack_mtls_port: int | None = Field(None, ge=1, le=65535)
    """Port of a mutual-TLS (SSL, client certificate required) listener on the local
    broker; the principal is the certificate's common name. None when unset."""

    stack_scram_users: dict[str, SecretStr] = {}
    """SCRAM-SHA-512 users (name: password) the secured local broker is formatted with; a
    change needs a fresh stack folder (users are created when the storage is formatted)."""

    stack_super_users: list[str] = ["admin"]
    """Users the secured local broker's authorizer lets do anything (besides the broker)."""

    stack_oauthbearer_unsecured: bool = False
    """Also accept OAUTHBEARER on the secured local broker's SASL_SSL listener, with
    Kafka's *unsecured* token validator (unsigned JWTs: anyone can be anyone). Only to
    try an OAUTHBEARER client against the local stack; never on a real cluster."""

    prometheus_port: int = Field(9090, ge=1, le=65535)
    """Port of the local Prometheus web UI and API."""

    alertmanager_port: int = Field(9093, ge=1, le=65535)
    """Port of the local Alertmanager web UI and API."""

    alert_webhook_url: str = "http://127.0.0.1:5001/alerts"
    """Where the local Alertmanager's example webhook receiver (ops-webhook) posts."""

    alert_group_wait: str = "10s"
    """How long the local Alertmanager waits to group the first alerts of a group."""

    alert_group_interval: str = "1m"
    """How long the local Alertmanager waits before notifying about changes in a group
    (new alerts, resolved ones)."""

    start_timeout: float = Field(60.0, gt=0)
    """Seconds to wait for each service to answer before giving up and stopping it."""

    scrape_interval: str = "5s"
    """How often the local Prometheus scrapes the workers (a Prometheus duration)."""

    # --- workers -----------------------------------------------------------
    kafka_servers: str | None = None
    """Comma-separated host:port list of the brokers to use; defaults to the local stack's
    broker (host and kafka_port). Set it when Kafka runs elsewhere (containers, a cluster)."""

    kafka: KafkaClientSettings = Field(
        default_factory=lambda: KafkaClientSettings.model_validate({}))
    """How every berthwatch client connects to Kafka (security, credentials, client id,
    compression): standard Kafka client property names under ``kafka:`` in the settings
    file, or ``BERTHWATCH_KAFKA_<NAME>`` variables (``BERTHWATCH_KAFKA_SECURITY_PROTOCOL``).
    See README, "Connect to your Kafka"."""

    worker_web_host: str | None = None
    """Address a worker's web server (/metrics) binds to; defaults to ``host``. Use 0.0.0.0
    in a container so Prometheus can reach it."""

    worker_id: str = "berthwatch"
    """Consumer group and faust application id; workers with the same id share the work."""

    worker_web_port: int = Field(6066, ge=1, le=65535)
    """Port of a worker's web server, which serves /metrics; each worker on a host needs its own."""

    ready_stall_seconds: float = Field(120.0, gt=0)
    """A worker whose partitions have records waiting and that processed none of them for
    this many seconds answers 503 on ``/readyz`` (stuck); a worker with nothing waiting
    stays ready however long it idles."""

    worker_metrics_ports: list[int] = [6066]
    """Worker ports the local Prometheus scrapes (one per worker you run on this host)."""

    topic_prefix: str = "berthwatch."
    """Prefix of every topic berthwatch creates, so several installations can share a cluster."""

    topic_partitions: int = Field(4, ge=1)
    """Partitions of the raw and feature topics; more partitions allow more workers."""

    topic_retention_ms: int = Field(-1, ge=-1)
    """Retention of the feed topics in ms (-1 keeps everything). Replays carry historical
    event timestamps, and time-based retention counts from those, so a finite value can
    delete a replayed year as soon as it is written."""

    topic_retention_bytes: int = Field(-1, ge=-1)
    """Most bytes each partition of a feed topic keeps (-1: no limit); the oldest segments go
    first. A bound on disk that, unlike time, replays cannot defeat: see "Topic sizing"."""

    deadletter_retention_ms: int = Field(30 * 24 * 3600 * 1000, ge=-1)
    """Retention of the dead-letter topic in ms; dead letters are stamped with wall time."""

    partials_retention_ms: int = Field(7 * 24 * 3600 * 1000, ge=-1)
    """Retention of the partials topic in ms (the feature stage's output for the detection
    shards, re-made from the feeds after a restart); a week by default."""

    topic_replication_factor: int | None = Field(None, ge=1)
    """Replicas of each topic berthwatch creates (its own and the faust app's); unset, the
    cluster's ``default.replication.factor`` decides (1 on the local stack). Production: 3."""

    topic_min_insync_replicas: int | None = Field(None, ge=1)
    """``min.insync.replicas`` of each topic: with ``acks=all`` (every berthwatch producer) a
    write needs this many replicas in sync. Unset, the cluster's setting (1 on the local
    stack). Production: 2 with a replication factor of 3."""

    topic_compression_type: Literal["producer", "uncompressed", "gzip", "snappy", "lz4",
                                    "zstd"] = "producer"
    """``compression.type`` of each topic: ``producer`` keeps what producers send (see the
    ``compression.type`` client property); another value makes the broker recompress."""

    geography_file: Path | None = None
    """YAML file of extra or changed ports, anchorages and terminals, merged over the
    packaged San Pedro Bay geography (see streams/geo/ports.yaml for the shape)."""

    max_record_bytes: int = Field(4096, ge=64)
    """Longest accepted source line or message in bytes; longer ones are dead-lettered."""

    earliest_event_time: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Records with an event time before this are rejected as time_too_old."""

    future_tolerance_seconds: float = Field(3600.0, ge=0)
    """Records more than this many seconds ahead of the wall clock are rejected as
    time_in_future (clock skew of producers)."""

    kafka_outage_seconds: float = Field(30.0, gt=0)
    """A broker that acknowledges nothing for this long is down: a replay stops, saves its
    resume state and says so in one line (or, with ``--wait``, waits for it); a worker
    stops consuming, answers 503 on ``/readyz``, reconnects with back-off and resumes from
    its last checkpoints."""

    detect_partitions: int = Field(1, ge=1)
    """Partitions of the partials topic, i.e. detection shards. Series are sharded by
    port, region or site; with more than one, each shard checks staleness on its own
    interval clock (the alerts then may differ from a one-shard run's)."""

    checkpoint_interval_seconds: float = Field(5.0, gt=0)
    """Wall seconds between worker checkpoints (state + input offsets); also written
    when partitions are revoked and at shutdown."""

    idle_partition_seconds: float = Field(300.0, ge=0)
    """Wall seconds after which a live feed partition that is caught up and received no
    record stops holding back the intervals of every port: the worker reports it idle and
    the detection shards close intervals without it (what it sends later for them is
    dropped and counted). Partitions of a replay never idle; 0 turns this off."""

    worker_batch_records: int = Field(50_000, ge=1)
    """Most records a worker takes from Kafka in one fetch (all its partitions)."""

    methodology_changes_file: Path | None = None
    """A JSON file (such as a scenario's labels.json) whose ``counting_change`` events
    re-baseline the series they name instead of alerting on them."""

    item_metrics_top: int = Field(20, ge=0)
    """Item series (site|item) exported on /metrics: only this many, the most anomalous."""

    grafana_url: str = "http://127.0.0.1:3000"
    """Grafana base URL of the alerts' ``dashboard_url`` links (drill-down dashboard at the
    alert's series and time): the address the people who get the alerts open, not the one
    the workers reach."""

    docs_url: str | None = None
    """Base URL where the berthwatch docs are published (the ``docs/`` folder, e.g. your
    repository browser's or an internal copy): an alert's ``runbook_url`` is
    ``<docs_url>/RUNBOOK.md#<section>``. Unset, it is the repository path
    ``docs/RUNBOOK.md#<section>``, which opens nowhere."""

    alertmanager_url: str | None = None
    """Alertmanager base URL the workers send alerts to; defaults to the local stack's.
    Several, comma-separated, for an Alertmanager cluster: every alert goes to each (as
    Prometheus does), each with its own retries, so one that is down holds nothing back."""

    prometheus_url: str | None = None
    """Prometheus base URL used by checks and previews; defaults to the local stack's."""

    grafana_token: SecretStr | None = None
    """Grafana API token for `dashboards push` (environment or secrets directory only)."""

    @field_validator("stack_dir", "cache_dir", "state_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("grafana_url", "docs_url", "alertmanager_url", "prometheus_url")
    @classmethod
    def _http_urls(cls, value: str | None) -> str | None:
        if value is None:
            return None
        urls = [u.strip() for u in value.split(",")]
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{_shown(url)!r} is not an http(s) URL with a host")
        return ",".join(u.rstrip("/") for u in urls)

    @field_validator("host")
    @classmethod
    def _host_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_servers or f"{self.host}:{self.kafka_port}"

    @property
    def worker_state_dir(self) -> Path:
        """Where a worker keeps its local files: ``state_dir`` or ``<stack_dir>/workers``."""
        return self.state_dir or self.stack_dir / "workers"

    @property
    def am_url(self) -> str:
        return self.alertmanager_url or f"http://{self.host}:{self.alertmanager_port}"

    @property
    def prom_url(self) -> str:
        return self.prometheus_url or f"http://{self.host}:{self.prometheus_port}"

    def topic(self, name: str) -> str:
        """Full topic name for a short name such as ``positions``."""
        return f"{self.topic_prefix}{name}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings, env_settings, _KafkaProperties(settings_cls, from_env=True)]
        config_file = _config_file or os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        sources += [file_secret_settings, _KafkaProperties(settings_cls, from_env=False)]
        return tuple(sources)


def kafka_property(env_name: str) -> str | None:
    """The Kafka client property a ``BERTHWATCH_KAFKA_*`` variable sets (None: it is a
    setting of its own, such as ``BERTHWATCH_KAFKA_PORT``, or no property).

    >>> kafka_property("BERTHWATCH_KAFKA_SSL_CA_LOCATION"), kafka_property("BERTHWATCH_KAFKA_PORT")
    ('ssl.ca.location', None)
    """
    name = env_name.upper()
    if not name.startswith(KAFKA_ENV_PREFIX) or name.lower().removeprefix(
            "berthwatch_") in Settings.model_fields:
        return None
    prop = name.removeprefix(KAFKA_ENV_PREFIX).lower().replace("_", ".")
    known = {f.alias for f in KafkaClientSettings.model_fields.values()}
    return prop if prop in known else None


def kafka_env_name(prop: str) -> str:
    """``ssl.ca.location`` -> ``BERTHWATCH_KAFKA_SSL_CA_LOCATION``."""
    return KAFKA_ENV_PREFIX + prop.upper().replace(".", "_")


class _KafkaProperties(PydanticBaseSettingsSource):
    """``BERTHWATCH_KAFKA_<NAME>`` variables (or, with ``from_env`` False, files of that
    name in the secrets directory) as the ``kafka`` mapping's properties; merged with the
    settings file's ``kafka:`` mapping, the environment winning."""

    def __init__(self, settings_cls: type[BaseSettings], *, from_env: bool) -> None:
        super().__init__(settings_cls)
        self.from_env = from_env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def _values(self) -> dict[str, str]:
        if self.from_env:
            return dict(os.environ)
        folder = self.config.get("secrets_dir")
        if not folder or not Path(str(folder)).is_dir():
            return {}
        return {f.name: f.read_text().strip() for f in Path(str(folder)).iterdir()
                if f.is_file() and f.name.upper().startswith(KAFKA_ENV_PREFIX)}

    def __call__(self) -> dict[str, Any]:
        props = {}
        for name, value in self._values().items():
            prop = kafka_property(name)
            if prop is not None:
                props[prop] = value
        return {"kafka": props} if props else {}


class ConfigError(Exception):
    """A settings problem, phrased as one line that names the field."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: ``field: message (env BERTHWATCH_FIELD)``.

    >>> try:
    ...     Settings(kafka_port="nine")
    ... except ValidationError as e:
    ...     print(describe_validation_error(e))
    kafka_port: Input should be a valid integer, unable to parse string as an integer \
(set by BERTHWATCH_KAFKA_PORT)
    """
    parts = []
    for err in error.errors():
        loc = [str(p) for p in err["loc"]]
        field = ".".join(loc) or "settings"
        env = "BERTHWATCH_" + loc[0].upper() if loc else CONFIG_ENV
        message = str(err["msg"]).removeprefix("Value error, ")
        if loc[:1] == ["kafka"] and len(loc) > 1:  # a Kafka client property
            env = f"kafka: {loc[1]} in the settings file or {kafka_env_name(loc[1])}"
            if err["type"] == "extra_forbidden":
                known = [f.alias or "" for f in KafkaClientSettings.model_fields.values()]
                close = difflib.get_close_matches(loc[1], known, 1, 0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
                message = f"{loc[1]} is not a Kafka client property berthwatch knows{hint}"
        elif loc == ["kafka"]:
            env = "kafka: in the settings file or BERTHWATCH_KAFKA_*"
        parts.append(f"{field}: {message} (set by {env})")
    return "; ".join(parts)


_warned: set[str] = set()
#: ``BERTHWATCH_*`` variables that are not settings fields but are read all the same
OTHER_ENV = frozenset({CONFIG_ENV, "BERTHWATCH_SECRETS_DIR"})


def unknown_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per ``BERTHWATCH_*`` variable of the environment that names no setting,
    with the closest known name; pydantic ignores them, and a typo would go unnoticed.

    >>> unknown_env({"BERTHWATCH_KAFKA_SERVERS": "x", "BERTHWATCH_KAFKA_PROT": "9"})
    ['BERTHWATCH_KAFKA_PROT is not a setting and is ignored (did you mean BERTHWATCH_KAFKA_PORT?)']
    """
    env = os.environ if environ is None else environ
    known = {"BERTHWATCH_" + name.upper() for name in Settings.model_fields} | OTHER_ENV
    short = sorted(k.removeprefix("BERTHWATCH_") for k in known)
    lines = []
    for name in sorted(env):
        if name.startswith("BERTHWATCH_") and name not in known and not kafka_property(name):
            close = difflib.get_close_matches(name.removeprefix("BERTHWATCH_"), short, 1, 0.75)
            hint = f" (did you mean BERTHWATCH_{close[0]}?)" if close else ""
            lines.append(f"{name} is not a setting and is ignored{hint}")
    return lines


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, raising ConfigError with a one-line message on any problem;
    a ``BERTHWATCH_*`` variable that names no setting gets a one-line warning on stderr
    (:func:`unknown_env`)."""
    global _config_file
    for line in unknown_env():
        if line not in _warned:  # once per process, however often settings are loaded
            _warned.add(line)
            print(f"warning: {line}", file=sys.stderr)
    path = Path(config_file) if config_file is not None else None
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    _config_file = path
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(e)) from None
    except (OSError, ValueError) as e:  # unreadable or malformed YAML
        raise ConfigError(f"config file {path}: {e}".splitlines()[0]) from None
    finally:
        _config_file = None
