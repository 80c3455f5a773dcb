"""AIS positions: the queue tells the published story, and the tracks look like AIS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely

from streams.geo import load_geography
from streams.tools.simulator import ScenarioOptions, build_scenario
from streams.tools.simulator.calibration import iso_to_epoch
from streams.tools.simulator.vessels import schedule_visits

REGION = load_geography().regions["san-pedro-bay"]
ANCHORAGES = shapely.union_all([a.polygon for a in REGION.anchorages])
WAITING_AREAS = shapely.union_all([w.polygon for w in REGION.waiting_areas])
BERTHS = shapely.union_all(
    [b.polygon for p in REGION.ports.values() for t in p.terminals for b in t.berths]
)


def queue_counts(pos: dict[str, np.ndarray], idx: np.ndarray) -> tuple[int, int]:
    """(container ships at anchor in the anchorages, ships waiting incl. drifting/offshore)."""
    cargo = idx[(pos["type"][idx] >= 70) & (pos["type"][idx] <= 79)]
    lon, lat = pos["lon"][cargo], pos["lat"][cargo]
    anchored = (pos["status"][cargo] == 1) & shapely.contains_xy(ANCHORAGES, lon, lat)
    loitering = shapely.contains_xy(WAITING_AREAS, lon, lat) & (pos["sog"][cargo] < 5)
    return int(anchored.sum()), int((anchored | loitering).sum())


# (day, what, published figure, tolerance); source in FACTS.md
FIGURES = [
    ("2020-09-15", "waiting", 1, 3),  # 0-2 on a normal day (gCaptain; WSJ)
    ("2021-02-01", "anchored", 40, 5),  # FreightWaves
    ("2021-06-15", "anchored", 9, 4),  # USC Sea Grant June count
    ("2021-09-15", "waiting", 65, 7),  # mid-September, 65 waiting
    ("2021-10-15", "anchored", 61, 5),  # USC Sea Grant October count, > 55 anchorages
    ("2021-11-16", "waiting", 86, 8),  # Marine Exchange, anchored or loitering
    ("2022-01-09", "waiting", 109, 8),  # Marine Exchange record
]


@pytest.mark.parametrize(("day", "what", "figure", "tol"), FIGURES)
def test_queue_matches_published_counts(
    sim_run: Any, readers: Any, day: str, what: str, figure: int, tol: int
) -> None:
    prev = np.datetime_as_string(np.datetime64(day) - np.timedelta64(1, "D"))
    out = sim_run(start=prev, end=day, seed=3, feeds=("positions",))
    pos = readers.positions(out / "positions.csv.gz")
    noon = readers.epoch(day + "T12:00:00")
    anchored, waiting = queue_counts(pos, readers.last_report(pos, noon, 3.0))
    value = anchored if what == "anchored" else waiting
    assert abs(value - figure) <= tol, (day, anchored, waiting)


def test_after_new_queuing_system_most_wait_offshore(sim_run: Any, readers: Any) -> None:
    out = sim_run(start="2022-01-08", end="2022-01-09", seed=3, feeds=("positions",))
    pos = readers.positions(out / "positions.csv.gz")
    idx = readers.last_report(pos, readers.epoch("2022-01-09T12:00:00"), 3.0)
    offshore = REGION.waiting_area("offshore")
    assert offshore is not None
    far = shapely.contains_xy(offshore.polygon, pos["lon"][idx], pos["lat"][idx]).sum()
    anchored, _ = queue_counts(pos, idx)
    assert far > anchored > 10


# Wait of ships arriving in the period. August is looser: with USC Sea Grant's 29 ships
# at anchor in August and ~7 berthings a day, first-come first-served gives about 5 days.
@pytest.mark.parametrize(("lo", "hi", "published", "tol"), [
    ("2021-09-08", "2021-09-22", 8.2, 1.0),  # mid-September average wait 8.2 days
    ("2021-08-01", "2021-08-31", 6.2, 2.0),  # August 6.2 days
])  # fmt: skip
def test_average_wait_matches_press_figures(lo: str, hi: str, published: float, tol: float) -> None:
    plan = build_scenario("san-pedro-bay-2021", ScenarioOptions(seed=4))
    visits = schedule_visits(plan.queues[0], np.random.default_rng(4), 0)
    sel = (visits.arrive >= iso_to_epoch(lo)) & (visits.arrive < iso_to_epoch(hi))
    wait_days = (visits.berth_start[sel] - visits.arrive[sel]) / 86400.0
    assert sel.sum() > 50
    assert abs(wait_days.mean() - published) <= tol


@pytest.fixture(scope="module")
def october(sim_run: Any, readers: Any) -> dict[str, np.ndarray]:
    out = sim_run(start="2021-10-14", end="2021-10-15", seed=3, feeds=("positions",))
    pos: dict[str, np.ndarray] = readers.positions(out / "positions.csv.gz")
    return pos


def test_anchored_and_moored_rows_are_in_their_areas(october: dict[str, np.ndarray]) -> None:
    pos = october
    anchored = pos["status"] == 1
    assert anchored.sum() > 1000
    assert shapely.contains_xy(ANCHORAGES, pos["lon"][anchored], pos["lat"][anchored]).all()
    assert (pos["sog"][anchored] <= 0.3).all()
    moored = pos["status"] == 5
    near_berth = shapely.dwithin(
        BERTHS, shapely.points(pos["lon"][moored], pos["lat"][moored]), 0.0005
    )
    assert moored.sum() > 100 and near_berth.all()
    assert (pos["sog"][moored] == 0).all()


def _haversine_nm(
    lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray
) -> np.ndarray:
    p0, p1 = np.radians(lat0), np.radians(lat1)
    dl = np.radians(lon1 - lon0)
    a = np.sin((p1 - p0) / 2) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(dl / 2) ** 2
    return np.asarray(2 * 3440.065 * np.arcsin(np.sqrt(a)))


def test_speeds_agree_with_successive_positions(october: dict[str, np.ndarray]) -> None:
    pos = october
    order = np.lexsort((pos["t"], pos["mmsi"]))
    m, t = pos["mmsi"][order], pos["t"][order]
    lon, lat, sog, st = (
        pos["lon"][order],
        pos["lat"][order],
        pos["sog"][order],
        pos["status"][order],
    )
    pair = (m[1:] == m[:-1]) & (t[1:] - t[:-1] >= 60) & (t[1:] - t[:-1] <= 1200)
    dist = _haversine_nm(lon[:-1], lat[:-1], lon[1:], lat[1:])
    implied = dist / ((t[1:] - t[:-1]) / 3600.0)
    fast = pair & (st[1:] == 0) & (st[:-1] == 0) & (sog[1:] > 5) & (sog[:-1] > 5)
    assert fast.sum() > 200
    ratio = implied[fast] / ((sog[1:] + sog[:-1])[fast] / 2)
    # Course changes at waypoints shorten the straight line a little; never longer.
    assert np.quantile(ratio, 0.95) < 1.08 and np.quantile(ratio, 0.5) > 0.95
    assert ((sog[1:][fast] >= 5.5) & (sog[1:][fast] <= 18.0)).all()
    sea = (st == 0) & (sog > 9)
    assert (sog[sea] <= 18).all() and (sog[sea] >= 10).mean() > 0.7
    still = pair & (st[1:] == 1) & (st[:-1] == 1)
    assert implied[still].max() < 1.0  # swinging at anchor, no jumps


def test_reporting_is_irregular_with_gaps(october: dict[str, np.ndarray]) -> None:
    pos = october
    order = np.lexsort((pos["t"], pos["mmsi"]))
    m, t, st = pos["mmsi"][order], pos["t"][order], pos["status"][order]
    same = (m[1:] == m[:-1]) & (st[1:] == 1) & (st[:-1] == 1)
    dt = np.diff(t)[same]
    typical = dt[dt < 1200]
    assert 540 < np.median(typical) < 660 and typical.std() > 30
    assert (dt > 3600).sum() >= 5


def test_identifiers(october: dict[str, np.ndarray]) -> None:
    pos = october
    mmsi = pos["mmsi"]
    assert all(len(x) == 9 and x.isdigit() for x in set(mmsi.tolist()))
    prefixes = {x[:2] for x in mmsi.tolist()}
    assert "00" in prefixes and "99" in prefixes  # base station, aid to navigation
    ships = pos["type"] >= 70
    assert set(np.unique(pos["type"][ships]).tolist()) <= {70.0, 71.0}
    for imo in set(pos["imo"][ships].tolist()):
        d = [int(c) for c in imo[3:]]
        assert imo.startswith("IMO") and len(d) == 7
        assert sum(a * w for a, w in zip(d[:6], [7, 6, 5, 4, 3, 2], strict=True)) % 10 == d[6]
    non_vessel = np.array([x.startswith(("00", "99", "111")) for x in mmsi.tolist()])
    assert np.isnan(pos["type"][non_vessel]).all()
