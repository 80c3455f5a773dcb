"""The partitioned pipeline (feature partitions, detection shards) equals the backtest."""

from __future__ import annotations

import pytest

from streams.series import family_of
from streams.worker.local import run_partitioned
from streams.worker.stages import shard_of
from tests.worker.conftest import Scenario
from tests.worker.helpers import in_event_order, transitions


def test_scenario_is_not_trivial(scenario: Scenario) -> None:
    cfg = scenario.backtest.config
    alerts = scenario.backtest.output.alerts
    assert cfg.changes, "the scenario's labels.json must carry a methodology change"
    assert len(alerts) >= 5
    assert {a.state for a in alerts} == {"firing", "resolved"}
    assert len({family_of(a.series) for a in alerts}) >= 3  # vessels, containers, inventory
    assert set(scenario.feeds) == {"positions", "containers", "inventory"}


@pytest.mark.parametrize("partitions", [1, 3])
def test_partitioned_run_publishes_the_backtests_transitions(
    scenario: Scenario, partitions: int
) -> None:
    run = run_partitioned(
        scenario.feeds, scenario.geography, scenario.backtest.config, partitions=partitions
    )
    assert run.records == sum(len(a) for a in scenario.feeds.values())
    got, want = in_event_order(run.alerts), in_event_order(scenario.backtest.output.alerts)
    assert transitions(got) == transitions(want)
    # the whole transition, explanation included, not only its identity
    assert [a.as_dict() for a in got] == [a.as_dict() for a in want]


def test_sharded_detection_publishes_the_same_set(scenario: Scenario) -> None:
    """Across shards the order of publication interleaves; the set and each key's order
    do not change."""
    run = run_partitioned(
        scenario.feeds, scenario.geography, scenario.backtest.config, partitions=3, shards=2
    )
    want = transitions(scenario.backtest.output.alerts)
    got = transitions(run.alerts)
    assert {shard_of(a.series.encode(), 2) for a in run.alerts} == {0, 1}  # both shards alert
    assert sorted(got) == sorted(want)
    for key in {k for k, *_ in want}:
        assert [t for t in got if t[0] == key] == [t for t in want if t[0] == key]
