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
import os
import sys
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
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

    deadletter_retention_ms: int = Field(30 * 24 * 3600 * 1000, ge=-1)
    """Retention of the dead-letter topic in ms; dead letters are stamped with wall time."""

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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file or os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        sources.append(file_secret_settings)
        return tuple(sources)


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
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        env = "BERTHWATCH_" + str(err["loc"][0]).upper() if err["loc"] else CONFIG_ENV
        parts.append(f"{field}: {err['msg']} (set by {env})")
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
        if name.startswith("BERTHWATCH_") and name not in known:
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
