"""The Alertmanager sender against a slow local Alertmanager (a stub HTTP server).

A 5-second Alertmanager once got nothing but the first batch: each post timed out at
5 s and was retried for ever, every later transition queued behind it; and a backlog
of transitions went out one post each, so delivery fell further behind with every post.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streams.alerting import AlertmanagerAlert, AlertmanagerSender


class SlowAlertmanager:
    """Answers 200 to every post after ``delay`` seconds; remembers each post's keys."""

    def __init__(self, delay: float) -> None:
        self.posts: list[list[str]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                posts.append([a["labels"]["alert_key"] for a in json.loads(body)])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def slow_am(request: pytest.FixtureRequest) -> Iterator[SlowAlertmanager]:
    am = SlowAlertmanager(request.param)
    yield am
    am.server.shutdown()
    am.server.server_close()


def _alert(key: str) -> AlertmanagerAlert:
    return AlertmanagerAlert(key=key, name="BerthwatchQueueBuilding", severity="warning",
                             labels={"port": "USLAX"}, summary="queue", description="queue",
                             starts_at=1630454400.0)


def _deliver(url: str, batches: list[list[AlertmanagerAlert]], wait: float) -> float:
    """Submit ``batches`` one by one at once; seconds until the queue is drained and the
    last post answered (at most ``wait``)."""
    async def go() -> float:
        sender = AlertmanagerSender(url)
        sender.start()
        t0 = time.monotonic()
        for batch in batches:
            sender.submit(batch)
            await asyncio.sleep(0.01)
        await sender.drain(timeout=wait)
        await asyncio.sleep(0.2)
        took = time.monotonic() - t0
        await sender.stop()
        return took

    return asyncio.run(go())


@pytest.mark.parametrize("slow_am", [5.3], indirect=True)
def test_an_alertmanager_slower_than_five_seconds_gets_the_alerts(
        slow_am: SlowAlertmanager) -> None:
    from streams.metrics import ALERTS_SENT

    sent = ALERTS_SENT.labels("warning", "firing")
    before = sent._value.get()

    async def go() -> None:
        sender = AlertmanagerSender(slow_am.url)
        sender.start()
        sender.submit([_alert("a")])
        deadline = time.monotonic() + 8
        while sent._value.get() == before and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await sender.stop()

    asyncio.run(go())
    assert sent._value.get() == before + 1, "the sender gave up waiting for the answer"
    assert slow_am.posts == [["a"]]  # delivered by the first post, not retried


@pytest.mark.parametrize("slow_am", [0.5], indirect=True)
def test_transitions_queued_during_a_slow_post_go_in_one_post(
        slow_am: SlowAlertmanager) -> None:
    keys = [f"k{i}" for i in range(8)]
    took = _deliver(slow_am.url, [[_alert(k)] for k in keys], wait=10)
    time.sleep(0.8)  # the last post is answered
    assert [k for post in slow_am.posts for k in post] == keys  # all, once, in order
    assert len(slow_am.posts) <= 2
    assert took < 2.5


def test_429_is_come_back_later_not_a_refusal() -> None:
    """A rate-limited answer (429) is retried, not dropped like a refused alert."""
    from streams.metrics import ALERTS_REJECTED

    answers = [429, 200]
    posts: list[list[str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append([a["labels"]["alert_key"] for a in json.loads(body)])
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    refused = ALERTS_REJECTED.labels("429")._value.get()
    try:
        _deliver(f"http://127.0.0.1:{server.server_address[1]}",
                 [[_alert("a"), _alert("b")]], wait=5)
    finally:
        server.shutdown()
        server.server_close()
    assert posts == [["a", "b"], ["a", "b"]]  # the whole batch again, not alert by alert
    assert ALERTS_REJECTED.labels("429")._value.get() == refused
