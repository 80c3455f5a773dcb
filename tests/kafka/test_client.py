"""The one Kafka client configuration: where it is read from, how it maps to each client
library, and that its secrets stay secret."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import faust
import pytest

from streams.kafka.client import (
    AsyncToken,
    KafkaClientError,
    SyncToken,
    aiokafka_args,
    explain,
    faust_args,
    kafka_python_args,
    ssl_context,
)
from streams.settings import ConfigError, Settings, load_settings, unknown_env
from streams.tools.tls import leaf_certificate

pytestmark = pytest.mark.unit

SECRET = "s3cr3t-hunter2"
SASL = {"BERTHWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BERTHWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "BERTHWATCH_KAFKA_SASL_USERNAME": "alice", "BERTHWATCH_KAFKA_SASL_PASSWORD": SECRET}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    leaf_certificate(folder, "client", password="key-pass")
    return folder


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
              config: Path | None = None) -> Settings:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings(config)


def test_environment_and_file_merge_and_old_kafka_variables_still_work(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("kafka:\n  sasl.mechanism: PLAIN\n  client.id: from-file\n")
    s = _settings(monkeypatch, {**SASL, "BERTHWATCH_KAFKA_PORT": "19999",
                                "BERTHWATCH_KAFKA_OUTAGE_SECONDS": "7"}, config)
    assert s.kafka.sasl_mechanism == "SCRAM-SHA-512"  # the environment wins
    assert s.kafka.client_id == "from-file" and s.kafka.sasl_username == "alice"
    assert s.kafka_port == 19999 and s.kafka_outage_seconds == 7
    assert s.kafka_bootstrap == "127.0.0.1:19999"
    assert unknown_env({**SASL, "BERTHWATCH_KAFKA_PORT": "1"}) == []


def test_secrets_directory_holds_the_password(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    (tmp_path / "BERTHWATCH_KAFKA_SASL_PASSWORD").write_text(SECRET + "\n")
    env = {k: v for k, v in SASL.items() if "PASSWORD" not in k}
    monkeypatch.setitem(Settings.model_config, "secrets_dir", str(tmp_path))
    s = _settings(monkeypatch, env)
    assert s.kafka.sasl_password is not None
    assert s.kafka.sasl_password.get_secret_value() == SECRET


@pytest.mark.parametrize(("config", "words"), [
    ("kafka:\n  sasl.mechnism: PLAIN\n", ["sasl.mechnism", "did you mean sasl.mechanism",
                                           "BERTHWATCH_KAFKA_SASL_MECHNISM"]),
    ("kafka:\n  security.protocol: TLS\n", ["kafka.security.protocol", "SASL_SSL"]),
    ("kafka:\n  security.protocol: SASL_SSL\n", ["sasl.username and sasl.password"]),
    ("kafka:\n  ssl.ca.location: /no/such/ca.pem\n", ["ssl.ca.location: no such file"]),
    ("kafka:\n  compression.type: lz4\n", ["compression.type lz4 needs the cramjam"]),
])
def test_bad_property_is_one_line_naming_it(tmp_path: Path, config: str,
                                            words: list[str]) -> None:
    path = tmp_path / "c.yml"
    path.write_text(config)
    if "lz4" in config and __import__("importlib").util.find_spec("cramjam"):
        pytest.skip("cramjam is installed here")
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    message = str(e.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_aiokafka_and_kafka_python_get_the_same_connection(
        monkeypatch: pytest.MonkeyPatch, tls: Path) -> None:
    s = _settings(monkeypatch, {**SASL, "BERTHWATCH_KAFKA_SSL_CA_LOCATION": str(tls / "ca.pem"),
                                "BERTHWATCH_KAFKA_COMPRESSION_TYPE": "gzip",
                                "BERTHWATCH_KAFKA_CLIENT_ID": "bw-test"})
    a = aiokafka_args(s, producer=True)
    k = kafka_python_args(s)
    for args in (a, k):
        assert args["security_protocol"] == "SASL_SSL"
        assert args["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (args["sasl_plain_username"], args["sasl_plain_password"]) == ("alice", SECRET)
        assert isinstance(args["ssl_context"], ssl.SSLContext)
        assert args["ssl_context"].check_hostname and args["client_id"] == "bw-test"
    assert a["compression_type"] == "gzip" and "compression_type" not in aiokafka_args(s)
    assert k["ssl_check_hostname"] is True


def test_plaintext_defaults_pass_nothing_secret() -> None:
    s = Settings(kafka_port=19092)
    assert aiokafka_args(s) == {"bootstrap_servers": "127.0.0.1:19092",
                                "client_id": "berthwatch", "security_protocol": "PLAINTEXT"}
    assert faust_args(s)["broker_credentials"] is None
    assert faust_args(s)["broker"] == ["kafka://127.0.0.1:19092"]


def test_mutual_tls_loads_the_encrypted_key_with_its_password(tls: Path) -> None:
    kafka = {"security.protocol": "SSL", "ssl.ca.location": str(tls / "ca.pem"),
             "ssl.certificate.location": str(tls / "client.pem"),
             "ssl.key.location": str(tls / "client.key"), "ssl.key.password": "key-pass",
             "ssl.endpoint.identification.algorithm": "none"}
    s = Settings(kafka=kafka)
    context = ssl_context(s.kafka)
    assert context is not None and not context.check_hostname
    assert isinstance(faust_args(s)["broker_credentials"], faust.SSLCredentials)
    wrong = Settings(kafka={**kafka, "ssl.key.password": "nope"})
    with pytest.raises(KafkaClientError, match=r"^ssl\.key\.password: ") as e:
        ssl_context(wrong.kafka)
    assert "nope" not in str(e.value) and "\n" not in str(e.value)


def test_faust_gets_sasl_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch, SASL)
    credentials = faust_args(s)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512" and credentials.password == SECRET
    assert credentials.protocol.value == "SASL_SSL"


def test_oauthbearer_token_from_a_file_or_a_command(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJ.token.1\n")
    s = Settings(kafka={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
                        "sasl.oauthbearer.token.file": str(token)})
    provider = kafka_python_args(s)["sasl_oauth_token_provider"]
    assert isinstance(provider, SyncToken) and provider.token() == "eyJ.token.1"
    token.write_text("eyJ.token.2")  # read again for every authentication
    assert provider.token() == "eyJ.token.2"
    c = Settings(kafka={"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
                        "sasl.oauthbearer.token.command": f"{sys.executable} -c 'print(42)'"})
    provider_a = aiokafka_args(c)["sasl_oauth_token_provider"]
    assert isinstance(provider_a, AsyncToken)
    import asyncio

    assert asyncio.run(provider_a.token()) == "42"
    assert isinstance(faust_args(c)["broker_credentials"], faust.OAuthCredentials)
    with pytest.raises(ConfigError, match="exactly one of"):
        load_settings(None, kafka={"security.protocol": "SASL_SSL",
                                   "sasl.mechanism": "OAUTHBEARER"})


def test_failures_are_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka.errors import SaslAuthenticationFailed

    s = _settings(monkeypatch, SASL)
    line = explain(s, SaslAuthenticationFailed("invalid credentials"), "h:9093")
    assert line.startswith("sasl.password") and "alice" in line and SECRET not in line
    unknown = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert explain(s, unknown, "h:9093").startswith("ssl.ca.location: ")
    assert explain(s, ConnectionRefusedError(111, "Connection refused"),
                   "h:9093") == "cannot reach Kafka at h:9093: Connection refused"


def test_secrets_never_in_reprs_errors_or_command_output(tmp_path: Path) -> None:
    s = Settings(kafka={"security.protocol": "SASL_SSL", "sasl.username": "alice",
                        "sasl.password": SECRET, "ssl.key.password": SECRET},
                 stack_scram_users={"alice": SECRET})
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())
    bad = tmp_path / "c.yml"
    bad.write_text(f"kafka:\n  sasl.password: {SECRET}\n  security.protocol: NOPE\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTHWATCH_")}
    for args, extra in ((["--config", str(bad), "topics", "list"], {}),
                        (["topics", "list"], {**SASL, "BERTHWATCH_KAFKA_SERVERS": "127.0.0.1:1",
                                              "BERTHWATCH_KAFKA_SSL_CA_LOCATION": "/nope"}),
                        (["topics", "list"], {**SASL, "BERTHWATCH_KAFKA_SERVERS": "127.0.0.1:1"})):
        result = subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True,
                                text=True, env={**env, **extra}, timeout=60, check=False)
        out = result.stdout + result.stderr
        assert result.returncode != 0 and SECRET not in out, out
        assert len(result.stderr.strip().splitlines()) == 1, out


def test_no_broker_is_not_a_refusal() -> None:
    import socket

    from streams.kafka.client import check_connection

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError) as e:
        check_connection(Settings(kafka_servers=f"127.0.0.1:{port}"))
    assert not isinstance(e.value, KafkaClientError)
    assert str(e.value).startswith(f"cannot reach Kafka at 127.0.0.1:{port}: ")
