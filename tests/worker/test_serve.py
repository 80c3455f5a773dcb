"""The worker's outage loop: an outage is ridden out, any other failure is raised."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.metrics import REGISTRY
from streams.settings import Settings
from streams.worker.runtime import BrokerDown, WorkerRuntime

pytestmark = pytest.mark.unit


class Scripted(WorkerRuntime):
    """A runtime whose Kafka side follows a script: each start either fails with the
    given exception or runs; each run either returns or raises."""

    def __init__(self, starts: list[BaseException | None], runs: list[BaseException | None],
                 answers: bool = False) -> None:
        super().__init__(Settings(), send_alerts=False)
        self.backoff_s = (0.001, 0.01)
        self.starts, self.runs, self.answers = starts, runs, answers
        self.resets = 0
        self.seen: list[str] = []

    async def start(self) -> None:
        outcome = self.starts.pop(0)
        self.seen.append(f"start:{type(outcome).__name__ if outcome else 'ok'}")
        if outcome is not None:
            raise outcome

    async def _watched(self) -> None:
        outcome = self.runs.pop(0)
        self.seen.append(f"run:{type(outcome).__name__ if outcome else 'ok'}")
        self.running = True
        if outcome is not None:
            raise outcome

    async def _answers(self) -> bool:
        return self.answers

    async def _reset(self) -> None:
        self.resets += 1
        self.running = False


def _outages() -> float:
    return REGISTRY.get_sample_value("berthwatch_broker_outages_total") or 0.0


def test_an_outage_while_running_is_ridden_out_and_counted_once() -> None:
    before = _outages()
    rt = Scripted(starts=[None, ConnectionError("refused"), ConnectionError("refused"), None],
                  runs=[BrokerDown("no answer for 30 s"), None])
    asyncio.run(rt.serve())
    assert rt.seen == ["start:ok", "run:BrokerDown", "start:ConnectionError",
                       "start:ConnectionError", "start:ok", "run:ok"]
    assert rt.resets == 3  # after the outage and after each failed reconnect
    assert _outages() - before == 1  # one outage, however many attempts
    assert rt.broker.is_up and REGISTRY.get_sample_value("berthwatch_broker_up") == 1


def test_a_kafka_error_while_the_broker_does_not_answer_is_an_outage() -> None:
    rt = Scripted(starts=[None, None], runs=[KafkaTimeoutError(), None], answers=False)
    asyncio.run(rt.serve())
    assert rt.broker.outages == 1 and rt.resets == 1


def test_a_kafka_error_while_the_broker_answers_is_a_failure() -> None:
    rt = Scripted(starts=[None], runs=[KafkaTimeoutError()], answers=True)
    with pytest.raises(KafkaTimeoutError):
        asyncio.run(rt.serve())
    assert rt.broker.outages == 0 and rt.resets == 0


def test_any_other_error_is_raised_at_once() -> None:
    rt = Scripted(starts=[None], runs=[RuntimeError("bug")])
    with pytest.raises(RuntimeError, match="bug"):
        asyncio.run(rt.serve())
    assert rt.resets == 0


def test_not_ready_during_an_outage_and_a_stop_request_ends_the_wait() -> None:
    rt = Scripted(starts=[None] + [ConnectionError("refused")] * 1000, runs=[BrokerDown("x")])
    rt.backoff_s = (0.01, 0.01)
    states: list[Any] = []

    async def go() -> None:
        task = asyncio.ensure_future(rt.serve())
        await asyncio.sleep(0.1)
        states.append((rt.ready, rt.broker.is_up,
                       REGISTRY.get_sample_value("berthwatch_broker_up")))
        rt.request_stop()
        await asyncio.wait_for(task, 2.0)

    asyncio.run(go())
    assert states == [(False, False, 0.0)]
    assert rt.broker.outages == 1
