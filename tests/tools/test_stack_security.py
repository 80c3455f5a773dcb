"""The local broker's secured configuration, rendered without starting it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings
from streams.tools.stack import Kafka

pytestmark = pytest.mark.unit


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if line and not line.startswith("#"))


def test_plaintext_broker_is_as_before(tmp_path: Path) -> None:
    props = _properties(Kafka(Settings(stack_dir=tmp_path, kafka_port=19092,
                                       kafka_controller_port=19095))._properties())
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert "authorizer.class.name" not in props
    assert Kafka(Settings(stack_dir=tmp_path)).extra_ports() == [9095]


def test_secured_broker_has_sasl_ssl_mtls_acls_and_a_tls_controller(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, kafka_port=19092, kafka_controller_port=19095,
                 stack_sasl_ssl_port=19098, stack_mtls_port=19099, stack_super_users=["ops"],
                 stack_scram_users={"alice": "pw-alice"})
    kafka = Kafka(s)
    props = _properties(kafka._properties())
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19098,"
                                  "MTLS://127.0.0.1:19099,CONTROLLER://127.0.0.1:19095")
    assert "CONTROLLER" not in props["advertised.listeners"]
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:SSL")
    assert props["inter.broker.listener.name"] == "MTLS"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:broker;User:ops"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    assert props["ssl.truststore.location"] == str(kafka.tls_dir / "ca.pem")
    assert kafka.extra_ports() == [19095, 19098, 19099]
    assert kafka._scram_arguments() == ["--add-scram",
                                        "SCRAM-SHA-512=[name=alice,password=pw-alice]"]
    assert "pw-alice" not in repr(s)
    oauth = _properties(Kafka(s.model_copy(update={"stack_oauthbearer_unsecured": True}))
                        ._properties())
    assert oauth["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,OAUTHBEARER"
