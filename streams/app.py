"""The berthwatch faust application: the worker process, its web views and its pipeline.

faust runs what it is good at here: the worker process and its command line,
the web server that serves ``/metrics``, the services' start and graceful stop
(a final checkpoint on SIGTERM), logging. The hot path is not a per-event faust
agent: :class:`~streams.worker.runtime.WorkerRuntime` reads the feeds in
batches of thousands of records with aiokafka's ``getmany`` and hands whole
arrays to the feature and detection stages (see ``docs/RECOVERY.md`` and
``bench/bench_worker.py`` for why and how fast).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.kafka.client import faust_args
from streams.metrics import REGISTRY
from streams.settings import load_settings
from streams.worker.runtime import WorkerError, WorkerRuntime

log = logging.getLogger(__name__)

# --- settings ----------------------------------------------------------------
settings = load_settings()

(settings.stack_dir / "workers").mkdir(parents=True, exist_ok=True)
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
    datadir=str(settings.stack_dir / "workers" / "{conf.id}"),
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


@app.page("/ready")
class Ready(View):
    """200 while the worker consumes with the broker answering, 503 otherwise (starting,
    a broker outage, stopping): for a load balancer's or an orchestrator's probe."""

    async def get(self, request: Request) -> Response:
        if runtime.ready:
            return self.text("ready\n")
        if not runtime.broker.is_up:
            why = f"Kafka unreachable for {runtime.broker.outage_s():.0f} s"
        else:
            why = "not consuming"
        return self.text(f"not ready: {why}\n", status=503)


def main(argv: list[str] | None = None) -> None:
    """Run a worker: ``berthwatch worker`` calls this with faust's own arguments."""
    import sys

    sys.argv = ["berthwatch-worker", "worker", *(argv or [])]
    app.main()
