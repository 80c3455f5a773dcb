"""The berthwatch faust application: the worker process, its web views and its pipeline.

faust runs what it is good at here: the worker process and its command line,
the web server that serves ``/metrics`` and the probes (``/healthz``: the process
answers; ``/readyz``: it consumes, owns partitions and makes progress, see
:mod:`streams.worker.probes`), the services' start and graceful stop
(a final checkpoint on SIGTERM), logging. The hot path is not a per-event faust
agent: :class:`~streams.worker.runtime.WorkerRuntime` reads the feeds in
batches of thousands of records with aiokafka's ``getmany`` and hands whole
arrays to the feature and detection stages (see ``docs/RECOVERY.md`` and
``bench/bench_worker.py`` for why and how fast).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sys
import time
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.kafka.client import faust_args
from streams.metrics import REGISTRY
from streams.settings import load_settings
from streams.worker.probes import ProgressWatch, readiness
from streams.worker.runtime import WorkerError, WorkerRuntime

log = logging.getLogger(__name__)

# --- settings ----------------------------------------------------------------
settings = load_settings()

# nothing is written at import: main() creates the state directory when a worker starts
# faust's own topics: `berthwatch worker` sets the replication of the topics it created
_replication: dict[str, Any] = ({"topic_replication_factor": settings.topic_replication_factor}
                                if settings.topic_replication_factor else {})
app = faust.App(
    settings.worker_id,
    **faust_args(settings),
    web_host=settings.worker_web_host or settings.host,
    web_bind=settings.worker_web_host or settings.host,
    web_port=settings.worker_web_port,
    topic_partitions=settings.topic_partitions,
    **_replication,
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    datadir=str(settings.worker_state_dir / "{conf.id}"),
)

# --- the pipeline --------------------------------------------------------------
runtime = WorkerRuntime(settings)


@app.task
async def pipeline() -> None:
    """Feature and detection stages over the partitions this worker is assigned; broker
    outages are ridden out (:meth:`~streams.worker.runtime.WorkerRuntime.serve`), any
    other failure ends the process with a non-zero status, for its supervisor to restart."""
    failed: BaseException | None = None
    try:
        await runtime.serve()
    except WorkerError as e:
        log.error("worker cannot run: %s", e)
        failed = e
    except asyncio.CancelledError:
        log.info("pipeline cancelled: the worker is stopping")
    except Exception as e:
        log.exception("pipeline failed: the worker exits for its supervisor to restart it")
        failed = e
    finally:
        wrote = await runtime.stop(final_checkpoint=failed is None)
        log.info("pipeline stopped %s", "after a final checkpoint" if wrote
                 else "without a final checkpoint: the last one stands")
    if failed is not None:
        await app.crash(failed)


# --- web views ---------------------------------------------------------------
@app.page("/metrics")
class Metrics(View):
    """Prometheus exposition of every berthwatch metric."""

    async def get(self, request: Request) -> Response:
        return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


@app.page("/healthz")
class Healthz(View):
    """200 while the process and its event loop answer: for a liveness probe (a worker
    riding out a broker outage is alive, and must not be restarted for it)."""

    async def get(self, request: Request) -> Response:
        return self.text("ok\n")


progress = ProgressWatch(settings.ready_stall_seconds)


@app.page("/readyz")
class Readyz(View):
    """200 while the worker consumes with the broker answering, owns partitions and makes
    progress (``ready_stall_seconds``); 503 with the reason otherwise (starting, a broker
    outage, no partitions, stuck, stopping): for a readiness probe."""

    async def get(self, request: Request) -> Response:
        positions = {tp: owned.offset for tp, owned in runtime.owned.items()}
        lag = 0
        if runtime.consumer is not None:
            for tp, offset in positions.items():
                high = runtime.consumer.highwater(tp)
                lag += max(high - offset, 0) if high is not None else 0
        answer = readiness(consuming=runtime.running, broker=runtime.broker,
                           positions=positions, lag=lag, watch=progress, now=time.monotonic())
        if answer.ready:
            return self.text(f"ready: {len(positions)} partitions, lag {lag}\n")
        return self.text(f"not ready: {answer.reason}\n", status=503)


@app.page("/ready")
class Ready(Readyz):
    """``/readyz`` under its earlier name, kept for probes configured with it."""


def main(argv: list[str] | None = None) -> None:
    """Run a worker: ``berthwatch worker`` calls this with faust's own arguments."""
    state = settings.worker_state_dir
    try:
        state.mkdir(parents=True, exist_ok=True)
        if not os.access(state, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied")
    except OSError as e:
        sys.exit(f"error: state_dir {state} is not writable ({e.strerror}): set "
                 "BERTHWATCH_STATE_DIR to a folder the worker's user can write")
    sys.argv = ["berthwatch-worker", "worker", *(argv or [])]
    app.main()
