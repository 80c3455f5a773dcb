"""The one Kafka client configuration, mapped to each client library's own arguments.

:class:`~streams.settings.KafkaClientSettings` holds the standard property names
(``security.protocol``, ``sasl.*``, ``ssl.*``, ``client.id``, ``compression.type``);
this module turns them into aiokafka arguments (workers, replay, readers, benchmarks),
kafka-python arguments (topic administration, tests) and faust's ``broker_credentials``
(the worker's app), and explains a failed connection in one line that names the setting
to look at. Secrets go to the clients and nowhere else.

>>> from streams.settings import Settings
>>> sorted(aiokafka_args(Settings(kafka_port=19092), producer=True))
['bootstrap_servers', 'client_id', 'compression_type', 'security_protocol']
"""

from __future__ import annotations

import asyncio
import shlex
import ssl
import subprocess
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider as AsyncTokenProvider
from kafka.net.sasl.oauth import AbstractTokenProvider as SyncTokenProvider

from streams.settings import KafkaClientSettings, Settings, kafka_env_name

CONNECT_TIMEOUT_S = 10.0
"""Longest a single diagnostic connection attempt may take."""


class KafkaClientError(ConnectionError):
    """Berthwatch cannot use the broker with these settings; one line naming the setting."""


# --------------------------------------------------------------------------- TLS, tokens

def ssl_context(k: KafkaClientSettings) -> ssl.SSLContext | None:
    """The TLS context of SSL and SASL_SSL (None otherwise): the CA of ``ssl.ca.location``
    (or the system's), the client certificate and key for mutual TLS, host name checks
    unless ``ssl.endpoint.identification.algorithm`` is ``none``."""
    if not k.tls:
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(k.ssl_ca_location) if k.ssl_ca_location else None)
    except (ssl.SSLError, OSError) as e:
        raise KafkaClientError(f"ssl.ca.location: cannot load {k.ssl_ca_location} as PEM CA "
                               f"certificates ({_reason(e)})") from None
    if k.ssl_certificate_location is not None and k.ssl_key_location is not None:
        password = k.ssl_key_password.get_secret_value() if k.ssl_key_password else None
        try:
            context.load_cert_chain(str(k.ssl_certificate_location), str(k.ssl_key_location),
                                    password=password)
        except (ssl.SSLError, OSError) as e:
            text = str(e).lower()
            bad_key = "decrypt" in text or "password" in text or "pem lib" in text
            setting = "ssl.key.password" if bad_key else "ssl.certificate.location"
            raise KafkaClientError(
                f"{setting}: cannot load the client certificate {k.ssl_certificate_location} "
                f"with the key {k.ssl_key_location} ({_reason(e)})") from None
    if k.ssl_endpoint_identification_algorithm == "none":
        context.check_hostname = False
    return context


def _token(k: KafkaClientSettings) -> str:
    """The current OAUTHBEARER token from ``sasl.oauthbearer.token.file`` or ``.command``."""
    if k.sasl_oauthbearer_token_file is not None:
        try:
            token = Path(k.sasl_oauthbearer_token_file).read_text().strip()
        except OSError as e:
            raise KafkaClientError(f"sasl.oauthbearer.token.file: {_reason(e)}") from None
        setting = "sasl.oauthbearer.token.file"
    else:
        command = k.sasl_oauthbearer_token_command or ""
        try:
            result = subprocess.run(shlex.split(command), capture_output=True, text=True,
                                    timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise KafkaClientError(f"sasl.oauthbearer.token.command: {_reason(e)}") from None
        if result.returncode != 0:
            raise KafkaClientError(f"sasl.oauthbearer.token.command exited with status "
                                   f"{result.returncode}")
        token, setting = result.stdout.strip(), "sasl.oauthbearer.token.command"
    if not token:
        raise KafkaClientError(f"{setting} gave an empty token")
    return token


class AsyncToken(AsyncTokenProvider):
    """aiokafka's OAUTHBEARER token provider (faust uses it too)."""

    def __init__(self, k: KafkaClientSettings) -> None:
        self.k = k

    async def token(self) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, _token, self.k)


