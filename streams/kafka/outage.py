"""Broker outages as a state: probing the broker, quiet client logs, bounded stops.

When the broker goes away, aiokafka keeps reconnecting and logs every failed attempt
(tens of lines a second). berthwatch's clients treat the outage as a state instead:

* :class:`BrokerState` says whether the broker answers, since when, and logs one line
  per change of state plus one summary every ``summary_s`` while it is down;
* :func:`reachable` asks the broker for its metadata, bounded in time;
* :class:`ClientLogGate` lets the first of each kind of aiokafka warning through and
  then one line per kind every ``every_s`` seconds, with the count it held back;
* :func:`hard_stop` stops a client within a bound even when the broker is down (a
  producer's delivery task is ended first, so a client being replaced delivers nothing
  later).

>>> state = BrokerState("127.0.0.1:9092", clock=iter([0.0, 5.0, 12.0, 12.0]).__next__)
>>> state.down("no answer")
True
>>> state.outage_s(), state.up()
(5.0, 12.0)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


class BrokerState:
    """Up or down, as a client sees the broker at ``where``; logs changes, not attempts."""

    def __init__(self, where: str, *, summary_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.where = where
        self.summary_s = summary_s
        self.clock = clock
        self.is_up = True
        self.down_since: float | None = None
        self.outages = 0
        self._summary_at = 0.0

    def down(self, reason: str) -> bool:
        """The broker stopped answering; True when this is news (logged once)."""
        if not self.is_up:
            return False
        self.is_up = False
        self.down_since = self._summary_at = self.clock()
        self.outages += 1
        log.warning("Kafka at %s is unreachable (%s): not ready, consuming stopped; "
                    "reconnecting with back-off", self.where, reason)
        return True

    def still_down(self) -> None:
        """Called on every failed attempt while down: one summary line per ``summary_s``."""
        now = self.clock()
        if self.down_since is not None and now - self._summary_at >= self.summary_s:
            self._summary_at = now
            log.warning("Kafka at %s still unreachable after %.0f s", self.where,
                        now - self.down_since)

    def up(self) -> float | None:
        """The broker answers again; the outage's length in seconds when it was down."""
        if self.is_up:
            return None
        took = self.clock() - (self.down_since or 0.0)
        self.is_up, self.down_since = True, None
        log.warning("Kafka at %s is back after %.0f s: resuming from the last checkpoints",
                    self.where, took)
        return took

    def outage_s(self) -> float:
        """Seconds the current outage has lasted (0 while the broker is up)."""
        return 0.0 if self.down_since is None else self.clock() - self.down_since


async def reachable(client: Any, timeout_s: float) -> bool:
    """Whether the broker answers a metadata request through ``client`` (an aiokafka
    producer's or consumer's ``client``) within ``timeout_s``."""
    try:
        await asyncio.wait_for(client.fetch_all_metadata(), timeout=timeout_s)
    except (KafkaError, OSError, TimeoutError):
        return False
    return True


async def hard_stop(client: AIOKafkaProducer | AIOKafkaConsumer | None,
                    timeout_s: float = 5.0, *, drop_pending: bool = True) -> None:
    """Stop ``client`` within ``timeout_s`` whatever the broker does. With
    ``drop_pending``, a producer's batches not yet acknowledged are dropped: a replaced
    producer must not deliver them later (the caller resumes from its last checkpoint
    and sends them again)."""
    if client is None:
        return
    sender = getattr(client, "_sender", None)
    if drop_pending and sender is not None:
        # the delivery task ends (its requests in flight after one attempt): the batches
        # it would have retried are never sent, and stop() no longer waits for them
        await _bounded(sender.close(), timeout_s)
    await _bounded(client.stop(), timeout_s)


async def _bounded(step: Awaitable[Any], timeout_s: float) -> None:
    try:
        await asyncio.wait_for(step, timeout=timeout_s)
    except (TimeoutError, KafkaError, OSError):
        pass
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this task is being cancelled: not ours to swallow
        # a task inside the client was cancelled by its own stop: it is stopped


class ClientLogGate(logging.Filter):
    """Rate-limits aiokafka's warnings and errors: the first of each kind (logger and
    message template) passes, then at most one per ``every_s`` seconds, saying how many
    like it were held back. Informational lines pass untouched. A refused topic
    (``CALLER_SAYS``) is not logged at all: the command turns the error it raises into
    one line naming ``topic_prefix`` and the user.

    >>> gate = ClientLogGate(every_s=60, clock=iter([0.0, 1.0, 2.0, 61.0]).__next__)
    >>> rec = lambda: logging.LogRecord("aiokafka.conn", logging.ERROR, "", 0,
    ...                                 "Unable connect to node %s", (1,), None)
    >>> [gate.filter(r) for r in (rec(), rec(), rec())]
    [True, False, False]
    >>> last = rec(); gate.filter(last), last.getMessage()
    (True, 'Unable connect to node 1 (and 2 more like it in 61 s)')
    >>> gate.filter(logging.LogRecord("aiokafka.cluster", logging.ERROR, "", 0,
    ...                               ClientLogGate.CALLER_SAYS[0], ("t",), None))
    False
    """

    #: aiokafka's messages for errors the caller reports itself, better
    CALLER_SAYS = ("Topic %s is not authorized for this client",)

    def __init__(self, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if record.msg in self.CALLER_SAYS:
            return False
        kind = (record.name, str(record.msg))
        now = self.clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen[0] < self.every_s:
            self._seen[kind] = (seen[0], seen[1] + 1)
            return False
        self._seen[kind] = (now, 0)
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} (and {seen[1]} more like it in {now - seen[0]:.0f} s)"
        return True


_GATE = ClientLogGate()


def gate_client_logs() -> None:
    """Put :class:`ClientLogGate` on every aiokafka logger (idempotent)."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("aiokafka") and isinstance(logger, logging.Logger) \
                and _GATE not in logger.filters:
            logger.addFilter(_GATE)
