"""The integration tests' marker and their own fixture; the stack, workers and helpers
they share with the chaos suite are in :mod:`tests.integration.harness` (re-exported here,
so ``from tests.integration.conftest import ...`` keeps working)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.settings import Settings
from tests.integration.harness import (
    BERTHWATCH,
    PROJECT_ROOT,
    SPB_END,
    SPB_START,
    TEST_ENV,
    Transition,
    Worker,
    deployment,
    eventually,
    http_json,
    metric,
    prom_query,
    published,
    read_topic,
    run_cli,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)

__all__ = ["BERTHWATCH", "PROJECT_ROOT", "SPB_END", "SPB_START", "TEST_ENV", "Replayed",
           "Transition", "Worker", "deployment", "eventually", "http_json", "metric",
           "prom_query", "published", "read_topic", "run_cli", "same_alerts",
           "wait_detected_to_end", "wait_published"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)



@dataclass
class Replayed:
    """A deployment whose worker read the San Pedro Bay feed to its end (still running)."""

    env: dict[str, str]
    worker: Worker
    alerts: list[Transition]
    replay_output: str


@pytest.fixture(scope="session")
def spb_replayed(stack: Settings, spb_feed: tuple[list[Path], Path],
                 spb_backtest: list[Transition],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    """One worker on the scraped port; the feed replayed through it, plus one malformed
    message (so the dead-letter series exist), to the end-of-feed markers."""
    from kafka import KafkaProducer

    paths, labels = spb_feed
    env = deployment("spb", labels)
    logs = tmp_path_factory.mktemp("spb-worker")
    worker = Worker(logs / "worker.log", stack.worker_web_port, env)
    try:
        worker.wait_ready()
        producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
        producer.send(f"{env['BERTHWATCH_TOPIC_PREFIX']}positions", key=b"366000000",
                      value=b"not a canonical record", timestamp_ms=1_627_776_000_000)
        producer.flush()
        producer.close()
        result = run_cli("replay", *map(str, paths), env=env, timeout=300)
        wait_detected_to_end([worker])
        alerts = wait_published(stack, env, len(spb_backtest))
        yield Replayed(env, worker, alerts, result.stdout)
    finally:
        worker.stop()