class SyncToken(SyncTokenProvider):
    """kafka-python's OAUTHBEARER token provider."""

    def __init__(self, k: KafkaClientSettings) -> None:
        super().__init__()
        self.k = k

    def token(self) -> str:
        return _token(self.k)


# --------------------------------------------------------------------------- per client

def _sasl(k: KafkaClientSettings, oauth: AsyncToken | SyncToken) -> dict[str, Any]:
    if not k.security_protocol.startswith("SASL_"):
        return {}
    if k.sasl_mechanism == "OAUTHBEARER":
        return {"sasl_mechanism": "OAUTHBEARER", "sasl_oauth_token_provider": oauth}
    return {"sasl_mechanism": k.sasl_mechanism, "sasl_plain_username": k.sasl_username,
            "sasl_plain_password": k.sasl_password.get_secret_value()
            if k.sasl_password else None}


def _args(s: Settings, oauth: AsyncToken | SyncToken, producer: bool) -> dict[str, Any]:
    k = s.kafka
    out: dict[str, Any] = {"bootstrap_servers": s.kafka_bootstrap, "client_id": k.client_id,
                           "security_protocol": k.security_protocol, **_sasl(k, oauth)}
    context = ssl_context(k)
    if context is not None:
        out["ssl_context"] = context
    if producer:
        out["compression_type"] = None if k.compression_type == "none" else k.compression_type
    return out


