"""Alerts as Alertmanager takes them, and their delivery (API v2).

An :class:`AlertmanagerAlert` is the payload an operator's Alertmanager receives for
an :class:`~streams.detection.AlertTransition` (:func:`streams.worker.alerts.to_alertmanager`
builds it): a stable key, labels from bounded sets, an explanation, and event-time
start and end. The
:class:`AlertmanagerSender` posts them without ever blocking the stream: posts
go through a queue, failures are retried with exponential back-off, and firing
alerts are re-sent periodically so Alertmanager does not resolve them on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from streams.metrics import ALERTMANAGER_ERRORS, ALERTS_FIRING, ALERTS_SENT
from streams.times import iso

log = logging.getLogger(__name__)


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
    """Queue-backed, retrying, non-blocking delivery to one Alertmanager."""

    def __init__(
        self,
        base_url: str,
        resend_interval: float = 60.0,
        max_backoff: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval = resend_interval
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.active: dict[str, AlertmanagerAlert] = {}
        self._queue: asyncio.Queue[list[AlertmanagerAlert]] = asyncio.Queue()
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
        for severity in {a.severity for a in alerts}:
            ALERTS_FIRING.labels(severity).set(
                sum(1 for a in self.active.values() if a.severity == severity)
            )
        self._queue.put_nowait(list(alerts))

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
                if not batch and loop.time() - last_resend >= self.resend_interval:
                    batch = list(self.active.values())
                    last_resend = loop.time()
                if batch:
                    await self._post(client, batch)

    async def _post(self, client: httpx.AsyncClient, batch: list[AlertmanagerAlert]) -> None:
        backoff = 0.5
        payload = [a.to_alertmanager() for a in batch]
        while True:
            try:
                resp = await client.post(self.url, json=payload)
                resp.raise_for_status()
            except httpx.HTTPError as e:
                ALERTMANAGER_ERRORS.inc()
                log.warning("alertmanager %s unreachable (%s); retrying in %.1fs", self.url, e,
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            for alert in batch:
                ALERTS_SENT.labels(alert.severity, "firing" if alert.firing else "resolved").inc()
            return
