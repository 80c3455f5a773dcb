"""Alerts as operators see them: names and labels, the Alertmanager payload, its delivery.

Every detector route has an alert name named after what is happening
(:data:`NAMES`, :func:`alert_name`) and a transition has labels from bounded sets
(:func:`labels_of`): the Alertmanager alert and the alerts-topic record
(:func:`streams.kafka.records.encode_alert`) carry the same ones.
An :class:`AlertmanagerAlert` is the payload an operator's Alertmanager receives for
an :class:`~streams.detection.AlertTransition` (:func:`streams.worker.alerts.to_alertmanager`
builds it): a stable key, labels from bounded sets, an explanation, and event-time
start and end. The
:class:`AlertmanagerSender` posts them without ever blocking the stream, to every
Alertmanager of a cluster: posts go through a queue per Alertmanager, an alert one refuses
(4xx) is dropped with its reason logged, other failures are retried with jittered
exponential back-off, and firing alerts are re-sent periodically so Alertmanager does not
resolve them on its own.

>>> alert_name("queue_trend"), alert_name("brand_new_detector")
('BerthwatchQueueBuilding', 'BerthwatchDetector')
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from streams.detection import AlertTransition
from streams.metrics import ALERTMANAGER_ERRORS, ALERTS_FIRING, ALERTS_REJECTED, ALERTS_SENT
from streams.series import SeriesKey
from streams.times import iso

log = logging.getLogger(__name__)

#: detector route -> (Alertmanager alert name, category, what it means)
NAMES: dict[str, tuple[str, str, str]] = {
    "queue_trend": ("BerthwatchQueueBuilding", "congestion",
                    "the queue of ships waiting is projected to reach the anchorage limit"),
    "changes": ("BerthwatchBuildUp", "congestion",
                "a port's queue, waits or dwell moved to a higher level or keeps rising "
                "(the kind label says which)"),
    "dwell_truck_trend": ("BerthwatchTruckDwellRising", "congestion",
                          "truck dwell of import boxes is projected to pass its limit"),
    "dwell_rail_trend": ("BerthwatchRailDwellRising", "congestion",
                         "rail dwell of import boxes is projected to pass its limit"),
    "supply_trend": ("BerthwatchSupplyRunningLow", "supply",
                     "days of supply are projected to fall below the limit"),
    "composite": ("BerthwatchDisruption", "congestion",
                  "several congestion signals of the port or region are abnormal together"),
    "staleness": ("BerthwatchSeriesStale", "pipeline",
                  "a series stopped updating: its feed may be stale"),
}
#: alert name of a detector route that has none in :data:`NAMES`
GENERIC_NAME = "BerthwatchDetector"
#: series families of inventory sites (labelled ``site``, ``item``; the others ``port``,
#: ``terminal``)
SITE_FAMILIES = frozenset({"days_of_supply", "drawdown", "days_of_supply_p10",
                           "days_of_supply_p50", "below_limit"})


def alert_name(detector: str) -> str:
    """The alert name of a detector route."""
    return NAMES[detector][0] if detector in NAMES else GENERIC_NAME


def labels_of(a: AlertTransition) -> dict[str, str]:
    """Bounded labels of a transition, from its series key."""
    key = SeriesKey.parse(a.series)
    _, category, _ = NAMES.get(a.detector, ("", "congestion", ""))
    labels = {"series": a.series, "detector": a.detector, "category": category}
    if a.kind:
        labels["kind"] = a.kind
    if key.family in SITE_FAMILIES:
        labels["site"] = key.place or ""
        if key.detail is not None:
            labels["item"] = key.detail
    elif key.place is not None:
        labels["port"] = key.place
        if key.detail is not None:
            labels["terminal"] = key.detail
    return labels


@dataclass
class AlertmanagerAlert:
    """One alert transition; ``ends_at`` is set when it resolves."""

    key: str
    name: str
    severity: str
    labels: dict[str, str]
    summary: str
    description: str
    starts_at: float
    ends_at: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.ends_at is None

    def to_alertmanager(self) -> dict[str, Any]:
        """The API v2 payload element (``postableAlert``)."""
        payload: dict[str, Any] = {
            "labels": {
                "alertname": self.name,
                "severity": self.severity,
                "alert_key": self.key,
                **self.labels,
            },
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                **self.annotations,
            },
            "startsAt": iso(self.starts_at),
        }
        if self.ends_at is not None:
            payload["endsAt"] = iso(self.ends_at)
        return payload


#: 4xx answers that say "later", not "never": retried like a 5xx
RETRIED_4XX = frozenset({408, 429})


def split_urls(urls: str | Sequence[str]) -> list[str]:
    """Alertmanager base URLs from a comma-separated setting or a list, without blanks.

    >>> split_urls("http://am-0:9093, http://am-1:9093/")
    ['http://am-0:9093', 'http://am-1:9093']
    """
    items = urls.split(",") if isinstance(urls, str) else list(urls)
    return [u.strip().rstrip("/") for u in items if u.strip()]


def shown(url: str) -> str:
    """A URL as logs and labels show it: without user and password.

    >>> shown("https://bw:s3cret@am.example:9093/am")
    'https://am.example:9093/am'
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def refusal_reason(body: str, limit: int = 300) -> str:
    """Alertmanager's reason for a 4xx, on one line, from its answer's body (a JSON
    string, an object with ``message`` or ``error``, or plain text).

    >>> refusal_reason('{"code": 400, "message": "invalid label set"}')
    'invalid label set'
    >>> refusal_reason('"start time must be before end time"')
    'start time must be before end time'
    >>> refusal_reason("")
    'no reason given'
    """
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    if isinstance(data, dict):
        data = data.get("message") or data.get("error") or json.dumps(data)
    reason = " ".join(str(data).split())
    if len(reason) > limit:
        reason = reason[:limit - 3] + "..."
    return reason or "no reason given"


