"""The local stack: a single-node Apache Kafka (KRaft), Prometheus and Alertmanager.

Kafka runs from the official Maven Central jars (``org.apache.kafka:kafka_2.13``
and its runtime dependencies, fetched once with Maven into the cache folder, plus
a logging binding) on the machine's Java. Prometheus and Alertmanager are the
operating system's packages. Everything binds to loopback, keeps its data under
``Settings.stack_dir`` and is tracked by pid files there, so ``up`` is idempotent
and ``down`` leaves nothing behind.

Every failure is a :class:`StackError` whose message is one line naming the
problem and the fix; a failed ``up`` stops whatever it started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
SETUP_HINT = "run `make setup` (installs it) or see README"


class StackError(Exception):
    """A stack problem, phrased as one line with the fix."""


@dataclass(frozen=True)
class Status:
    name: str
    running: bool
    ready: bool
    address: str
    pid: int | None
    note: str


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Service:
    """A process the stack starts, tracked by a pid file, identified by its command line."""

    name = "service"
    package_hint = ""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.dir = settings.stack_dir / self.name
        self.pid_file = settings.stack_dir / "run" / f"{self.name}.pid"
        self.log_file = settings.stack_dir / "logs" / f"{self.name}.log"

    # -- what subclasses say ------------------------------------------------
    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"{self.s.host}:{self.port}"

    @property
    def marker(self) -> str:
        """A string found in this service's command line and no one else's."""
        return str(self.dir)

    def missing(self) -> str | None:
        """Why this service cannot start here, with the fix; None if it can."""
        return None

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configs and format storage before the first start."""

    def ready(self) -> bool:
        raise NotImplementedError

    def extra_ports(self) -> list[int]:
        return []

    # -- process handling -----------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if self.marker in _cmdline(pid):
            return pid
        return None

    def status(self) -> Status:
        problem = self.missing()
        pid = self.pid()
        if pid is None:
            note = problem or "stopped"
            return Status(self.name, False, False, self.address, None, note)
        ready = self.ready()
        return Status(self.name, True, ready, self.address, pid, "ready" if ready else "starting")

    def start(self) -> bool:
        """Start unless already running; returns True if this call started it."""
        if self.pid() is not None:
            return False
        problem = self.missing()
        if problem:
            raise StackError(problem)
        for port in [self.port, *self.extra_ports()]:
            if not _port_free(self.s.host, port):
                raise StackError(
                    f"{self.name}: port {port} on {self.s.host} is already in use by another "
                    f"process; stop it or choose another port (see `berthwatch stack status`)"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.dir,
            )
        self.pid_file.write_text(str(proc.pid))
        # Until the child has exec'd, its command line is still ours: wait for it.
        deadline = time.monotonic() + 5.0
        while self.marker not in _cmdline(proc.pid) and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return True

    def wait_ready(self, timeout: float) -> float:
        """Block until the service answers; returns the seconds it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.pid() is None:
                raise StackError(
                    f"{self.name} exited during start-up; see its log {self.log_file}"
                )
            if self.ready():
                return time.monotonic() - t0
            time.sleep(0.2)
        raise StackError(
            f"{self.name} did not answer on {self.address} within {timeout:.0f}s; "
            f"see {self.log_file} or raise BERTHWATCH_START_TIMEOUT"
        )

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the process group gracefully, then forcibly; True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.marker in _cmdline(pid):
            time.sleep(0.1)
        if self.marker in _cmdline(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        self.pid_file.unlink(missing_ok=True)
        return True


class Kafka(Service):
    name = "kafka"

    @property
    def port(self) -> int:
        return self.s.kafka_port

    def extra_ports(self) -> list[int]:
        secure = [self.s.stack_sasl_ssl_port, self.s.stack_mtls_port]
        return [self.s.kafka_controller_port, *(p for p in secure if p is not None)]

    @property
    def secured(self) -> bool:
        """SASL_SSL or mTLS listeners, TLS controller and an ACL authorizer."""
        return self.s.stack_sasl_ssl_port is not None or self.s.stack_mtls_port is not None

    @property
    def tls_dir(self) -> Path:
        """The secured broker's CA and certificate (``ca.pem`` signs client certificates)."""
        return self.dir / "tls"

    @property
    def libs(self) -> Path:
        return self.s.cache_dir / f"kafka-{self.s.kafka_version}" / "libs"

    def missing(self) -> str | None:
        if shutil.which("java") is None:
            return "java not found: install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
        if not self._has_jars() and shutil.which("mvn") is None:
            return "mvn not found (needed once to fetch the Kafka jars): apt-get install maven"
        return None

    def _has_jars(self) -> bool:
        return (self.libs / f"kafka_2.13-{self.s.kafka_version}.jar").is_file()

    def fetch_jars(self) -> None:
        """Fetch kafka_2.13 and its runtime dependencies with Maven, once."""
        if self._has_jars():
            return
        tmp = self.libs.with_name("libs.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        major = self.s.kafka_version.split(".")[0]
        cmd = [
            "mvn", "-q", "-B",
            "-f", str(DEPLOY / "local" / "kafka" / "pom.xml"),
            f"-Dkafka.version={self.s.kafka_version}",
            f"-P{'kafka4' if int(major) >= 4 else 'kafka3'}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stdout + result.stderr).strip().splitlines()
            last = next((ln for ln in reversed(detail) if "ERROR" in ln), "see mvn output")
            raise StackError(
                f"could not fetch Kafka {self.s.kafka_version} jars from Maven Central: "
                f"{last.strip()[:200]}"
            )
        tmp.rename(self.libs)

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def _listeners(self) -> dict[str, tuple[str, int]]:
        """Listener name -> (security protocol, port), the controller's last."""
        s = self.s
        out = {"PLAINTEXT": ("PLAINTEXT", s.kafka_port)}
        if s.stack_sasl_ssl_port is not None:
            out["SASL_SSL"] = ("SASL_SSL", s.stack_sasl_ssl_port)
        if s.stack_mtls_port is not None:
            out["MTLS"] = ("SSL", s.stack_mtls_port)
        out["CONTROLLER"] = ("SSL" if self.secured else "PLAINTEXT", s.kafka_controller_port)
        return out

    def _properties(self) -> str:
        listeners = self._listeners()
        clients = [name for name in listeners if name != "CONTROLLER"]
        template = (DEPLOY / "local" / "kafka" / "server.properties").read_text()
        text = template.format(
            listeners=",".join(f"{n}://{self.s.host}:{port}" for n, (_, port) in listeners.items()),
            advertised_listeners=",".join(f"{n}://{self.s.host}:{listeners[n][1]}"
                                          for n in clients),
            inter_broker_listener="MTLS" if "MTLS" in listeners else "PLAINTEXT",
            protocol_map=",".join(f"{n}:{proto}" for n, (proto, _) in listeners.items()),
            host=self.s.host,
            controller_port=self.s.kafka_controller_port,
            data_dir=self.data_dir,
        )
        if self.secured:
            security = (DEPLOY / "local" / "kafka" / "security.properties").read_text()
            supers = ";".join(f"User:{u}" for u in ["broker", *self.s.stack_super_users])
            mechanisms = "SCRAM-SHA-512" + (",OAUTHBEARER" if self.s.stack_oauthbearer_unsecured
                                            else "")
            text += "\n" + security.format(super_users=supers, tls_dir=self.tls_dir,
                                           sasl_mechanisms=mechanisms)
            if self.s.stack_oauthbearer_unsecured:
                text += ("listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka."
                         "common.security.oauthbearer.OAuthBearerLoginModule required;\n")
        return text

    def _make_tls(self) -> None:
        """The CA and the broker's certificate (once), and its PEM key store (key, chain)."""
        from streams.tools.tls import TlsError, leaf_certificate

        try:
            cert, key = leaf_certificate(self.tls_dir, "broker")
        except TlsError as e:
            raise StackError(f"kafka: {e}") from None
        keystore = self.tls_dir / "broker-keystore.pem"
        keystore.write_text(key.read_text() + cert.read_text())
        keystore.chmod(0o600)

    def _scram_arguments(self) -> list[str]:
        out = []
        for name, password in self.s.stack_scram_users.items():
            out += ["--add-scram",
                    f"SCRAM-SHA-512=[name={name},password={password.get_secret_value()}]"]
        return out

    def prepare(self) -> None:
        self.fetch_jars()
        if self.secured:
            self._make_tls()
        props = self.dir / "server.properties"
        props.write_text(self._properties())
        for name in ("log4j.properties", "log4j2.properties"):  # Kafka 3.x / 4.x logging
            text = (DEPLOY / "local" / "kafka" / name).read_text()
            (self.dir / name).write_text(text.replace("{log_dir}", str(self.dir)))
        marker = self.dir / "formatted-by"
        if (self.data_dir / "meta.properties").is_file() and marker.is_file():
            formatted_by = marker.read_text().strip()
            if formatted_by != self.s.kafka_version:
                raise StackError(
                    f"kafka: {self.data_dir} was formatted by Kafka {formatted_by}, not "
                    f"{self.s.kafka_version}; set BERTHWATCH_KAFKA_VERSION={formatted_by} or "
                    f"delete {self.dir} to start afresh"
                )
        if not (self.data_dir / "meta.properties").is_file():
            cluster_id = _kafka_cluster_id()
            cmd = [*self._java(), "kafka.tools.StorageTool", "format",
                   "-t", cluster_id, "-c", str(props), *self._scram_arguments()]  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                output = result.stdout + result.stderr
                for password in self.s.stack_scram_users.values():  # never in a message
                    output = output.replace(password.get_secret_value(), "**********")
                raise StackError(
                    f"kafka storage format failed in {self.data_dir}: "
                    f"{output.strip().splitlines()[-1:]}"
                )
            marker.write_text(self.s.kafka_version)

    def _java(self, *jvm_options: str) -> list[str]:
        return [
            "java",
            *jvm_options,
            f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def command(self) -> list[str]:
        jvm = (f"-Xmx{self.s.kafka_heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true")
        return [*self._java(*jvm), "kafka.Kafka", str(self.dir / "server.properties")]

    def ready(self) -> bool:
        if not _port_answers(self.s.host, self.port):
            return False
        return _kafka_metadata_ok(self.address)


def _kafka_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid``, never one that starts with "-", which the
    storage tool's argument parser would take for an option.

    >>> all(not _kafka_cluster_id().startswith("-") for _ in range(1000))
    True
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _kafka_metadata_ok(bootstrap: str) -> bool:
    """The broker answers a metadata request (so it is past start-up, not just listening)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=2000
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


class Prometheus(Service):
    name = "prometheus"
    binary = "prometheus"

    @property
    def port(self) -> int:
        return self.s.prometheus_port

    def missing(self) -> str | None:
        if shutil.which(self.binary) is None:
            return f"{self.binary} not found: apt-get install prometheus, or {SETUP_HINT}"
        return None

    def prepare(self) -> None:
        config = render_prometheus_config(self.s)
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address={self.address}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=30d",
        ]

    def ready(self) -> bool:
        return _http_ok(f"http://{self.address}/-/ready")


class Alertmanager(Service):
    name = "alertmanager"
    binary = "prometheus-alertmanager"

    @property
    def port(self) -> int:
        return self.s.alertmanager_port

    def missing(self) -> str | None:
        if shutil.which(self.binary) is None:
            return (
                f"{self.binary} not found: apt-get install prometheus-alertmanager, "
                f"or {SETUP_HINT}"
            )
        return None

    def prepare(self) -> None:
        config = render_alertmanager_config(self.s)
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.dir / 'alertmanager.yml'}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address={self.address}",
            # A single local instance: no gossip port to collide with anything.
            "--cluster.listen-address=",
        ]

    def ready(self) -> bool:
        return _http_ok(f"http://{self.address}/-/ready")


class Worker(Service):
    """A ``berthwatch worker`` process started by the demo, tracked like the services."""

    def __init__(self, settings: Settings, number: int = 1) -> None:
        self.name = f"worker-{number}"
        super().__init__(settings)
        self.number = number

    @property
    def port(self) -> int:
        return self.s.worker_web_port + self.number - 1

    @property
    def marker(self) -> str:
        return f"--tag={self.dir}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streams", "worker", f"--web-port={self.port}",
                self.marker]

    def ready(self) -> bool:
        return _http_ok(f"http://{self.address}/metrics")


def workers(settings: Settings) -> list[Worker]:
    """Workers this stack folder has pid files for (running or not)."""
    run = settings.stack_dir / "run"
    numbers = sorted(int(p.stem.split("-")[1]) for p in run.glob("worker-*.pid")
                     if p.stem.split("-")[1].isdigit())
    return [Worker(settings, n) for n in numbers]


def render_prometheus_config(settings: Settings) -> dict[str, object]:
    """deploy/prometheus/prometheus.yml with the local stack's ports and rule paths."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config.setdefault("global", {})["scrape_interval"] = settings.scrape_interval
    config["global"]["evaluation_interval"] = settings.scrape_interval
    config["rule_files"] = [
        str(DEPLOY / "prometheus" / Path(pattern)) for pattern in config.get("rule_files", [])
    ]
    config["alerting"] = {
        "alertmanagers": [{"static_configs": [{"targets": [f"{settings.host}:"
                                                           f"{settings.alertmanager_port}"]}]}]
    }
    targets = {
        "berthwatch-workers": [f"{settings.host}:{p}" for p in settings.worker_metrics_ports],
        "prometheus": [f"{settings.host}:{settings.prometheus_port}"],
        "alertmanager": [f"{settings.host}:{settings.alertmanager_port}"],
    }
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    return dict(config)


def render_alertmanager_config(settings: Settings) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml with the local webhook, group wait and paths."""
    folder = DEPLOY / "alertmanager"
    config: dict[str, Any] = yaml.safe_load((folder / "alertmanager.yml").read_text())
    config["templates"] = [str(folder / t) for t in config.get("templates", [])]
    config["route"]["group_wait"] = settings.alert_group_wait
    config["route"]["group_interval"] = settings.alert_group_interval
    for receiver in config["receivers"]:
        if receiver["name"] == "ops-webhook":
            receiver["webhook_configs"][0]["url"] = settings.alert_webhook_url
    return config


def services(settings: Settings) -> list[Service]:
    return [Kafka(settings), Prometheus(settings), Alertmanager(settings)]


@contextlib.contextmanager
def _undo_on_error(started: list[Service]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for svc in reversed(started):
            svc.stop()
        raise


def up(settings: Settings, report: Callable[[str], None] = print) -> dict[str, float]:
    """Start every service that is not running; returns seconds to ready per service."""
    timings: dict[str, float] = {}
    started: list[Service] = []
    problems = [p for p in (svc.missing() for svc in services(settings)) if p]
    if problems:
        raise StackError(problems[0])
    with _undo_on_error(started):
        for svc in services(settings):
            t0 = time.monotonic()
            if svc.start():
                started.append(svc)
                report(f"starting {svc.name} on {svc.address}")
            svc.wait_ready(settings.start_timeout)
            timings[svc.name] = time.monotonic() - t0
            report(f"{svc.name} ready on {svc.address} ({timings[svc.name]:.1f}s)")
    return timings


def down(settings: Settings, report: Callable[[str], None] = print) -> list[str]:
    """Stop every service this stack started; returns the names that were running."""
    stopped = []
    for svc in [*workers(settings), *reversed(services(settings))]:
        if svc.stop():
            stopped.append(svc.name)
            report(f"stopped {svc.name}")
    return stopped


def status(settings: Settings) -> list[Status]:
    return [svc.status() for svc in [*services(settings), *workers(settings)]]
