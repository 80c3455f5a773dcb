"""Alert delivery against local receivers that answer like Alertmanager's API v2: an
alert it refuses (400) is dropped with its reason and holds nothing back, a 503 or a
refused connection is retried with back-off in order, and with two Alertmanagers one
that is down delays nothing at the other.

The receivers are small HTTP servers in this test (real sockets, real HTTP, the workers'
own sender); no broker is needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streams.alerting import AlertmanagerAlert, AlertmanagerSender
from streams.metrics import ALERTMANAGER_ERRORS, ALERTS_REJECTED

REASON = 'invalid label set: invalid name "not a label"'


class Receiver:
    """An Alertmanager stand-in: answers 400 with a reason to any post holding an alert
    labelled ``refuse`` (as Alertmanager refuses a whole batch for one invalid alert),
    503 to the next ``unavailable`` posts, 200 to the rest; keeps every alert it
    accepted, in order."""

    def __init__(self, port: int = 0, unavailable: int = 0) -> None:
        self.accepted: list[tuple[str, str, float]] = []  # (key, state, when)
        self.answers: list[int] = []
        self.unavailable = unavailable
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                assert self.path == "/api/v2/alerts"
                alerts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if any("refuse" in a["labels"] for a in alerts):
                    status, body = 400, json.dumps({"code": 400, "message": REASON})
                elif receiver.unavailable > 0:
                    receiver.unavailable -= 1
                    status, body = 503, "service unavailable"
                else:
                    status, body = 200, ""
                    now = time.monotonic()
                    receiver.accepted.extend(
                        (a["labels"]["alert_key"], "resolved" if "endsAt" in a else "firing",
                         now) for a in alerts)
                receiver.answers.append(status)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[tuple[str, str]]:
        return [(k, s) for k, s, _ in self.accepted]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(unavailable=2)
    yield r
    r.close()


def _alert(key: str, *, resolved: bool = False, refuse: bool = False) -> AlertmanagerAlert:
    labels = {"series": f"vessels_waiting|{key}", "detector": "queue_trend"}
    if refuse:
        labels["refuse"] = "yes"
    return AlertmanagerAlert(key=key, name="BerthwatchQueueBuilding", severity="warning",
                             labels=labels, summary="queue", description="queue building",
                             starts_at=1.63e9, ends_at=1.631e9 if resolved else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_400_then_503_then_200_delivers_every_accepted_alert_in_order_per_key(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    rejected = ALERTS_REJECTED.labels("400")._value.get()
    caplog.set_level(logging.INFO, logger="streams.alerting")

    async def go() -> float:
        sender = AlertmanagerSender(receiver.url, max_backoff=2.0)
        sender.start()
        t0 = time.monotonic()
        sender.submit([_alert("a1"), _alert("bad", refuse=True), _alert("a2")])
        sender.submit([_alert("a1", resolved=True), _alert("a3")])
        sender.submit([_alert("a4")])
        await sender.drain(timeout=20)
        took = time.monotonic() - t0
        assert "bad" not in sender.active  # dropped: not re-sent every minute either
        assert set(sender.active) == {"a2", "a3", "a4"}
        await sender.stop()
        return took

    took = asyncio.run(go())
    # the batch holding the refused alert: 400; alert by alert, a1 meets the two 503s
    # and is retried with back-off; the refused one alone is dropped; then everything else
    assert receiver.answers[0] == 400
    assert receiver.answers.count(503) == 2
    assert receiver.answers.count(400) == 2  # the batch, then the refused alert alone
    assert receiver.keys() == [("a1", "firing"), ("a2", "firing"), ("a1", "resolved"),
                               ("a3", "firing"), ("a4", "firing")]
    assert took < 5.0, f"took {took:.1f} s"  # two jittered back-offs, nothing stuck
    assert ALERTS_REJECTED.labels("400")._value.get() == rejected + 1
    refusals = [r.getMessage() for r in caplog.records if "refused alert bad" in r.getMessage()]
    assert len(refusals) == 1 and REASON in refusals[0] and "dropped" in refusals[0]
    assert any("answered 503" in r.getMessage() for r in caplog.records)


def test_two_alertmanagers_one_down_the_other_gets_every_alert_at_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """An HA pair: every alert goes to each; the one that is down (nothing listens on its
    port) is retried on its own, and once it answers it gets every alert too, in order."""
    caplog.set_level(logging.INFO, logger="streams.alerting")
    up = Receiver()
    down_port = _free_port()
    # credentials in a URL are sent (basic auth) but never logged
    down_url = f"http://bw:s3cret@127.0.0.1:{down_port}"
    down_name = f"http://127.0.0.1:{down_port}"
    errors = ALERTMANAGER_ERRORS.labels(down_name)._value.get()
    late: list[Receiver] = []

    async def go() -> tuple[float, float]:
        sender = AlertmanagerSender(f"{down_url},{up.url}", max_backoff=1.0)
        sender.start()
        t0 = time.monotonic()
        sender.submit([_alert("b1"), _alert("b2")])
        sender.submit([_alert("b1", resolved=True)])
        while len(up.accepted) < 3 and time.monotonic() - t0 < 10:
            await asyncio.sleep(0.02)
        first = time.monotonic() - t0
        await asyncio.sleep(1.0)  # the down one keeps failing meanwhile
        late.append(Receiver(port=down_port))  # it comes back
        await sender.drain(timeout=20)
        second = time.monotonic() - t0
        await sender.stop()
        return first, second

    try:
        first, second = asyncio.run(go())
        assert up.keys() == [("b1", "firing"), ("b2", "firing"), ("b1", "resolved")]
        assert first < 0.5, f"the Alertmanager that answers waited {first:.2f} s"
        assert late[0].keys() == up.keys()  # the other one got every alert, in order
        assert second > 1.0
        assert ALERTMANAGER_ERRORS.labels(down_name)._value.get() > errors
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert f"alertmanager {down_name} unreachable" in logged
        assert f"alertmanager {down_name} answers again" in logged
        assert "s3cret" not in logged
    finally:
        up.close()
        for r in late:
            r.close()
