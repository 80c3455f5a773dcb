"""End to end on the simulator's San Pedro Bay feed: the queue matches the published count.

Mid-September 2021, 65 container ships were waiting (press reports of Port of
Los Angeles figures, FACTS.md). The simulator is calibrated to that figure;
this test checks that the feature engine, reading the simulator's CSV with a
plain reader, sees the same queue.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import pytest

from streams.features import VesselConfig, VesselFeatures, merge_partials
from streams.feeds.codec import POSITION_DTYPE
from streams.geo import load_geography

simulator = pytest.importorskip("streams.tools.simulator")


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def _read(path: Path) -> np.ndarray:
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    out = np.zeros(len(rows), dtype=POSITION_DTYPE)
    out["ts_ms"] = [_ms(r["BaseDateTime"]) for r in rows]
    out["mmsi"] = [int(r["MMSI"]) for r in rows]
    out["lat"] = [float(r["LAT"]) for r in rows]
    out["lon"] = [float(r["LON"]) for r in rows]
    out["sog"] = [float(r["SOG"]) if r["SOG"] else np.nan for r in rows]
    out["nav_status"] = [int(float(r["Status"])) if r["Status"] else 15 for r in rows]
    out["ship_type"] = [int(float(r["VesselType"])) if r["VesselType"] else 0 for r in rows]
    return out[np.argsort(out["ts_ms"], kind="stable")]


def test_queue_in_mid_september_2021(tmp_path: Path) -> None:
    opts = simulator.ScenarioOptions(seed=3, start="2021-09-14", end="2021-09-15")
    simulator.simulate(tmp_path, "san-pedro-bay-2021", opts, feeds=frozenset({"positions"}))
    feed = _read(tmp_path / "positions.csv.gz")
    eng = VesselFeatures(load_geography(), VesselConfig(cargo_only=True))
    pts = merge_partials([eng.process(b) for b in np.array_split(feed, 7)] + [eng.flush()])
    d = pts.as_dict()
    noon = _ms("2021-09-15T12:00:00") // 1000
    waiting = d[("vessels_waiting|san-pedro-bay", noon)]
    assert abs(waiting - 65) <= 7
    ports = d[("vessels_waiting|USLAX", noon)] + d[("vessels_waiting|USLGB", noon)]
    assert 0 < ports <= waiting  # ships in the drifting zone count for the region only
    # Ships already alongside when the feed starts are not arrivals.
    first_end = int(pts.end_s.min())
    assert d[("arrivals|san-pedro-bay", first_end)] <= 2
    arrivals = sum(v for (k, _), v in d.items() if k == "arrivals|san-pedro-bay")
    departures = sum(v for (k, _), v in d.items() if k == "departures|san-pedro-bay")
    assert arrivals > 5 and departures > 5
