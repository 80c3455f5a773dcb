"""One short simulated scenario (with a methodology change), its feeds and its backtest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt
import pytest

from streams.geo import Geography
from streams.labels import load_labels
from streams.offline.backtest import BacktestResult, geography_for, run_backtest
from streams.tools.simulator import ScenarioOptions, simulate
from tests.worker.helpers import FEED_FILES, feed_arrays


@dataclass
class Scenario:
    paths: list[Path]
    geography: Geography
    feeds: dict[str, npt.NDArray[Any]]
    backtest: BacktestResult


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Three weeks of San Pedro Bay around the 2021-11-16 counting change (offshore queue)."""
    out = tmp_path_factory.mktemp("worker-sim")
    opts = ScenarioOptions(seed=5, start="2021-11-08", end="2021-11-28", sites=2, items=10)
    simulate(out, "san-pedro-bay-2021", opts)
    paths = [out / f for f in FEED_FILES]
    result = run_backtest(paths, load_labels(out / "labels.json"))
    return Scenario(paths, geography_for(paths), feed_arrays(paths), result)
