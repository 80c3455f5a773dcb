"""A secured Kafka, on the real broker: SASL_SSL (SCRAM-SHA-512) and mutual TLS listeners,
ACLs (StandardAuthorizer), and what a wrong password or an untrusted certificate does.

The secured broker is a second local-stack broker of its own (the stack's ``Kafka``
service with ``stack_sasl_ssl_port`` and ``stack_mtls_port``), on the test stack's Kafka
port + 4..7, started once for this module: the plaintext test broker stays as it is, with
no authorizer, for every other test. Its CA and certificates are made now with openssl.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.kafka.records import decode_alert
from streams.settings import Settings
from streams.tools.stack import Kafka
from streams.tools.tls import leaf_certificate
from tests.integration.harness import (
    BERTHWATCH,
    PROJECT_ROOT,
    TEST_ENV,
    Transition,
    Worker,
    eventually,
    metric,
    run_cli,
    simulated_feed,
)

PASSWORDS = {"admin": "admin-" + uuid.uuid4().hex, "alice": "alice-" + uuid.uuid4().hex,
             "bob": "bob-" + uuid.uuid4().hex}
KEY_PASSWORD = "carol-" + uuid.uuid4().hex
#: the cut of the San Pedro Bay scenario these tests replay (a month: quick)
CUT_START, CUT_END = "2021-10-01", "2021-10-31"


@dataclass
class Secured:
    """The secured broker: its settings, listeners and TLS material."""

    settings: Settings
    sasl_ssl: str
    mtls: str
    tls: Path
    rogue: Path
    """A CA (and a client certificate) the broker does not trust."""

    def sasl_env(self, user: str, prefix: str, password: str | None = None) -> dict[str, str]:
        """A deployment of ``user`` over SASL_SSL with its own topics and group."""
        return {
            "BERTHWATCH_KAFKA_SERVERS": self.sasl_ssl,
            "BERTHWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "BERTHWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "BERTHWATCH_KAFKA_SASL_USERNAME": user,
            "BERTHWATCH_KAFKA_SASL_PASSWORD": password or PASSWORDS[user],
            "BERTHWATCH_KAFKA_SSL_CA_LOCATION": str(self.tls / "ca.pem"),
            **_deployment(prefix),
        }

    def mtls_env(self, prefix: str, name: str = "carol") -> dict[str, str]:
        """A deployment over mutual TLS with the client certificate ``name`` (mallory's is
        signed by a CA the broker does not trust)."""
        folder = self.rogue if name == "mallory" else self.tls
        return {
            "BERTHWATCH_KAFKA_SERVERS": self.mtls,
            "BERTHWATCH_KAFKA_SECURITY_PROTOCOL": "SSL",
            "BERTHWATCH_KAFKA_SSL_CA_LOCATION": str(self.tls / "ca.pem"),
            "BERTHWATCH_KAFKA_SSL_CERTIFICATE_LOCATION": str(folder / f"{name}.pem"),
            "BERTHWATCH_KAFKA_SSL_KEY_LOCATION": str(folder / f"{name}.key"),
            **({"BERTHWATCH_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD} if name == "carol" else {}),
            **_deployment(prefix),
        }


def _deployment(prefix: str) -> dict[str, str]:
    tag = f"{prefix}-{uuid.uuid4().hex[:6]}"
    return {"BERTHWATCH_TOPIC_PREFIX": f"{tag}.", "BERTHWATCH_WORKER_ID": tag,
            "BERTHWATCH_CHECKPOINT_INTERVAL_SECONDS": "1",
            # nothing listens there: alerts are compared on the alerts topic
            "BERTHWATCH_ALERTMANAGER_URL": "http://127.0.0.1:9"}


def _grant(admin_settings: Settings, principal: str, prefix: str) -> None:
    """Everything on the topics and groups whose names start with ``prefix``."""
    from kafka import KafkaAdminClient
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    from streams.kafka.client import kafka_python_args

    admin = KafkaAdminClient(**kafka_python_args(admin_settings))
    try:
        result = admin.create_acls([
            ACL(principal, "*", ACLOperation.ALL, ACLPermissionType.ALLOW,
                ResourcePattern(kind, prefix, ACLResourcePatternType.PREFIXED))
            for kind in (ResourceType.TOPIC, ResourceType.GROUP)])
        assert not result["failed"], result
    finally:
        admin.close()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    base = int(TEST_ENV["BERTHWATCH_KAFKA_PORT"])
    host = "127.0.0.1"
    s = Settings(stack_dir=Path(TEST_ENV["BERTHWATCH_STACK_DIR"] + "-secured"), host=host,
                 kafka_port=base + 4, kafka_controller_port=base + 5,
                 stack_sasl_ssl_port=base + 6, stack_mtls_port=base + 7, kafka_heap="384m",
                 stack_scram_users={u: SecretStr(p) for u, p in PASSWORDS.items()},
                 stack_oauthbearer_unsecured=True)
    kafka = Kafka(s)
    kafka.stop()
    shutil.rmtree(s.stack_dir, ignore_errors=True)
    try:
        kafka.start()
        kafka.wait_ready(120)
        leaf_certificate(kafka.tls_dir, "carol", password=KEY_PASSWORD)
        rogue = tmp_path_factory.mktemp("rogue-ca")
        leaf_certificate(rogue, "mallory")
        secured = Secured(s, f"{host}:{base + 6}", f"{host}:{base + 7}", kafka.tls_dir, rogue)
        admin = Settings(kafka_servers=secured.sasl_ssl, kafka={
            "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "admin", "sasl.password": PASSWORDS["admin"],
            "ssl.ca.location": str(kafka.tls_dir / "ca.pem")})
        _grant(admin, "User:alice", "sec-a")
        _grant(admin, "User:bob", "sec-b")
        _grant(admin, "User:carol", "sec-c")
        yield secured
    finally:
        kafka.stop()


@pytest.fixture(scope="module")
def cut_feed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """A month of the simulated San Pedro Bay feed and its labels."""
    return simulated_feed(tmp_path_factory.mktemp("spb-cut"), CUT_START, CUT_END)


@pytest.fixture(scope="module")
def cut_backtest(cut_feed: tuple[list[Path], Path]) -> list[Transition]:
    """What ``berthwatch backtest`` finds on the cut (the plaintext tests' reference too)."""
    from streams.labels import load_labels
    from streams.offline.backtest import run_backtest

    paths, labels = cut_feed
    result = run_backtest(paths, load_labels(labels))
    out = [(a.key, a.state, a.ts, a.severity) for a in result.output.alerts]
    assert len(out) >= 10
    return out


def _settings_of(env: dict[str, str]) -> Settings:
    from streams.settings import load_settings

    return load_settings(None, **{
        "kafka_servers": env["BERTHWATCH_KAFKA_SERVERS"],
        "kafka": {k.removeprefix("BERTHWATCH_KAFKA_").lower().replace("_", "."): v
                  for k, v in env.items()
                  if k.startswith("BERTHWATCH_KAFKA_") and k != "BERTHWATCH_KAFKA_SERVERS"},
    })


def _published(env: dict[str, str]) -> list[Transition]:
    from streams.kafka.io import read_topic_to_end

    records = read_topic_to_end(_settings_of(env), env["BERTHWATCH_TOPIC_PREFIX"] + "alerts",
                                timeout_s=60)
    return [(a.key, a.state, a.ts, a.severity)
            for a in (decode_alert(r.value) for r in records if r.value is not None)]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sasl_ssl_worker_and_replay_raise_the_backtest_alerts(
        secured: Secured, cut_feed: tuple[list[Path], Path], cut_backtest: list[Transition],
        tmp_path: Path) -> None:
    paths, labels = cut_feed
    env = {**secured.sasl_env("alice", "sec-a"),
           "BERTHWATCH_METHODOLOGY_CHANGES_FILE": str(labels),
           "BERTHWATCH_STACK_DIR": str(secured.settings.stack_dir)}
    created = run_cli("topics", "create", env=env)
    assert "8 created" in created.stdout + created.stderr
    worker = Worker(tmp_path / "worker.log", _free_port(), env)
    try:
        worker.wait_ready()
        run_cli("replay", *map(str, paths), env=env, timeout=300)
        eventually(lambda: metric(worker, "berthwatch_feed_complete") == 1, 300, interval=1.0)
        eventually(lambda: len(_published(env)) >= len(cut_backtest), 60, interval=1.0)
        time.sleep(2)  # anything doubled would arrive now
        published = _published(env)
    finally:
        worker.stop()
    assert sorted(published) == sorted(cut_backtest)
    log = worker.log.read_text(errors="replace")
    assert PASSWORDS["alice"] not in log


def test_mutual_tls_topics_and_replay(secured: Secured, cut_feed: tuple[list[Path], Path]
                                      ) -> None:
    paths, _labels = cut_feed
    env = secured.mtls_env("sec-c")
    created = run_cli("topics", "create", env=env)
    assert "8 created" in created.stdout + created.stderr
    assert run_cli("topics", "list", env=env).returncode == 0  # nothing missing
    result = run_cli("replay", str(paths[1]), env=env, timeout=300)  # the container events
    from streams.kafka.io import read_topic_to_end

    records = read_topic_to_end(_settings_of(env), env["BERTHWATCH_TOPIC_PREFIX"] + "containers",
                                timeout_s=60)
    assert len(records) > 1000, result.stdout
    assert KEY_PASSWORD not in result.stdout + result.stderr


def _fails_fast(args: list[str], env: dict[str, str], words: list[str]) -> str:
    """``berthwatch ARGS`` exits non-zero within 30 s with one line that has ``words``,
    and says nothing else (no retry storm): returns that line."""
    t0 = time.monotonic()
    result = subprocess.run([*BERTHWATCH, *args], capture_output=True, text=True, timeout=60,
                            env={**_clean_env(), **env}, cwd=PROJECT_ROOT, check=False)
    elapsed = time.monotonic() - t0
    out = result.stdout + result.stderr
    lines = [ln for ln in out.splitlines() if ln.strip()]
    progress = [ln for ln in lines if ln.startswith("replay ") and "rec/s" in ln]
    assert result.returncode != 0 and elapsed < 30, (elapsed, out)
    assert len(lines) - len(progress) == 1 and len(progress) <= 1, out  # the replay's bar
    error = next(ln for ln in lines if ln not in progress)
    assert all(w in error for w in words), error
    for secret in (*PASSWORDS.values(), KEY_PASSWORD, "wrong-" + PASSWORDS["alice"]):
        assert secret not in out
    return error


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BERTHWATCH_")}


def test_wrong_password_is_one_line_at_once(secured: Secured,
                                            cut_feed: tuple[list[Path], Path]) -> None:
    env = secured.sasl_env("alice", "sec-a", password="wrong-" + PASSWORDS["alice"])
    words = ["sasl.password", "alice", secured.sasl_ssl]
    for args in (["topics", "create"], ["replay", str(cut_feed[0][1])], ["worker"]):
        _fails_fast(args, env, words)


def test_untrusted_certificates_are_one_line_at_once(secured: Secured,
                                                     cut_feed: tuple[list[Path], Path]) -> None:
    rogue_ca = secured.rogue / "ca.pem"
    env = {**secured.sasl_env("alice", "sec-a"),
           "BERTHWATCH_KAFKA_SSL_CA_LOCATION": str(rogue_ca)}
    for args in (["topics", "create"], ["replay", str(cut_feed[0][1])], ["worker"]):
        _fails_fast(args, env, ["ssl.ca.location", str(rogue_ca)])
    # the broker does not trust a client certificate from another CA
    _fails_fast(["topics", "create"], secured.mtls_env("sec-c", name="mallory"),
                ["ssl.certificate.location", secured.mtls])


def test_acls_deny_a_user_the_topics_of_another_prefix(
    secured: Secured, cut_feed: tuple[list[Path], Path]
) -> None:
    bob = secured.sasl_env("bob", "sec-b")
    run_cli("topics", "create", env=bob)
    alice_on_bobs = {**secured.sasl_env("alice", "sec-a"),
                     "BERTHWATCH_TOPIC_PREFIX": bob["BERTHWATCH_TOPIC_PREFIX"]}
    for args in (["topics", "create"], ["replay", str(cut_feed[0][1])], ["worker"]):
        _fails_fast(args, alice_on_bobs, ["not authorize alice", bob["BERTHWATCH_TOPIC_PREFIX"]])


def _unsigned_jwt(subject: str) -> str:
    """A token Kafka's unsecured OAUTHBEARER validator accepts (the local broker's)."""
    import base64
    import json

    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'sub': subject, 'iat': now, 'exp': now + 3600})}."


def test_oauthbearer_token_file_topics_and_replay(
        secured: Secured, cut_feed: tuple[list[Path], Path], tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(_unsigned_jwt("alice"))
    env = {**secured.sasl_env("alice", "sec-a"), "BERTHWATCH_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
           "BERTHWATCH_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE": str(token)}
    for name in ("BERTHWATCH_KAFKA_SASL_USERNAME", "BERTHWATCH_KAFKA_SASL_PASSWORD"):
        env.pop(name)
    created = run_cli("topics", "create", env=env)
    assert "8 created" in created.stdout + created.stderr
    run_cli("replay", str(cut_feed[0][1]), env=env, timeout=300)
    from streams.kafka.io import read_topic_to_end

    records = read_topic_to_end(_settings_of(env), env["BERTHWATCH_TOPIC_PREFIX"] + "containers",
                                timeout_s=60)
    assert len(records) > 1000
    token.write_text(_unsigned_jwt("mallory"))  # read again at every login: no ACLs for her
    _fails_fast(["topics", "create"], env, ["not authorize"])
