"""Inventory snapshots: semiconductor drawdown (US Dept of Commerce), stable other items."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from streams.tools.simulator import ScenarioOptions, simulate


def test_semiconductor_days_of_supply(sim_run: Any, readers: Any) -> None:
    out = sim_run(seed=6, sites=3, items=20, feeds=("inventory",))
    rows = readers.read_csv(out / "inventory.csv.gz")
    assert list(rows[0]) == ["time", "site", "item", "on_hand", "daily_usage"]
    by: dict[tuple[bool, str], list[float]] = {}
    for r in rows:
        dos = float(r["on_hand"]) / float(r["daily_usage"])
        by.setdefault((r["item"].startswith("SEMI"), r["time"][:7]), []).append(dos)
    semi_early = np.median(by[(True, "2020-09")])
    semi_late = np.median(by[(True, "2021-11")] + by[(True, "2021-12")])
    assert 30 <= semi_early <= 45  # ~40 days in 2019, still high in autumn 2020
    assert semi_late < 5  # under 5 days in 2021
    other_early = np.median(by[(False, "2020-09")])
    other_late = np.median(by[(False, "2022-05")])
    assert abs(other_late / other_early - 1) < 0.1
    n_series = len({(r["site"], r["item"]) for r in rows})
    n_days = len({r["time"] for r in rows})
    assert n_series == 60 and len(rows) == n_series * n_days


def test_many_series_are_vectorized(tmp_path: Any) -> None:
    """200k series for 2 days: generated per day, vectorized over series (a loose bound)."""
    t0 = time.perf_counter()
    summary = simulate(
        tmp_path,
        "random",
        ScenarioOptions(
            seed=1, ports=1, sites=200, items=1000, start="2021-01-01", end="2021-01-02"
        ),
        feeds=frozenset({"inventory"}),
    )
    assert summary.rows["inventory.csv.gz"] == 400_000
    assert time.perf_counter() - t0 < 60
