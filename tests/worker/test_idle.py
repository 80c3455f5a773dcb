"""Idle live partitions on the worker: the run loop's idle check (no broker: a fake
consumer and producer) and a detection shard that stops waiting for an idle partition."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiokafka import TopicPartition

import streams.worker.runtime as runtime_mod
from streams.detection import PipelineConfig
from streams.features import Geofence
from streams.features.windows import Partials
from streams.feeds.codec import encode_array
from streams.geo import load_geography
from streams.kafka.records import PartialsMessage, replay_begin_marker
from streams.metrics import IDLE_PARTITIONS
from streams.settings import Settings
from streams.worker.runtime import WorkerRuntime, _Owned
from streams.worker.stages import DetectShard, FeaturePartition, SourceLayout
from tests.features.helpers import container_events

GEO = load_geography()
FENCE = Geofence(GEO)
TOPIC = "berthwatch.containers"


class _Consumer:
    def __init__(self) -> None:
        self.high: dict[TopicPartition, int] = {}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high.get(tp)


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, PartialsMessage]] = []

    async def send(self, topic: str, *, value: bytes, partition: int) -> None:
        self.sent.append((topic, partition, PartialsMessage.decode(value)))


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> tuple[WorkerRuntime, _Clock]:
    clock = _Clock()
    monkeypatch.setattr(runtime_mod.time, "monotonic", clock)
    w = WorkerRuntime(Settings(idle_partition_seconds=30), send_alerts=False)
    w.shards = 2
    w.consumer = _Consumer()  # type: ignore[assignment]
    w.producer = _Producer()  # type: ignore[assignment]
    for p in range(3):
        tp = TopicPartition(TOPIC, p)
        w.owned[tp] = _Owned("features", FeaturePartition("containers", p, 4 + p, FENCE, 2))
        w.consumer.high[tp] = 0  # type: ignore[union-attr]
    return w, clock


def _idle_sent(w: WorkerRuntime) -> list[tuple[int, int]]:
    """(source, shard) of every idle message produced so far."""
    return [(m.source, shard) for _t, shard, m in w.producer.sent  # type: ignore[union-attr]
            if m.idle]


def _tick(w: WorkerRuntime, clock: _Clock, seconds: float) -> None:
    clock.now += seconds
    asyncio.run(w._report_idle())


def test_a_caught_up_quiet_partition_reports_idle_once_per_shard(
        worker: tuple[WorkerRuntime, _Clock]) -> None:
    w, clock = worker
    before = IDLE_PARTITIONS.labels(TOPIC)._value.get()
    _tick(w, clock, 0)  # the partitions are seen for the first time
    _tick(w, clock, 29)
    assert _idle_sent(w) == []
    _tick(w, clock, 1)
    assert sorted(_idle_sent(w)) == [(4, 0), (4, 1), (5, 0), (5, 1), (6, 0), (6, 1)]
    assert IDLE_PARTITIONS.labels(TOPIC)._value.get() - before == 3
    _tick(w, clock, 300)
    assert len(_idle_sent(w)) == 6  # once


def test_lag_a_new_record_a_replay_or_zero_keep_a_partition_from_idling(
        worker: tuple[WorkerRuntime, _Clock]) -> None:
    w, clock = worker
    tps = [TopicPartition(TOPIC, p) for p in range(3)]
    w.consumer.high[tps[0]] = 5  # type: ignore[union-attr]  # records not read yet: lag
    fp1 = w.owned[tps[1]].state
    assert isinstance(fp1, FeaturePartition)
    fp1.begin_replay()  # a replay-begin marker came
    _tick(w, clock, 0)
    _tick(w, clock, 20)
    # partition 2 receives a record 20 s in: its quiet time starts again
    fp2 = w.owned[tps[2]].state
    assert isinstance(fp2, FeaturePartition)
    fp2.process(encode_array(container_events(seed=1)[:1], fp2.kind))
    w.owned[tps[2]].offset = 1
    w.consumer.high[tps[2]] = 1  # type: ignore[union-attr]
    _tick(w, clock, 0)
    _tick(w, clock, 25)
    assert _idle_sent(w) == []
    _tick(w, clock, 5)
    assert {s for s, _ in _idle_sent(w)} == {6}  # only partition 2, 30 s after its record
    # idle_partition_seconds = 0 turns the check off
    w.settings = Settings(idle_partition_seconds=0)
    w.consumer.high[tps[0]] = 0  # type: ignore[union-attr]
    _tick(w, clock, 3600)
    assert {s for s, _ in _idle_sent(w)} == {6}


def test_the_worker_reads_a_replay_begin_marker_as_replay_mode(
        worker: tuple[WorkerRuntime, _Clock]) -> None:
    w, clock = worker
    _tick(w, clock, 0)
    _tick(w, clock, 30)  # all three partitions idle before the replay begins
    tp = TopicPartition(TOPIC, 0)
    fp = w.owned[tp].state
    assert isinstance(fp, FeaturePartition) and fp.idle_reported

    class _Msg:
        def __init__(self, offset: int, headers: list[tuple[str, bytes]]) -> None:
            self.offset, self.headers, self.value, self.key = offset, headers, b"", None

    sent = len(w.producer.sent)  # type: ignore[union-attr]
    asyncio.run(w._features(tp, fp, [_Msg(0, replay_begin_marker(5).headers)]))
    assert fp.replaying and not fp.may_idle
    # the shards hear at once that partition 0 is back, in a replay
    back = w.producer.sent[sent:]  # type: ignore[union-attr]
    assert [(shard, m.source, m.idle, m.replaying) for _t, shard, m in back] == [
        (0, 4, False, True), (1, 4, False, True)]


# --------------------------------------------------------------------------- detection

H = 3_600_000


def _msg(source: int, end_ms: int, closed_ms: int, value: float = 1.0,
         idle: bool = False) -> PartialsMessage:
    p = Partials(sums_key=np.array([b"vessels_waiting|USLAX"]),
                 sums_end=np.array([end_ms], dtype=np.int64), sums_val=np.array([value]))
    return PartialsMessage(source, closed_ms, p if end_ms else Partials(), idle)


def test_a_detection_shard_stops_waiting_for_an_idle_partition() -> None:
    layout = SourceLayout({"positions": 2})
    shard = DetectShard(PipelineConfig.from_geography(GEO), layout)
    t0 = 1_637_000_000_000 // H * H
    for h in range(1, 4):
        points, _ = shard.add(_msg(0, t0 + h * H, t0 + h * H, float(h)))
        assert points.key.size == 0  # partition 1 holds everything back
    points, _ = shard.add(_msg(1, 0, -(2**62), idle=True))
    assert sorted(points.as_dict().values()) == [1.0, 2.0, 3.0]
    assert shard.watermark_ms == t0 + 3 * H and not shard.complete
    # partition 1 wakes up with a contribution to a released interval: dropped, counted
    assert shard.late(1) == 0
    points, _ = shard.add(_msg(1, t0 + 2 * H, t0 + 2 * H, 9.0))
    assert points.key.size == 0 and shard.late(1) == 1 and shard.late(0) == 0
    assert shard.watermark_ms == t0 + 3 * H  # never back
    # and it holds back again from then on
    assert shard.add(_msg(0, t0 + 4 * H, t0 + 4 * H))[0].key.size == 0
    assert shard.add(_msg(1, t0 + 4 * H, t0 + 4 * H, 2.0))[0].as_dict() == {
        ("vessels_waiting|USLAX", (t0 + 4 * H) // 1000): 3.0}


def test_a_clock_whose_every_source_is_idle_does_not_hold_the_shard_watermark() -> None:
    """Live AIS only, no inventory feed at all: the daily clock never moves, the hourly
    clock's progress is the shard's watermark."""
    layout = SourceLayout({"positions": 1, "inventory": 2})
    shard = DetectShard(PipelineConfig.from_geography(GEO), layout)
    t0 = 1_637_000_000_000 // H * H
    shard.add(_msg(0, t0 + H, t0 + H))
    assert shard.watermark_ms < 0  # the inventory sources have said nothing yet
    shard.add(_msg(1, 0, -(2**62), idle=True))
    assert shard.watermark_ms < 0  # one of them still may send
    shard.add(_msg(2, 0, -(2**62), idle=True))
    assert shard.watermark_ms == t0 + H
    # every source of every clock idle: it stays where it was
    shard.add(_msg(0, 0, t0 + H, idle=True))
    assert shard.watermark_ms == t0 + H