def aiokafka_args(s: Settings, *, producer: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``AIOKafkaProducer`` (``producer``) or ``AIOKafkaConsumer``:
    bootstrap servers, security, client id and, for a producer, compression."""
    return _args(s, AsyncToken(s.kafka), producer)


def kafka_python_args(s: Settings, *, producer: bool = False) -> dict[str, Any]:
    """Keyword arguments of kafka-python's ``KafkaAdminClient``, ``KafkaConsumer`` or
    (``producer``) ``KafkaProducer``."""
    out = _args(s, SyncToken(s.kafka), producer)
    if "ssl_context" in out:
        out["ssl_check_hostname"] = out["ssl_context"].check_hostname
    return out


def faust_args(s: Settings) -> dict[str, Any]:
    """Keyword arguments of ``faust.App`` for the broker: URLs, credentials, client id,
    the producer's compression."""
    import faust

    k = s.kafka
    context = ssl_context(k)
    credentials: Any = None
    if k.security_protocol.startswith("SASL_") and k.sasl_mechanism == "OAUTHBEARER":
        credentials = faust.OAuthCredentials(oauth_cb=AsyncToken(k), ssl_context=context)
    elif k.security_protocol.startswith("SASL_"):
        credentials = faust.SASLCredentials(
            username=k.sasl_username, mechanism=k.sasl_mechanism, ssl_context=context,
            password=k.sasl_password.get_secret_value() if k.sasl_password else None)
    elif context is not None:
        credentials = faust.SSLCredentials(context)
    return {
        "broker": [f"kafka://{server}" for server in s.kafka_bootstrap.split(",")],
        "broker_credentials": credentials,
        "broker_client_id": k.client_id,
        "producer_compression_type": None if k.compression_type == "none"
        else k.compression_type,
    }


# --------------------------------------------------------------------------- diagnosis

def _reason(e: BaseException) -> str:
    text = str(getattr(e, "reason", None) or getattr(e, "strerror", None) or e)
    return text.splitlines()[0] if text else type(e).__name__


def explain(s: Settings, error: BaseException, server: str) -> str:
    """One line for a failed connection to ``server``, naming the setting to look at."""
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    k = s.kafka
    who = f"user {k.sasl_username}" if k.sasl_username else "this client"
    if isinstance(error, SaslAuthenticationFailed):
        setting = ("sasl.oauthbearer.token.file/command" if k.sasl_mechanism == "OAUTHBEARER"
                   else f"sasl.password ({kafka_env_name('sasl.password')})")
        return (f"{setting}: the broker at {server} refused the {k.sasl_mechanism} "
                f"credentials of {who}; check sasl.username and sasl.password")
    if isinstance(error, UnsupportedSaslMechanismError):
        return (f"sasl.mechanism: the broker at {server} does not accept {k.sasl_mechanism} "
                f"({kafka_env_name('sasl.mechanism')})")
    if isinstance(error, ssl.SSLCertVerificationError):
        if getattr(error, "verify_code", None) == 62:  # host name mismatch
            return (f"ssl.endpoint.identification.algorithm: the certificate of the broker at "
                    f"{server} does not name that host ({_reason(error)})")
        ca = k.ssl_ca_location or "the system's trusted CAs"
        return (f"ssl.ca.location: the certificate of the broker at {server} is not signed "
                f"by {ca} ({_reason(error)}; {kafka_env_name('ssl.ca.location')})")
    if isinstance(error, ssl.SSLError):
        text = _reason(error).lower()
        if "certificate" in text or "unknown ca" in text:
            return (f"ssl.certificate.location: the broker at {server} refused this client's "
                    f"certificate ({_reason(error)})")
        return (f"security.protocol: TLS with the broker at {server} failed ({_reason(error)}); "
                f"is {server} a {k.security_protocol} listener?")
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return (f"security.protocol: the broker at {server} did not answer a "
                f"{k.security_protocol} connection within {CONNECT_TIMEOUT_S:.0f}s; is it "
                f"that kind of listener?")
    if isinstance(error, KafkaClientError):
        return str(error)
    if isinstance(error, OSError):
        return f"{UNREACHABLE}{server}: {_reason(error)}"
    if isinstance(error, ConnectionError | EOFError) or "closed" in str(error).lower():
        if k.security_protocol == "SSL":  # TLS 1.3: a refused client certificate looks so
            cert = k.ssl_certificate_location or "none given"
            return (f"ssl.certificate.location: the broker at {server} closed the connection "
                    f"after the TLS handshake: it does not accept this client's certificate "
                    f"({cert})")
        return (f"security.protocol: the broker at {server} closed a {k.security_protocol} "
                f"connection; is it that kind of listener?")
    return f"cannot use Kafka at {server}: {type(error).__name__}: {_reason(error)}"


async def diagnose(s: Settings) -> str | None:
    """Connect once to each bootstrap server with these settings, authenticating as the
    clients would; None when one of them accepts, else one line about the first failure.
    Client libraries retry a refused login for a long time: this fails at once."""
    from aiokafka.conn import create_conn

    try:
        args = aiokafka_args(s)
    except KafkaClientError as e:
        return str(e)
    args.pop("bootstrap_servers")
    args.pop("client_id")
    first: str | None = None
    for server in s.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(host.strip("[]"), int(port), **args),
                                          CONNECT_TIMEOUT_S)
        except Exception as e:  # any failure to connect is explained, none raised
            first = first or explain(s, e, server.strip())
            continue
        conn.close()
        return None
    return first


UNREACHABLE = "cannot reach Kafka at "
"""How :func:`explain` begins when no broker answered at all (not a refusal)."""


def failure(problem: str) -> ConnectionError:
    """The exception for a line of :func:`diagnose`: :class:`ConnectionError` when no
    broker answered, :class:`KafkaClientError` when one refused these settings."""
    return (ConnectionError if problem.startswith(UNREACHABLE) else KafkaClientError)(problem)


def check_connection(s: Settings) -> None:
    """:func:`diagnose` for code without an event loop; raises :func:`failure`."""
    problem = asyncio.run(diagnose(s))
    if problem is not None:
        raise failure(problem)
