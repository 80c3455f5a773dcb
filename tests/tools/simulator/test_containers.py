"""Container events: valid numbers, dwell calibrated to PMSA figures, volumes to the TEU files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip


def iso6346_ok(number: str) -> bool:
    """Independent ISO 6346 check: letter values skip multiples of 11, weights 2**i."""
    values = {}
    v = 10
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if v % 11 == 0:
            v += 1
        values[ch] = v
        v += 1
    if len(number) != 11 or not number[:4].isalpha() or number[3] != "U":
        return False
    total = sum((values[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(number[:10]))
    return total % 11 % 10 == int(number[10])


def test_iso6346_reference_numbers() -> None:
    assert iso6346_ok("CSQU3054383")  # the standard's worked example
    assert not iso6346_ok("CSQU3054384")


@pytest.fixture(scope="module")
def events(sim_run: Any, readers: Any) -> list[dict[str, str]]:
    out = sim_run(seed=5, feeds=("containers",))
    rows: list[dict[str, str]] = readers.read_csv(out / "containers.csv.gz")
    return rows


@pytest.fixture(scope="module")
def dwell(events: list[dict[str, str]], readers: Any) -> dict[str, list[tuple[str, float]]]:
    """(discharge month, dwell days) per gate-out event kind."""
    discharged = {r["container"]: r["time"] for r in events if r["event"] == "discharged"}
    out: dict[str, list[tuple[str, float]]] = {"gate_out_truck": [], "loaded_rail": []}
    for r in events:
        if r["event"] != "discharged" and r["container"] in discharged:
            t0 = discharged[r["container"]]
            days = (readers.epoch(r["time"]) - readers.epoch(t0)) / 86400.0
            out[r["event"]].append((t0[:7], days))
    return out


def test_header_numbers_and_order(events: list[dict[str, str]]) -> None:
    assert list(events[0]) == ["time", "port", "terminal", "container", "event"]
    assert all(iso6346_ok(r["container"]) for r in events)
    assert {r["event"] for r in events} == {"discharged", "gate_out_truck", "loaded_rail"}
    assert {r["port"] for r in events} == {"USLAX", "USLGB"}
    times = [r["time"] for r in events]
    assert times == sorted(times) and all(t.endswith("Z") and len(t) == 20 for t in times)
    # A box leaves at most once and never before it was discharged.
    seen: dict[str, list[str]] = {}
    for r in events:
        seen.setdefault(r["container"], []).append(r["event"])
    assert all(ev.count("discharged") <= 1 and len(ev) <= 2 for ev in seen.values())
    assert all(ev[0] == "discharged" for ev in seen.values() if len(ev) == 2)


def _stats(pairs: list[tuple[str, float]], month: str) -> tuple[float, float]:
    d = np.array([x for m, x in pairs if m == month])
    assert d.size > 100
    return float(d.mean()), float(np.median(d))


@pytest.mark.parametrize(("month", "published"), [
    ("2021-09", 5.94),  # PMSA: 5.94 days
    ("2021-11", 8.4),  # PMSA: record 8.4 days
    ("2021-12", 7.7),  # PMSA: 7.7 days
])  # fmt: skip
def test_truck_dwell_matches_pmsa(
    dwell: dict[str, list[tuple[str, float]]], month: str, published: float
) -> None:
    mean, p50 = _stats(dwell["gate_out_truck"], month)
    assert abs(mean - published) <= 0.6
    assert abs(p50 - published) <= 1.0


def test_dwell_shape(dwell: dict[str, list[tuple[str, float]]]) -> None:
    early, _ = _stats(dwell["gate_out_truck"], "2020-10")
    record, _ = _stats(dwell["gate_out_truck"], "2021-11")
    late, _ = _stats(dwell["gate_out_truck"], "2022-04")
    assert early < 4.0 and late < record - 3.0  # falling after the excess dwell fee
    rail, _ = _stats(dwell["loaded_rail"], "2021-04")
    assert abs(rail - 11.2) <= 1.5  # PMSA: on-dock rail 11.2 days in April 2021
    share = len(dwell["loaded_rail"]) / (len(dwell["loaded_rail"]) + len(dwell["gate_out_truck"]))
    assert 0.15 < share < 0.35


def _teu(shared: Path) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    with open(shared / "la-lb-teu" / "port_of_la_container_stats_2021_present.csv") as f:
        for r in csv.DictReader(f):
            if r["Loaded Imports"]:
                key = f"{r['Year']}-{MONTHS.index(r['Month']) + 1:02d}"
                out[("USLAX", key)] = float(r["Loaded Imports"])
    with open(shared / "la-lb-teu" / "port_long_beach_teu.csv") as f:
        for r in csv.DictReader(f):
            mm, _, yyyy = r["Actual Date"].split("/")
            out[("USLGB", f"{yyyy}-{mm}")] = float(r["Loaded Inbound"])
    return out


def test_monthly_volumes_follow_teu_files(events: list[dict[str, str]], shared_data: Path) -> None:
    teu = _teu(shared_data)
    boxes: dict[tuple[str, str], int] = {}
    for r in events:
        if r["event"] == "discharged":
            key = (r["port"], r["time"][:7])
            boxes[key] = boxes.get(key, 0) + 1
    months = [f"{y}-{m:02d}" for y in (2021, 2022) for m in range(1, 13)][:17]  # to 2022-05
    for port in ("USLAX", "USLGB"):
        sim = np.array([boxes[(port, m)] for m in months], dtype=float)
        real = np.array([teu[(port, m)] for m in months])
        r = np.corrcoef(sim, real)[0, 1]
        assert r > 0.9, (port, r)
        # About 0.55 boxes per TEU, scaled by the default 1/100.
        assert 0.9 < sim.sum() / (real.sum() * 0.55 * 0.01) < 1.1
