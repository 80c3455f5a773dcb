"""Idle partitions on the real broker: a live feed that writes into one partition only
still reaches the detectors, and a replay never closes a quiet partition on wall time.

Each test has its own topics (four partitions each) and its own worker with
``idle_partition_seconds`` = 3. Canonical position records are produced with
kafka-python into ONE partition of the positions topic, over twenty hours of event time;
every other feed partition stays silent.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from streams.features import Geofence
from streams.feeds.codec import encode_array
from streams.geo import load_geography
from streams.kafka.records import end_of_feed_marker, replay_begin_marker
from streams.kafka.topics import MARKED_TOPICS
from streams.settings import Settings
from streams.worker.stages import FeaturePartition
from tests.features.helpers import synthetic_positions
from tests.integration.conftest import Worker, eventually, metric, run_cli

IDLE_S = 3
PORTS = (26070, 26071)  # worker web ports of these tests
GEO = load_geography()


@pytest.fixture(scope="module")
def positions() -> npt.NDArray[Any]:
    """A dozen ships in San Pedro Bay over a day, in event-time order."""
    arr = synthetic_positions(GEO, seed=3, hours=48)
    return arr[np.argsort(arr["ts_ms"], kind="stable")]


def _expected(arr: npt.NDArray[Any]) -> tuple[int, int]:
    """The boundary (ms) one partition's engine closes after ``arr``, and the number of
    intervals it sends partials for."""
    fp = FeaturePartition("positions", 0, 0, Geofence(GEO), 1)
    p = fp.process(encode_array(arr, fp.kind)).messages[0].partials
    ends = set(np.concatenate([p.sums_end, p.samples_end, p.values_end]).tolist())
    return fp.closed_ms, len(ends)


def _deployment(name: str) -> dict[str, str]:
    tag = f"{name}-{uuid.uuid4().hex[:6]}"
    env = {"BERTHWATCH_TOPIC_PREFIX": f"{tag}.", "BERTHWATCH_WORKER_ID": tag,
           "BERTHWATCH_CHECKPOINT_INTERVAL_SECONDS": "1",
           "BERTHWATCH_IDLE_PARTITION_SECONDS": str(IDLE_S)}
    run_cli("topics", "create", env=env)
    return env


def _produce(settings: Settings, topic: str, partition: int, arr: npt.NDArray[Any]) -> None:
    from kafka import KafkaProducer

    from streams.kafka.client import kafka_python_args

    producer = KafkaProducer(**kafka_python_args(settings, producer=True))
    fp = FeaturePartition("positions", 0, 0, Geofence(GEO), 1)
    for value, mmsi, ts in zip(encode_array(arr, fp.kind), arr["mmsi"].tolist(),
                               arr["ts_ms"].tolist(), strict=True):
        producer.send(topic, key=str(mmsi).encode(), value=value, partition=partition,
                      timestamp_ms=int(ts))
    producer.flush()
    producer.close()


def _markers(settings: Settings, prefix: str, marker: Any) -> None:
    """``marker`` into every partition of every feed topic, as a replay writes it."""
    from kafka import KafkaProducer

    from streams.kafka.client import kafka_python_args

    producer = KafkaProducer(**kafka_python_args(settings, producer=True))
    for short in MARKED_TOPICS:
        for p in range(settings.topic_partitions):
            producer.send(prefix + short, value=marker.value, partition=p,
                          timestamp_ms=marker.timestamp_ms, headers=marker.headers)
    producer.flush()
    producer.close()


def _start(log: Path, port: int, env: dict[str, str]) -> Worker:
    w = Worker(log, port, env)
    w.wait_ready()
    eventually(lambda: metric(w, "berthwatch_assigned_partitions") >= 13, timeout=60)
    return w


def _detect_watermark_ms(w: Worker) -> int:
    return round(metric(w, "berthwatch_watermark_seconds", stage="detect") * 1000)


def test_a_live_feed_in_one_partition_reaches_the_detectors(
        stack: Settings, positions: npt.NDArray[Any], tmp_path: Path) -> None:
    env = _deployment("idle-live")
    prefix = env["BERTHWATCH_TOPIC_PREFIX"]
    w = _start(tmp_path / "worker.log", PORTS[0], env)
    try:
        _produce(stack, prefix + "positions", 0, positions)
        closed, intervals = _expected(positions)
        assert closed >= int(positions["ts_ms"].min()) + 15 * 3_600_000 and intervals >= 15
        # the eleven silent partitions (and then the fed one) report idle: the detection
        # stage releases what partition 0 closed without waiting for them
        eventually(lambda: _detect_watermark_ms(w) == closed, timeout=60)
        assert metric(w, "berthwatch_idle_partitions_total") >= 11
        assert metric(w, "berthwatch_event_time_seconds") > 0  # port series exported
        assert metric(w, "berthwatch_feed_complete") == 0
        log = w.log.read_text(errors="replace")
        assert f"{prefix}containers[3] received nothing for" in log
        # partition 1 wakes up with the same two days: everything it sends for the
        # intervals already released is late, dropped and counted; nothing goes back
        late = f"{prefix}positions"
        assert metric(w, "berthwatch_late_partials_total", topic=late) == 0
        _produce(stack, prefix + "positions", 1, positions)
        eventually(lambda: metric(w, "berthwatch_late_partials_total", topic=late)
                   == intervals, timeout=60)
        assert _detect_watermark_ms(w) == closed
    finally:
        w.stop()


def test_a_replaying_partition_waits_for_its_end_of_feed(
        stack: Settings, positions: npt.NDArray[Any], tmp_path: Path) -> None:
    """Even when its partitions had idled before it began: the replay's first partials
    make the detection stage wait for every partition again."""
    env = _deployment("idle-replay")
    prefix = env["BERTHWATCH_TOPIC_PREFIX"]
    w = _start(tmp_path / "worker.log", PORTS[1], env)
    try:
        # the worker waited long enough before the replay for every partition to idle
        eventually(lambda: metric(w, "berthwatch_idle_partitions_total") == 12, timeout=30)
        first, newest = int(positions["ts_ms"].min()), int(positions["ts_ms"].max())
        _markers(stack, prefix, replay_begin_marker(first))
        _produce(stack, prefix + "positions", 0, positions)
        topic = prefix + "positions"
        eventually(lambda: metric(w, "berthwatch_records_in_total", topic=topic)
                   == len(positions) + stack.topic_partitions, timeout=60)
        time.sleep(3 * IDLE_S)  # three idle timeouts of silence: still waiting
        assert metric(w, "berthwatch_idle_partitions_total") == 12  # none since the begin
        assert _detect_watermark_ms(w) == 0
        assert metric(w, "berthwatch_event_time_seconds") == 0  # nothing released
        # the end of the replay closes every partition: all of it reaches the detectors
        _markers(stack, prefix, end_of_feed_marker(newest))
        eventually(lambda: metric(w, "berthwatch_feed_complete") == 1, timeout=60)
        closed, _ = _expected(positions)
        assert metric(w, "berthwatch_event_time_seconds") > 0
        assert max(metric(w, "berthwatch_event_time_seconds", port=p)
                   for p in ("USLAX", "USLGB", "san-pedro-bay")) * 1000 > closed
        assert metric(w, "berthwatch_late_partials_total") == 0
    finally:
        w.stop()
