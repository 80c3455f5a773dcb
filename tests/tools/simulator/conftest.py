"""Shared simulator runs (each generated once per session) and plain readers of their files.

The readers are deliberately independent of the simulator's code: they parse
the CSV text and compute counts with numpy and shapely only.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streams.tools.simulator import ScenarioOptions, simulate

Run = Callable[..., Path]


def epoch(text: str) -> float:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def read_csv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def positions_array(path: Path) -> dict[str, np.ndarray]:
    """Positions as column arrays (times in epoch seconds; empty numbers as NaN)."""
    rows = read_csv(path)

    def num(key: str) -> np.ndarray:
        return np.array([float(r[key]) if r[key] != "" else np.nan for r in rows])

    return {
        "mmsi": np.array([r["MMSI"] for r in rows]),
        "t": np.array([epoch(r["BaseDateTime"]) for r in rows]),
        "lat": num("LAT"),
        "lon": num("LON"),
        "sog": num("SOG"),
        "cog": num("COG"),
        "status": num("Status"),
        "type": num("VesselType"),
        "imo": np.array([r["IMO"] for r in rows]),
    }


def last_report(pos: dict[str, np.ndarray], at: float, hours: float) -> np.ndarray:
    """Index of each MMSI's last row in (at - hours, at]."""
    sel = np.flatnonzero((pos["t"] > at - hours * 3600) & (pos["t"] <= at))
    order = sel[np.lexsort((pos["t"][sel], pos["mmsi"][sel]))]
    m = pos["mmsi"][order]
    is_last = np.ones(order.size, dtype=bool)
    is_last[:-1] = m[:-1] != m[1:]
    return order[is_last]


@pytest.fixture(scope="session")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run the simulator once per distinct argument set and return its output folder."""
    cache: dict[str, Path] = {}

    def run(
        scenario: str = "san-pedro-bay-2021",
        feeds: tuple[str, ...] = ("positions", "containers", "inventory"),
        **opts: Any,
    ) -> Path:
        key = repr((scenario, feeds, sorted(opts.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp("sim")
            simulate(out, scenario, ScenarioOptions(**opts), feeds=frozenset(feeds))
            cache[key] = out
        return cache[key]

    return run


class Readers:
    """Plain readers, handed to tests as the ``readers`` fixture."""

    epoch = staticmethod(epoch)
    read_csv = staticmethod(read_csv)
    positions = staticmethod(positions_array)
    last_report = staticmethod(last_report)


@pytest.fixture(scope="session")
def readers() -> type[Readers]:
    return Readers
