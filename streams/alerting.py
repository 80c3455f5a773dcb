"""Alerts as operators see them: names and labels, the Alertmanager payload, its delivery.

Every detector route has an alert name named after what is happening
(:data:`NAMES`, :func:`alert_name`) and a transition has labels from bounded sets
(:func:`labels_of`): the Alertmanager alert and the alerts-topic record
(:func:`streams.kafka.records.encode_alert`) carry the same ones.
An :class:`AlertmanagerAlert` is the payload an operator's Alertmanager receives for
an :class:`~streams.detection.AlertTransition` (:func:`streams.worker.alerts.to_alertmanager`
builds it): a stable key, labels from bounded sets, an explanation, and event-time
start and end. The
:class:`AlertmanagerSender` posts them without ever blocking the stream: posts
go through a queue, failures are retried with exponential back-off, and firing
alerts are re-sent periodically so Alertmanager does not resolve them on its own.

>>> alert_name("queue_trend"), alert_name("brand_new_detector")
('BerthwatchQueueBuilding', 'BerthwatchDetector')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
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


class AlertmanagerSender:
    """Queue-backed, retrying, non-blocking delivery to one Alertmanager.

    One post at a time, each carrying every transition submitted since the previous
    one (in order), so a slow Alertmanager delays delivery by about one answer, however
    many transitions arrive meanwhile. ``timeout`` bounds one post: an Alertmanager
    slower than that gets the same batch again after a back-off, so keep it well above
    the slowest answer expected (a loaded Alertmanager takes seconds).
    """

    def __init__(
        self,
        base_url: str,
        resend_interval: float = 60.0,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval = resend_interval
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.active: dict[str, AlertmanagerAlert] = {}
        self._queue: asyncio.Queue[list[AlertmanagerAlert]] = asyncio.Queue()
        ALERTS_REJECTED.labels("400")  # a zero series from the start: "none refused"
        self._task: asyncio.Task[None] | None = None

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
        self._queue.put_nowait(list(alerts))

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
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until the queue is empty (used at shutdown and in tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._queue.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_resend = loop.time()
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                try:
                    batch = await asyncio.wait_for(self._queue.get(), timeout=1.0)
                except TimeoutError:
                    batch = []
                while not self._queue.empty():  # what queued during a slow post: one post
                    batch.extend(self._queue.get_nowait())
                if not batch and loop.time() - last_resend >= self.resend_interval:
                    batch = list(self.active.values())
                    last_resend = loop.time()
                if batch:
                    await self._post(client, batch)

    async def _post(self, client: httpx.AsyncClient, batch: list[AlertmanagerAlert]) -> None:
        """Deliver a batch: a 2xx delivers it; a 4xx (Alertmanager refuses something in it)
        is answered alert by alert, so one bad alert is dropped and counted
        (``berthwatch_alerts_rejected_total``) and never holds the others back; a 5xx or no
        answer is retried with back-off (one log line when it starts failing, then one per
        back-off step at most every 30 s)."""
        backoff = 0.5
        failing_since: float | None = None
        last_log = -math.inf
        loop = asyncio.get_running_loop()
        while True:
            status = await self._try(client, batch)
            if status is not None and status < 400:
                for alert in batch:
                    state = "firing" if alert.firing else "resolved"
                    ALERTS_SENT.labels(alert.severity, state).inc()
                if failing_since is not None:
                    log.info("alertmanager %s answers again after %.0fs", self.url,
                             loop.time() - failing_since)
                return
            if status is not None and status < 500:
                if len(batch) == 1:
                    self._reject(batch[0], status)
                    return
                for alert in batch:  # find the one it refuses; the others go through
                    await self._post(client, [alert])
                return
            ALERTMANAGER_ERRORS.inc()
            now = loop.time()
            if failing_since is None:
                failing_since = now
            if now - last_log >= 30.0:
                last_log = now
                what = "unreachable" if status is None else f"answered {status}"
                log.warning("alertmanager %s %s; retrying %d alert(s) with back-off (now %.1fs)",
                            self.url, what, len(batch), backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _try(self, client: httpx.AsyncClient, batch: list[AlertmanagerAlert]) -> int | None:
        """The HTTP status of one post of ``batch``; None when nothing answered."""
        try:
            resp = await client.post(self.url, json=[a.to_alertmanager() for a in batch])
        except httpx.HTTPError:
            return None
        return resp.status_code

    def _reject(self, alert: AlertmanagerAlert, status: int) -> None:
        ALERTS_REJECTED.labels(str(status)).inc()
        if self.active.get(alert.key) is alert:
            del self.active[alert.key]  # not re-sent every minute either
        log.warning("alertmanager %s refused alert %s (%s, %s): HTTP %d; dropped", self.url,
                    alert.key, alert.name, alert.labels.get("series", "?"), status)