class Backoff:
    """Exponential back-off with jitter: each wait is drawn between half and all of the
    current step, which doubles up to ``most`` (workers retrying together spread out).

    >>> b = Backoff(0.5, 4.0, random.Random(1))
    >>> [round(b.next(), 2) for _ in range(6)]
    [0.28, 0.92, 1.76, 2.51, 2.99, 2.9]
    """

    def __init__(self, first: float = 0.5, most: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self.first, self.most = first, most
        self.step = first
        self.rng = rng or random.Random()

    def next(self) -> float:
        """The next wait in seconds."""
        wait = self.step * self.rng.uniform(0.5, 1.0)
        self.step = min(self.step * 2, self.most)
        return wait


class AlertmanagerSender:
    """Queue-backed, retrying, non-blocking delivery to one Alertmanager or several.

    With several URLs (an Alertmanager cluster: it deduplicates), every alert goes to
    each, as Prometheus does it; each URL has its own queue, retries and back-off, so one
    that is down delays nothing at the others. To each, one post at a time, carrying
    every transition submitted since the previous one (in order), so a slow Alertmanager
    delays delivery by about one answer, however many transitions arrive meanwhile.
    ``timeout`` bounds one post: keep it well above the slowest answer expected (a
    loaded Alertmanager takes seconds)."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        resend_interval: float = 60.0,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        urls = split_urls(base_url)
        if not urls:
            raise ValueError("no Alertmanager URL")
        self.resend_interval = resend_interval
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.active: dict[str, AlertmanagerAlert] = {}
        self.targets = [_Target(self, url) for url in urls]
        ALERTS_REJECTED.labels("400")  # a zero series from the start: "none refused"

    @property
    def url(self) -> str:
        """The alerts endpoint of the first Alertmanager."""
        return self.targets[0].url

    def submit(self, alerts: list[AlertmanagerAlert]) -> None:
        """Hand over transitions; returns at once."""
        if not alerts:
            return
        for alert in alerts:
            if alert.firing:
                self.active[alert.key] = alert
            else:
                self.active.pop(alert.key, None)
        self._count()
        for target in self.targets:
            target.pending += 1
            target.queue.put_nowait(list(alerts))

    def forget(self, gone: Callable[[AlertmanagerAlert], bool]) -> None:
        """Stop re-sending the active alerts ``gone`` selects (their series moved to
        another worker, which re-sends them): ``berthwatch_alerts_firing`` counts the rest."""
        self.active = {k: a for k, a in self.active.items() if not gone(a)}
        self._count()

    def _count(self) -> None:
        for severity in ("warning", "critical", *{a.severity for a in self.active.values()}):
            ALERTS_FIRING.labels(severity).set(
                sum(1 for a in self.active.values() if a.severity == severity)
            )

    def start(self) -> None:
        for target in self.targets:
            target.start()

    async def stop(self) -> None:
        for target in self.targets:
            await target.stop()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every Alertmanager's queue is empty and nothing is in flight, or
        ``timeout`` seconds (used at shutdown and in tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(t.busy for t in self.targets) and loop.time() < deadline:
            await asyncio.sleep(0.05)

    def drop(self, alert: AlertmanagerAlert) -> None:
        """Stop re-sending an alert an Alertmanager refused (it would refuse it again)."""
        if self.active.get(alert.key) is alert:
            del self.active[alert.key]
            self._count()


class _Target:
    """One Alertmanager of a sender: its queue, its delivery task, its retries."""

    def __init__(self, sender: AlertmanagerSender, base_url: str) -> None:
        self.sender = sender
        self.url = base_url + "/api/v2/alerts"
        self.name = shown(base_url)
        self.queue: asyncio.Queue[list[AlertmanagerAlert]] = asyncio.Queue()
        self.pending = 0
        """Submissions not yet answered: queued, being taken off the queue, or posted."""
        self.posting = False
        self._task: asyncio.Task[None] | None = None
        ALERTMANAGER_ERRORS.labels(self.name)

    @property
    def busy(self) -> bool:
        return self.posting or self.pending > 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.posting = False
        self.pending = self.queue.qsize()  # a batch cut off in flight is not coming back

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_resend = loop.time()
        async with httpx.AsyncClient(timeout=self.sender.timeout) as client:
            while True:
                taken = 0
                try:
                    batch = await asyncio.wait_for(self.queue.get(), timeout=1.0)
                    taken = 1
                except TimeoutError:
                    batch = []
                while not self.queue.empty():  # what queued during a slow post: one post
                    batch.extend(self.queue.get_nowait())
                    taken += 1
                if not batch and loop.time() - last_resend >= self.sender.resend_interval:
                    batch = list(self.sender.active.values())
                    last_resend = loop.time()
                if batch:
                    self.posting = True
                    try:
                        await self._post(client, batch)
                    finally:
                        self.posting = False
                self.pending -= taken

    async def _post(self, client: httpx.AsyncClient, batch: list[AlertmanagerAlert]) -> None:
        """Deliver a batch: a 2xx delivers it; a 4xx other than 408 and 429 (Alertmanager
        refuses something in it) is answered alert by alert, so one bad alert is dropped,
        counted (``berthwatch_alerts_rejected_total``) and logged with Alertmanager's
        reason, and never holds the others back; a 5xx, 408, 429 or no answer is retried
        with jittered
        exponential back-off (one log line when it starts failing, then one per back-off
        step at most every 30 s), which holds back later batches to this Alertmanager
        only, so each alert's transitions arrive in order."""
        backoff = Backoff(0.5, self.sender.max_backoff, self.sender.rng)
        failing_since: float | None = None
        last_log = -math.inf
        loop = asyncio.get_running_loop()
        while True:
            status, body = await self._try(client, batch)
            if status is not None and status < 400:
                for alert in batch:
                    state = "firing" if alert.firing else "resolved"
                    ALERTS_SENT.labels(alert.severity, state).inc()
                if failing_since is not None:
                    log.info("alertmanager %s answers again after %.0fs", self.name,
                             loop.time() - failing_since)
                return
            if status is not None and status < 500 and status not in RETRIED_4XX:
                if len(batch) == 1:
                    self._reject(batch[0], status, body)
                    return
                for alert in batch:  # find the one it refuses; the others go through
                    await self._post(client, [alert])
                return
            ALERTMANAGER_ERRORS.labels(self.name).inc()
            now = loop.time()
            if failing_since is None:
                failing_since = now
            wait = backoff.next()
            if now - last_log >= 30.0:
                last_log = now
                what = "unreachable" if status is None else f"answered {status}"
                log.warning("alertmanager %s %s; retrying %d alert(s) with back-off "
                            "(next in %.1fs)", self.name, what, len(batch), wait)
            await asyncio.sleep(wait)

    async def _try(self, client: httpx.AsyncClient,
                   batch: list[AlertmanagerAlert]) -> tuple[int | None, str]:
        """The HTTP status and body of one post of ``batch``; None when nothing answered."""
        try:
            resp = await client.post(self.url, json=[a.to_alertmanager() for a in batch])
        except httpx.HTTPError:
            return None, ""
        return resp.status_code, resp.text

    def _reject(self, alert: AlertmanagerAlert, status: int, body: str) -> None:
        ALERTS_REJECTED.labels(str(status)).inc()
        self.sender.drop(alert)
        log.warning("alertmanager %s refused alert %s (%s, %s): HTTP %d: %s; dropped",
                    self.name, alert.key, alert.name, alert.labels.get("series", "?"), status,
                    refusal_reason(body))
