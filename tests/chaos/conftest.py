"""The chaos suite's fixtures: the undisturbed run every scenario is compared with, and the
figures each scenario records for the table in docs/RELIABILITY.md.

The stack, the San Pedro Bay feed and its backtest are the integration tests' session
fixtures (:mod:`tests.integration.harness`); the scenarios run on the same test stack
(``BERTHWATCH_TEST_STACK_ENV`` names another settings file: another stack, other ports).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.chaos.report import RESULTS, record_result
from tests.chaos.runs import Run, settled_gauges, start_worker
from tests.integration.harness import (
    Transition,
    deployment,
    run_cli,
    same_alerts,
    wait_detected_to_end,
    wait_published,
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Keep each phase's report on the test, so its figures say whether it passed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def undisturbed(stack: Settings, spb_feed: tuple[list[Path], Path],
                spb_backtest: list[Transition],
                tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The San Pedro Bay feed replayed (as fast as the broker takes it) through one
    worker, nothing disturbed: its alerts equal the backtest's, its gauges are the
    reference of every scenario."""
    paths, labels = spb_feed
    env = deployment("undisturbed", labels)
    worker = start_worker(tmp_path_factory.mktemp("undisturbed") / "worker.log", env)
    try:
        t0 = time.monotonic()
        run_cli("replay", *map(str, paths), env=env, timeout=400)
        wait_detected_to_end([worker])
        seconds = time.monotonic() - t0
        alerts = wait_published(stack, env, len(spb_backtest))
        same_alerts(alerts, spb_backtest)
        run = Run(env, alerts, settled_gauges([worker]), seconds)
    finally:
        worker.stop()
    record_result(RESULTS, "undisturbed", "passed", "", round(seconds),
                  {"alerts": len(alerts), "series": len(run.gauges),
                   "seconds_to_feed_end": round(seconds)})
    return run


@pytest.fixture()
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The scenario's figures (seconds of outage, alerts and records compared...): written
    with its result and wall time to the last run's results when it ends."""
    figs: dict[str, Any] = {}
    t0 = time.monotonic()
    yield figs
    wall = time.monotonic() - t0
    node = request.node
    call = getattr(node, "report_call", None)
    if call is None:
        result, why = "error", "set-up failed"
    elif hasattr(call, "wasxfail"):
        result, why = ("known limit (xfail)", "") if call.skipped else ("passed (xfail)", "")
    elif call.passed:
        result, why = "passed", ""
    else:
        crash = getattr(call.longrepr, "reprcrash", None)
        why = (crash.message if crash is not None else str(call.longrepr)).splitlines()[0]
        result = "skipped" if call.skipped else "failed"
    name = node.originalname.removeprefix("test_")
    record_result(RESULTS, name, result, why[:200], round(wall), figs)
