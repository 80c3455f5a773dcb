"""The walking skeleton, end to end on the real parts.

A record produced to the positions topic is consumed by a separate worker
process, becomes a gauge on its /metrics, is scraped by the real Prometheus
(checked through its query API), and the alert built from it reaches the real
Alertmanager (checked through its API v2). A malformed record lands in the
dead-letter topic with its reason in the headers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from streams.feeds.codec import encode, key_of
from streams.feeds.results import PositionRecord
from streams.settings import Settings
from tests.integration.conftest import (
    Worker,
    eventually,
    http_json,
    prom_query,
    read_topic,
    run_cli,
)

PORT = "USLGB"


@pytest.fixture()
def worker(stack: Settings, tmp_path: Path) -> Iterator[Worker]:
    # A fresh consumer group per test run, so offsets from earlier runs don't matter.
    env = {"BERTHWATCH_WORKER_ID": f"skeleton-{uuid.uuid4().hex[:8]}",
           "BERTHWATCH_ALERT_THRESHOLD": "3"}
    run_cli("topics", "create")
    w = Worker(tmp_path / "worker.log", web_port=16066, extra_env=env)
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def test_record_to_metric_and_alert(stack: Settings, worker: Worker) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    start_ms = 1_634_299_200_000  # 2021-10-15T12:00:00Z
    # three ships at anchor in one of Long Beach's outer anchorages, one minute apart
    records = [PositionRecord(start_ms + i * 60_000, mmsi, 33.696 + i * 0.001, -118.17, 0.1,
                              nav_status=1)
               for i, mmsi in enumerate([367100001, 367100002, 367100003])]
    for rec, wire in zip(records, encode(records), strict=True):
        producer.send(stack.topic("positions"), key=key_of(rec), value=wire,
                      timestamp_ms=rec.ts_ms)
    bad = b"not a canonical position"
    producer.send(stack.topic("positions"), key=b"bad", value=bad)
    producer.flush()
    producer.close()

    # 1. the worker exports the feature on its own /metrics
    eventually(lambda: f'berthwatch_vessels_waiting{{port="{PORT}"}} 3.0' in worker.metrics())

    # 2. the real Prometheus scraped it: ask its query API
    series = eventually(lambda: prom_query(stack, f'berthwatch_vessels_waiting{{port="{PORT}"}}'))
    assert float(series[0]["value"][1]) == 3.0
    assert series[0]["metric"]["job"] == "berthwatch-workers"

    # 3. the alert reached the real Alertmanager: ask its API v2
    def our_alert() -> list[dict[str, object]]:
        alerts = http_json(f"{stack.am_url}/api/v2/alerts",
                           {"filter": f'alert_key="skeleton-queue-{PORT}"'})
        return [a for a in alerts if a["status"]["state"] == "active"]

    alerts = eventually(our_alert)
    assert alerts[0]["labels"]["port"] == PORT
    assert alerts[0]["startsAt"].startswith("2021-10-15T12:02:00")  # event time, not wall time
    assert "3 vessels" in alerts[0]["annotations"]["summary"]

    # 4. the transition is in the compacted alerts topic, keyed by the alert key
    key = f"skeleton-queue-{PORT}".encode()
    published = eventually(lambda: [json.loads(v) for _p, _o, k, v, _t, _h
                                    in read_topic(stack, stack.topic("alerts")) if k == key])
    assert published[-1]["state"] == "firing"
    assert published[-1]["starts_at"] == "2021-10-15T12:02:00Z"

    # 5. the bad record is in the dead-letter topic, with where it came from and why
    consumer = KafkaConsumer(stack.topic("deadletter"), bootstrap_servers=stack.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    found = [m for m in consumer if m.value == bad]
    consumer.close()
    assert found, "malformed record not found in the dead-letter topic"
    headers = {k: v.decode() for k, v in found[-1].headers}
    assert headers["source_topic"] == stack.topic("positions")
    assert headers["error_class"] == "bad_length"
    assert "POSITION" in headers["error_message"]
    assert int(headers["source_offset"]) >= 0
