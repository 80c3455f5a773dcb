"""Determinism, labels, the random scenario, NMEA output and the command line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from click.testing import CliRunner

from streams.commands.simulate import simulate as simulate_command
from streams.geo import load_geography
from streams.tools.simulator import ScenarioOptions, simulate
from streams.tools.simulator.writer import AIS_HEADER

FILES = ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz", "labels.json")


def _small(out: Path, seed: int) -> None:
    opts = ScenarioOptions(seed=seed, start="2021-10-14", end="2021-10-15", sites=2, items=10)
    simulate(out, "san-pedro-bay-2021", opts)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        _small(tmp_path / name, seed)
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    for f in FILES[:3]:
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes(), f


def test_positions_header_is_marinecadastre(sim_run: Any) -> None:
    out = sim_run(start="2021-10-14", end="2021-10-15", seed=3, feeds=("positions",))
    with gzip.open(out / "positions.csv.gz", "rt") as f:
        header = f.readline().strip()
        first = f.readline().strip().split(",")
    assert header == AIS_HEADER
    assert header.split(",")[0] == "MMSI" and len(first) == 17
    assert len(first[1]) == 19 and first[1][10] == "T"


def test_labels_of_the_default_scenario(sim_run: Any, readers: Any) -> None:
    out = sim_run(seed=6, sites=2, items=20, feeds=("containers",))
    labels = json.loads((out / "labels.json").read_text())
    assert labels["scenario"] == "san-pedro-bay-2021"
    windows = labels["windows"]
    keys = {w["series"] for w in windows}
    assert {"vessels_waiting|san-pedro-bay", "vessels_waiting|USLAX", "vessels_waiting|USLGB",
            "dwell_truck_p90|USLAX", "dwell_truck_p90|USLGB"} <= keys  # fmt: skip
    semis = [w for w in windows if w["series"].startswith("days_of_supply|")]
    assert len(semis) == 2 * 2  # 2 sites x 2 semiconductor items of 20
    for w in windows:
        assert set(w) == {"series", "kind", "onset", "end", "limit_crossed", "description"}
        assert w["onset"] <= w["end"]
        if w["limit_crossed"] is not None:
            assert w["onset"] <= w["limit_crossed"] <= w["end"]
    queue = next(w for w in windows if w["series"] == "vessels_waiting|san-pedro-bay")
    assert "2020-10" <= queue["onset"][:7] <= "2020-12"  # build-up from late 2020
    assert "2021-08-15" <= queue["limit_crossed"][:10] <= "2021-10-15"  # past ~55 anchorages
    change = [e for e in labels["events"] if e["kind"] == "counting_change"]
    assert len(change) == 1 and change[0]["time"].startswith("2021-11-16")
    assert "vessels_waiting|san-pedro-bay" in change[0]["series"]


def test_time_range_is_respected(sim_run: Any, readers: Any) -> None:
    out = sim_run(start="2021-10-14", end="2021-10-15", seed=3, feeds=("positions",))
    pos = readers.positions(out / "positions.csv.gz")
    assert pos["t"].min() >= readers.epoch("2021-10-14T00:00:00")
    assert pos["t"].max() < readers.epoch("2021-10-16T00:00:00")
    assert np.all(np.diff(pos["t"]) >= 0)


@pytest.fixture(scope="module")
def random_run(sim_run: Any) -> Path:
    out: Path = sim_run(
        "random", ports=3, seed=7, start="2021-01-01", end="2021-03-31", sites=2, items=50
    )
    return out


def test_random_scenario_windows_show_in_the_data(random_run: Path, readers: Any) -> None:
    labels = json.loads((random_run / "labels.json").read_text())
    geo = load_geography(random_run / "geography.yaml", include_default=False)
    assert len(geo.ports) == 3 and all(len(c) == 5 for c in geo.ports)
    pos = readers.positions(random_run / "positions.csv.gz")
    queue = [w for w in labels["windows"] if w["kind"] == "queue_buildup"]
    assert queue, "expected at least one queue build-up over three ports and three months"
    noons = np.arange(
        readers.epoch("2021-01-02T12:00:00"), readers.epoch("2021-03-31T12:00:00"), 86400.0
    )
    for code, port in geo.ports.items():
        region = geo.regions[port.region]
        areas = shapely.union_all(
            [a.polygon for a in region.anchorages] + [w.polygon for w in region.waiting_areas]
        )
        counts = []
        for t in noons:
            idx = readers.last_report(pos, t, 3.0)
            inside = shapely.contains_xy(areas, pos["lon"][idx], pos["lat"][idx]) & (
                pos["sog"][idx] < 5
            )
            counts.append(int(inside.sum()))
        c = np.array(counts)
        mine = [w for w in queue if w["series"] == f"vessels_waiting|{code}"]
        in_window = np.zeros(noons.size, dtype=bool)
        for w in mine:
            in_window |= (noons >= readers.epoch(w["onset"])) & (noons <= readers.epoch(w["end"]))
        if not mine:
            assert c.max() <= 6
            continue
        assert c[in_window].max() >= c[~in_window].max() + 4, code


def test_random_scenario_other_feeds(random_run: Path, readers: Any) -> None:
    labels = json.loads((random_run / "labels.json").read_text())
    events = readers.read_csv(random_run / "containers.csv.gz")
    assert {r["port"] for r in events} <= {f"XZAA{c}" for c in "ABC"}
    inv = [w for w in labels["windows"] if w["kind"] == "inventory_drawdown"]
    assert inv
    rows = readers.read_csv(random_run / "inventory.csv.gz")
    w = inv[0]
    _, site, item = w["series"].split("|")
    series = [r for r in rows if r["site"] == site and r["item"] == item]
    dos = np.array([float(r["on_hand"]) / float(r["daily_usage"]) for r in series])
    t = np.array([readers.epoch(r["time"]) for r in series])
    inside = (t >= readers.epoch(w["onset"])) & (t <= readers.epoch(w["end"]))
    assert dos[inside].min() < 0.5 * np.median(dos[~inside])


def test_nmea_output_decodes(tmp_path: Path) -> None:
    pyais = pytest.importorskip("pyais")
    opts = ScenarioOptions(seed=2, ports=1, start="2021-02-01", end="2021-02-01", sites=1, items=1)
    summary = simulate(tmp_path, "random", opts, nmea=True, feeds=frozenset({"positions"}))
    assert summary.rows["positions.nmea.gz"] > 100
    with gzip.open(tmp_path / "positions.nmea.gz", "rt") as f:
        lines = [f.readline().split(" ", 1) for _ in range(200)]
    types = set()
    for stamp, sentence in lines:
        assert float(stamp) > 1.6e9 and sentence.startswith("!AIVDM")
        if sentence.startswith("!AIVDM,1,1"):
            msg = pyais.decode(sentence.strip())
            types.add(msg.msg_type)
            assert len(str(msg.mmsi)) == 9
        else:
            types.add(5)
    assert types == {1, 5}


def test_command_runs_and_summarises(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate_command,
        ["--scenario", "random", "--ports", "2", "--from", "2021-01-01", "--to", "2021-01-03",
         "--items", "5", "--sites", "2", "--out", str(tmp_path / "o"), "--seed", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for f in FILES:
        assert (tmp_path / "o" / f).exists()
    assert "positions.csv.gz" in result.output and "windows" in result.output


@pytest.mark.parametrize(("args", "option"), [
    (["--volume-scale", "0"], "--volume-scale"),
    (["--from", "2021-13-01"], "--from"),
    (["--from", "2021-05-01", "--to", "2021-04-01"], "--to"),
    (["--ports", "0"], "--ports"),
    (["--scenario", "nowhere"], "--scenario"),
    (["--items", "-3"], "--items"),
])  # fmt: skip
def test_bad_arguments_name_the_option(tmp_path: Path, args: list[str], option: str) -> None:
    result = CliRunner().invoke(simulate_command, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and option in error[0]
