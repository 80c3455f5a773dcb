"""The berthwatch faust application: settings, topics, agents, web views.

Read it top to bottom like faust's word-count example. Agents are thin: they
take batches of events and hand them to plain functions that a unit test can
call without a broker.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.alerting import AlertmanagerSender, iso
from streams.metrics import (
    BATCH_SIZE,
    DEAD_LETTERS,
    EVENT_TIME,
    PROCESSING_SECONDS,
    RECORDS_IN,
    REGISTRY,
    VESSELS_WAITING,
)
from streams.settings import load_settings
from streams.skeleton import AnchorQueue

log = logging.getLogger(__name__)

# --- settings ----------------------------------------------------------------
settings = load_settings()

(settings.stack_dir / "workers").mkdir(parents=True, exist_ok=True)
app = faust.App(
    settings.worker_id,
    broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
    web_host=settings.worker_web_host or settings.host,
    web_port=settings.worker_web_port,
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1,
    key_serializer="raw",
    value_serializer="raw",
    producer_max_request_size=1_048_576,
    consumer_auto_offset_reset="earliest",
    datadir=str(settings.stack_dir / "workers" / "{conf.id}"),
)

# --- topics ------------------------------------------------------------------
positions_topic = app.topic(settings.topic("positions"), key_type=bytes, value_type=bytes)
deadletter_topic = app.topic(settings.topic("deadletter"), key_type=bytes, value_type=bytes)
alerts_topic = app.topic(settings.topic("alerts"), key_type=bytes, value_type=bytes)

# --- state -------------------------------------------------------------------
queue = AnchorQueue(threshold=settings.alert_threshold)
sender = AlertmanagerSender(settings.am_url)


# --- agents ------------------------------------------------------------------
@app.agent(positions_topic)
async def watch_positions(stream: faust.StreamT[Any]) -> None:
    """Skeleton agent: batches of position records -> queue gauge and alerts."""
    topic = positions_topic.get_topic_name()
    async for events in cast(Stream[Any], stream).take_events(1000, within=0.5):
        t0 = time.perf_counter()
        RECORDS_IN.labels(topic).inc(len(events))
        BATCH_SIZE.labels(topic).observe(len(events))
        result = queue.process([e.value for e in events])
        for rej in result.rejected:
            msg = events[rej.index].message
            DEAD_LETTERS.labels(topic, rej.reason).inc()
            await deadletter_topic.send(
                key=msg.key,
                value=events[rej.index].value,
                headers=[
                    ("source_topic", msg.topic.encode()),
                    ("source_partition", str(msg.partition).encode()),
                    ("source_offset", str(msg.offset).encode()),
                    ("error_class", rej.reason.encode()),
                    ("error_message", rej.message.encode()),
                ],
            )
        for port, count in result.waiting.items():
            VESSELS_WAITING.labels(port).set(count)
            EVENT_TIME.labels(port).set(result.event_time[port])
        for alert in result.alerts:
            log.info("alert %s %s at %s: %s", "firing" if alert.firing else "resolved",
                     alert.key, iso(alert.ends_at or alert.starts_at), alert.summary)
            await alerts_topic.send(key=alert.key.encode(), value=alert.to_record())
        sender.submit(result.alerts)
        PROCESSING_SECONDS.labels(topic).observe(time.perf_counter() - t0)


@app.task
async def start_alert_sender() -> None:
    sender.start()


# --- web views ---------------------------------------------------------------
@app.page("/metrics")
class Metrics(View):
    """Prometheus exposition of every berthwatch metric."""

    async def get(self, request: Request) -> Response:
        return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


def main(argv: list[str] | None = None) -> None:
    """Run a worker: ``berthwatch worker`` calls this with faust's own arguments."""
    import sys

    sys.argv = ["berthwatch-worker", "worker", *(argv or [])]
    app.main()
