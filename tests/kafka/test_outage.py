"""Outage helpers: quiet client logs, bounded stops, the broker's state."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from streams.kafka.outage import BrokerState, gate_client_logs, hard_stop

pytestmark = pytest.mark.unit


def test_aiokafka_reconnect_errors_are_summarised_not_repeated(
        caplog: pytest.LogCaptureFixture) -> None:
    import aiokafka.conn  # noqa: F401  (creates the logger the gate goes on)

    from streams.kafka import outage

    outage._GATE._seen.clear()  # earlier tests in this process may have used the gate
    gate_client_logs()
    gate_client_logs()  # idempotent: one gate, not two
    logger = logging.getLogger("aiokafka.conn")
    assert sum(1 for f in logger.filters if type(f).__name__ == "ClientLogGate") == 1
    with caplog.at_level(logging.INFO, logger="aiokafka"):
        for _ in range(500):
            logger.error("Unable connect to node with id %s: %s", 1, "refused")
        logger.info("Discovered coordinator %s", 1)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Unable connect to node with id 1: refused",
                        "Discovered coordinator 1"]


class _Stuck:
    """A client whose stop never returns (a broker that is gone)."""

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        await asyncio.sleep(3600)


class _CancelsItself:
    """A client whose stop cancels one of its own tasks and lets that escape."""

    async def stop(self) -> None:
        raise asyncio.CancelledError


def test_hard_stop_is_bounded_and_swallows_a_clients_inner_cancellation() -> None:
    t0 = time.monotonic()
    asyncio.run(hard_stop(_Stuck(), timeout_s=0.2))  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 2
    asyncio.run(hard_stop(_CancelsItself(), timeout_s=0.2))  # type: ignore[arg-type]


def test_hard_stop_does_not_swallow_the_callers_own_cancellation() -> None:
    async def go() -> None:
        task = asyncio.ensure_future(hard_stop(_Stuck(), timeout_s=30))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())


def test_broker_state_logs_changes_and_periodic_summaries(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    state = BrokerState("kafka:9092", summary_s=30, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="streams.kafka.outage"):
        assert state.down("refused") and not state.down("refused again")
        for t in range(1, 95):
            now[0] = float(t)
            state.still_down()
        assert state.outage_s() == 94
        assert state.up() == 94 and state.up() is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5  # down, three summaries (30, 60, 90 s), back
    assert "unreachable (refused)" in lines[0] and "after 90 s" in lines[3]
    assert "back after 94 s" in lines[4]
    assert state.outages == 1 and state.outage_s() == 0
