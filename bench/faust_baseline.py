"""The straightforward faust agent: one event at a time (baseline of ``bench_worker.py``).

A faust app with one agent on the positions topic that iterates
``async for event in stream.events()``, keeps a list of values per partition and
hands every 10,000 values of a partition to that partition's
:class:`~streams.worker.stages.FeaturePartition` (the worker's own feature code).
Once it has seen ``BENCH_FAUST_EVENTS`` events it processes what is left, writes
``{"events": N, "seconds": t_last - t_first}`` to ``BENCH_FAUST_OUT`` and stops
the worker (SIGTERM to itself, faust's graceful shutdown).

Run by ``bench/bench_worker.py`` as
``python bench/faust_baseline.py worker -l warn --without-web`` (faust's log
level is spelled ``warn``; its worker command enables the web server unless told
``--without-web``, which is added when missing) with the environment:

* ``BENCH_FAUST_BROKER`` (``host:port``), ``BENCH_FAUST_TOPIC``,
  ``BENCH_FAUST_EVENTS``, ``BENCH_FAUST_OUT``;
* ``BENCH_FAUST_ID`` (app id, also the consumer group: fresh per run),
  ``BENCH_FAUST_DIR`` (faust's data directory), ``BENCH_FAUST_PARTITIONS``.

Not a test: it never fails on a time.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import faust

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from streams.features import Geofence  # noqa: E402
from streams.geo import load_geography  # noqa: E402
from streams.kafka.client import faust_args  # noqa: E402
from streams.settings import load_settings  # noqa: E402
from streams.worker.stages import FeaturePartition  # noqa: E402

BROKER = os.environ.get("BENCH_FAUST_BROKER", "127.0.0.1:29192")
TOPIC = os.environ.get("BENCH_FAUST_TOPIC", "berthwatch.positions")
EVENTS = int(os.environ.get("BENCH_FAUST_EVENTS", "200000"))
OUT = Path(os.environ.get("BENCH_FAUST_OUT", "faust-baseline.json"))
BATCH = 10_000

SETTINGS = load_settings(kafka_servers=BROKER)  # the Kafka client configuration of the env
app = faust.App(
    os.environ.get("BENCH_FAUST_ID", "bench-faust-baseline"),
    **faust_args(SETTINGS),
    **({"topic_replication_factor": SETTINGS.topic_replication_factor}
       if SETTINGS.topic_replication_factor else {}),
    web_enabled=False,
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    topic_partitions=int(os.environ.get("BENCH_FAUST_PARTITIONS", "4")),
    store="memory://",
    datadir=os.environ.get("BENCH_FAUST_DIR", "/tmp/bench-faust-baseline"),
)
positions = app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw")


class Baseline:
    """Per-partition value lists and feature engines, and the clock of the run."""

    def __init__(self) -> None:
        self.fence = Geofence(load_geography())  # built once, as the worker does
        self.engines: dict[int, FeaturePartition] = {}
        self.values: dict[int, list[bytes]] = {}
        self.events = 0
        self.records = 0
        self.t_first = 0.0
        self.done = False

    def engine(self, partition: int) -> FeaturePartition:
        fp = self.engines.get(partition)
        if fp is None:
            fp = self.engines[partition] = FeaturePartition("positions", partition, partition,
                                                            self.fence, 1)
        return fp

    def take(self, partition: int, value: bytes) -> None:
        if self.events == 0:
            self.t_first = time.perf_counter()
        self.events += 1
        if not value:  # an end-of-feed marker: nothing to decode
            return
        values = self.values.setdefault(partition, [])
        values.append(value)
        if len(values) >= BATCH:
            self.process(partition)

    def process(self, partition: int) -> None:
        values = self.values.get(partition)
        if values:
            self.records += self.engine(partition).process(values).records
            self.values[partition] = []

    def finish(self) -> None:
        for partition in list(self.values):
            self.process(partition)
        seconds = time.perf_counter() - self.t_first
        OUT.write_text(json.dumps({"events": self.events, "records": self.records,
                                   "seconds": seconds}))
        self.done = True
        os.kill(os.getpid(), signal.SIGTERM)  # faust's graceful shutdown


state = Baseline()


@app.agent(positions)
async def features(stream: faust.StreamT[Any]) -> None:
    """One event at a time; every 10,000 values of a partition to its feature engine."""
    async for event in stream.events():
        if state.done:
            continue  # stopping: faust is shutting the worker down
        state.take(event.message.partition, event.value or b"")
        if state.events >= EVENTS:
            state.finish()


if __name__ == "__main__":
    if "worker" in sys.argv and not any(a.endswith("-web") for a in sys.argv):
        sys.argv.append("--without-web")  # faust's CLI turns the web server on otherwise
    app.main()
