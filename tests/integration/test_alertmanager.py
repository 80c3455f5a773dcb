"""The real Alertmanager routes, groups, inhibits and delivers berthwatch alerts.

A local webhook receiver (the `ops-webhook` receiver of deploy/alertmanager,
pointed at this test by the test stack's settings) collects what Alertmanager
delivers; alerts are sent with the workers' own sender.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import pytest

from streams.alerting import AlertmanagerAlert, AlertmanagerSender
from streams.settings import Settings
from tests.integration.conftest import eventually, http_json


class Receiver:
    def __init__(self, url: str) -> None:
        self.payloads: list[dict[str, Any]] = []
        parsed = urlparse(url)
        received = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((parsed.hostname or "127.0.0.1", parsed.port or 80),
                                          Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, key: str, status: str) -> list[dict[str, Any]]:
        return [a for p in self.payloads for a in p["alerts"]
                if a["labels"].get("alert_key") == key and a["status"] == status]


@pytest.fixture()
def receiver(stack: Settings) -> Iterator[Receiver]:
    r = Receiver(stack.alert_webhook_url)
    try:
        yield r
    finally:
        r.server.shutdown()


def _send(settings: Settings, alerts: list[AlertmanagerAlert]) -> None:
    async def go() -> None:
        sender = AlertmanagerSender(settings.am_url)
        sender.start()
        sender.submit(alerts)
        await sender.drain()
        await asyncio.sleep(0.5)
        await sender.stop()

    asyncio.run(go())


def _alert(key: str, name: str, port: str, category: str, severity: str = "warning",
           ends_at: float | None = None) -> AlertmanagerAlert:
    return AlertmanagerAlert(
        key=key, name=name, severity=severity,
        labels={"port": port, "category": category, "series": f"vessels_waiting|{port}",
                "detector": "trend"},
        summary=f"Queue building at {port}: 47 ships waiting",
        description="47 ships waiting against a baseline of 12; projected to pass 55 "
                    "anchorages on 2021-10-02 (between 2021-09-26 and 2021-10-09).",
        starts_at=1630454400.0,  # 2021-09-01T00:00:00Z, event time
        ends_at=ends_at,
        annotations={"dashboard_url": "http://grafana.example/d/port-overview?var-port=" + port,
                     "runbook_url": "docs/ALERTS.md#queue"},
    )


def test_webhook_receives_firing_then_resolved(stack: Settings, receiver: Receiver) -> None:
    key = "test-queue-uslax"
    _send(stack, [_alert(key, "BerthwatchQueueBuilding", "USLAX", "congestion")])
    firing = eventually(lambda: receiver.alerts(key, "firing"), timeout=60)
    payload = next(p for p in receiver.payloads if firing[0] in p["alerts"])
    assert payload["receiver"] == "ops-webhook"
    assert payload["groupLabels"] == {"alertname": "BerthwatchQueueBuilding", "port": "USLAX",
                                      "series": "vessels_waiting|USLAX"}
    alert = firing[0]
    assert alert["startsAt"].startswith("2021-09-01T00:00:00")
    assert "projected to pass 55 anchorages" in alert["annotations"]["description"]
    assert alert["annotations"]["dashboard_url"].endswith("var-port=USLAX")
    assert alert["labels"]["severity"] == "warning"

    _send(stack, [_alert(key, "BerthwatchQueueBuilding", "USLAX", "congestion",
                         ends_at=1631664000.0)])  # resolved 2021-09-15
    resolved = eventually(lambda: receiver.alerts(key, "resolved"), timeout=60)
    assert resolved[0]["endsAt"].startswith("2021-09-15T00:00:00")


def test_stale_feed_inhibits_congestion_of_the_same_port(stack: Settings,
                                                         receiver: Receiver) -> None:
    stale = _alert("test-stale-uslgb", "BerthwatchFeedStale", "USLGB", "pipeline", "critical")
    queue = _alert("test-queue-uslgb", "BerthwatchQueueBuilding", "USLGB", "congestion")
    other = _alert("test-queue-uslax-2", "BerthwatchQueueBuilding", "USLAX", "congestion")
    _send(stack, [stale])
    eventually(lambda: receiver.alerts("test-stale-uslgb", "firing"), timeout=60)
    _send(stack, [queue, other])

    def state(key: str) -> dict[str, Any]:
        found = http_json(f"{stack.am_url}/api/v2/alerts", {"filter": f'alert_key="{key}"'})
        return found[0]["status"] if found else {}

    inhibited = eventually(lambda: state("test-queue-uslgb").get("state") == "suppressed"
                           and state("test-queue-uslgb"), timeout=30)
    assert inhibited["inhibitedBy"], inhibited
    assert state("test-queue-uslax-2")["state"] == "active"  # another port is not silenced
    eventually(lambda: receiver.alerts("test-queue-uslax-2", "firing"), timeout=60)
    assert receiver.alerts("test-queue-uslgb", "firing") == []


def test_an_alert_alertmanager_refuses_is_dropped_and_does_not_block_the_others(
    stack: Settings, receiver: Receiver
) -> None:
    """A batch Alertmanager answered 400 was retried for ever, every later alert behind it;
    now the refused alert alone is dropped and counted, the rest is delivered at once."""
    from streams.metrics import ALERTS_REJECTED

    good = _alert("test-good-uslax", "BerthwatchQueueBuilding", "USLAX", "congestion")
    bad = _alert("test-bad-uslax", "BerthwatchQueueBuilding", "USLAX", "congestion")
    bad.labels["not a label name"] = "x"  # Alertmanager answers 400 to the batch holding it
    before = ALERTS_REJECTED.labels("400")._value.get()

    async def go() -> float:
        sender = AlertmanagerSender(stack.am_url)
        sender.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        sender.submit([bad, good])
        await sender.drain()
        await asyncio.sleep(0.5)
        await sender.stop()
        assert "test-bad-uslax" not in sender.active  # never re-sent
        return loop.time() - t0

    took = asyncio.run(go())
    assert took < 5.0
    assert ALERTS_REJECTED.labels("400")._value.get() == before + 1
    eventually(lambda: receiver.alerts("test-good-uslax", "firing"), timeout=60)
    assert receiver.alerts("test-bad-uslax", "firing") == []
