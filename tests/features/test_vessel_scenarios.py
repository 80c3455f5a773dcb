"""Vessel engine scenarios with answers worked out in the test."""

from __future__ import annotations

import numpy as np
import pytest

from streams.features.geofence import Geofence
from streams.features.vessels import VesselConfig, VesselFeatures
from streams.features.windows import FeaturePoints, WindowConfig, merge_partials
from streams.geo import load_geography
from tests.features.helpers import MIN, T0, H, centre, position_rows

GEO = load_geography()
FENCE = Geofence(GEO)
REGION = GEO.regions["san-pedro-bay"]
ANCH = {a.name: centre(a.polygon) for a in REGION.anchorages}
BERTH = {b.name: centre(b.polygon) for p in REGION.ports.values() for t in p.terminals
         for b in t.berths}  # fmt: skip
DRIFT = centre(REGION.waiting_area("drifting").polygon)  # type: ignore[union-attr]
OFFSHORE = centre(REGION.waiting_area("offshore").polygon)  # type: ignore[union-attr]
SEA = (-118.6, 33.3)
CFG = VesselConfig(window=WindowConfig(interval_s=3600, lateness_s=0))


def track(mmsi: int, legs: list[tuple[tuple[float, float], float, int, int, int]]) -> list[tuple]:
    """Legs of (lon/lat, sog, nav status, start ms, end ms), one report every 3 minutes."""
    rows = []
    for (lon, lat), sog, nav, a, b in legs:
        rows += [(t, mmsi, lat, lon, sog, nav) for t in range(a, b, 3 * MIN)]
    return rows


def run(rows: list[tuple], cfg: VesselConfig = CFG) -> tuple[FeaturePoints, VesselFeatures]:
    arr = position_rows(rows)
    arr = arr[np.argsort(arr["ts_ms"], kind="stable")]
    eng = VesselFeatures(FENCE, cfg)
    return merge_partials([eng.process(arr), eng.flush()]), eng


def series(pts: FeaturePoints, key: str) -> dict[int, float]:
    sel = pts.key == key.encode()
    return dict(zip(pts.end_s[sel].tolist(), pts.value[sel].tolist(), strict=True))


def test_anchor_three_hours_then_berth() -> None:
    t_anchor, t_berth = T0 + 30 * MIN, T0 + 30 * MIN + 3 * H
    rows = track(366_100_001, [
        (SEA, 12.0, 0, T0, t_anchor),
        (ANCH["LA-O3"], 0.1, 0, t_anchor, t_berth - 6 * MIN),  # slow, status not set
        ((-118.24, 33.70), 6.0, 0, t_berth - 6 * MIN, t_berth),
        (BERTH["APM-2"], 0.0, 5, t_berth, t_berth + 5 * H),
        (SEA, 12.0, 0, t_berth + 5 * H, t_berth + 6 * H),
    ])  # fmt: skip
    pts, eng = run(rows)
    arrivals = series(pts, "arrivals|USLAX")
    end_of_arrival = (t_berth // H + 1) * H // 1000
    assert {k: v for k, v in arrivals.items() if v} == {end_of_arrival: 1.0}
    assert sum(series(pts, "arrivals|san-pedro-bay").values()) == 1
    assert sum(series(pts, "arrivals|USLGB").values()) == 0
    assert sum(series(pts, "departures|USLAX").values()) == 1
    # first slow report in the anchorage to the first report at the berth
    expected_wait = (t_berth - t_anchor) / H
    assert series(pts, "wait_p50|USLAX")[end_of_arrival] == pytest.approx(expected_wait)
    assert series(pts, "wait_p90|san-pedro-bay")[end_of_arrival] == pytest.approx(expected_wait)
    assert np.isnan(series(pts, "wait_p50|USLGB")[end_of_arrival])
    table = eng.vessel_table()
    assert table["mmsi"].tolist() == [366_100_001]
    assert table["waiting_since_ms"].tolist() == [-(2**62)]  # episode closed at the berth
    assert table["terminal"].tolist() == [-1]  # it has left
    # waiting at the interval ends once 30 minutes of slow reports are in, until it leaves
    waiting = series(pts, "vessels_waiting|USLAX")
    for end_s, v in waiting.items():
        e = end_s * 1000
        assert v == (1.0 if t_anchor + 30 * MIN < e <= t_berth - 6 * MIN else 0.0), end_s


def test_base_station_and_aids_never_count() -> None:
    rows = []
    for mmsi in (3_669_999, 993_669_001, 111_366_001, 970_123_456, 3_660_000):
        rows += track(mmsi, [(ANCH["LB-O2"], 0.0, 1, T0, T0 + 5 * H)])
    rows += track(366_100_002, [(ANCH["LB-O2"], 0.0, 1, T0, T0 + 5 * H)])
    pts, eng = run(rows)
    assert eng.stats["excluded_mmsi"] == 5 * 100
    assert max(series(pts, "vessels_waiting|USLGB").values()) == 1.0
    assert max(series(pts, "vessels_waiting|san-pedro-bay").values()) == 1.0


def test_status_at_anchor_counts_at_once_and_for_the_region_only_outside_anchorages() -> None:
    rows = track(366_100_003, [((-118.05, 33.60), 0.0, 1, T0, T0 + 2 * H)])  # in the bay box
    rows += track(366_100_004, [(DRIFT, 0.5, 0, T0, T0 + 2 * H)])  # drifting zone, slow
    pts, eng = run(rows)
    region = series(pts, "vessels_waiting|san-pedro-bay")
    assert region[(T0 + H) // 1000] == 2.0
    table = eng.vessel_table()
    assert table["waiting"].all() and (table["port"] == -1).all()
    # the drifting ship waits from its first slow report, confirmed 30 minutes later
    assert table["waiting_since_ms"].tolist() == [T0, T0]
    assert sum(series(pts, "vessels_waiting|USLAX").values()) == 0
    assert sum(series(pts, "vessels_waiting|USLGB").values()) == 0


def test_offshore_queue_area_counts_only_from_its_start_date() -> None:
    before = 1_636_934_400_000  # 2021-11-15 00:00 UTC
    after = 1_637_107_200_000  # 2021-11-17 00:00 UTC
    for t0, expect in ((before, 0.0), (after, 1.0)):
        rows = track(366_100_005, [(OFFSHORE, 0.3, 0, t0, t0 + 3 * H)])
        pts, _ = run(rows)
        assert series(pts, "vessels_waiting|san-pedro-bay")[(t0 + 2 * H) // 1000] == expect


def test_cargo_only_excludes_known_other_types_but_keeps_unknown() -> None:
    rows = [(*r, 60) for r in track(366_100_006, [(ANCH["LA-O1"], 0.0, 1, T0, T0 + 2 * H)])]
    rows += [(*r, 0) for r in track(366_100_007, [(ANCH["LA-O2"], 0.0, 1, T0, T0 + 2 * H)])]
    rows += [(*r, 71) for r in track(366_100_008, [(ANCH["LA-O4"], 0.0, 1, T0, T0 + 2 * H)])]
    all_pts, _ = run(rows)
    cargo_pts, eng = run(rows, VesselConfig(window=CFG.window, cargo_only=True))
    end = (T0 + H) // 1000
    assert series(all_pts, "vessels_waiting|USLAX")[end] == 3.0
    assert series(cargo_pts, "vessels_waiting|USLAX")[end] == 2.0
    assert eng.stats["excluded_ship_type"] == 40


def test_a_late_record_is_counted_late_and_kept_out_of_the_windows() -> None:
    berth = BERTH["LBCT-1"]
    approach = track(366_100_010, [((-118.2, 33.70), 8.0, 0, T0, T0 + H)])
    ship = track(366_100_009, [(SEA, 10.0, 0, T0, T0 + 3 * H)])  # moves the watermark on
    eng = VesselFeatures(FENCE, CFG)
    out = [eng.process(position_rows(sorted(approach + ship)))]
    # 366100010 reaches its berth at T0+1h05, reported after T0+2h has closed
    late = position_rows([(T0 + H + 5 * MIN, 366_100_010, berth[1], berth[0], 0.0, 5)])
    out.append(eng.process(late))
    out.append(eng.flush())
    pts = merge_partials(out)
    assert eng.stats["late"] == 1 and eng.stats["late_applied"] == 1
    assert sum(series(pts, "arrivals|USLGB").values()) == 0
    table = eng.vessel_table()
    at_berth = table["terminal"][table["mmsi"] == 366_100_010]
    assert FENCE.terminal_codes[int(at_berth[0])] == "LBCT"  # the state did move on
    # the same records on time: one arrival
    pts2, eng2 = run([*approach, *ship, (T0 + H + 5 * MIN, 366_100_010, berth[1], berth[0], 0, 5)])
    assert eng2.stats["late"] == 0
    assert sum(series(pts2, "arrivals|USLGB").values()) == 1


def test_silent_waiting_vessel_stops_counting_after_max_gap() -> None:
    rows = track(366_100_011, [(ANCH["LB-O5"], 0.0, 1, T0, T0 + H)])
    rows += track(366_100_012, [(SEA, 10.0, 0, T0, T0 + 10 * H)])  # keeps the clock going
    pts, _ = run(rows)
    waiting = series(pts, "vessels_waiting|USLGB")
    last_report = T0 + H - 3 * MIN
    gap = VesselConfig().max_gap_s * 1000
    assert last_report - T0 + gap < 10 * H  # the clock runs past the cut-off
    for end_s, v in waiting.items():
        e = end_s * 1000
        assert v == (1.0 if T0 < e <= last_report + gap else 0.0), end_s
    # interval ends T0+1h .. T0+gap count; one hour later the last report is too old
    assert sum(waiting.values()) == gap // H


def test_wait_in_the_offshore_queue_runs_through_the_passage_to_the_berth() -> None:
    t0 = 1_637_107_200_000  # 2021-11-17 00:00 UTC, the offshore queue is in force
    ox, oy = OFFSHORE
    bx, by = BERTH["TTI-1"]
    steps = 40  # 12 hours of passage, 18 minutes apart, on the straight line in
    passage = [
        (t0 + 20 * H + k * 18 * MIN, 366_100_013, oy + (by - oy) * k / steps,
         ox + (bx - ox) * k / steps, 12.0, 0)
        for k in range(steps)
    ]  # fmt: skip
    rows = track(366_100_013, [(OFFSHORE, 0.5, 0, t0, t0 + 20 * H)]) + passage
    t_berth = t0 + 20 * H + steps * 18 * MIN
    rows += track(366_100_013, [(BERTH["TTI-1"], 0.0, 5, t_berth, t_berth + 2 * H)])
    pts, _ = run(rows)
    end = (t_berth // H + 1) * H // 1000
    assert series(pts, "wait_p50|USLGB")[end] == pytest.approx((t_berth - t0) / H)
    assert series(pts, "vessels_waiting|san-pedro-bay")[(t0 + 10 * H) // 1000] == 1.0
    assert sum(series(pts, "vessels_waiting|USLGB").values()) == 0  # offshore: region only


def test_ship_loitering_offshore_at_two_knots_is_waiting() -> None:
    # Ships in the offshore queue steam slowly on a loiter track rather than anchor.
    t0 = 1_637_107_200_000  # 2021-11-17 00:00 UTC, the offshore queue is in force
    rows = track(366_100_021, [(OFFSHORE, 2.0, 0, t0, t0 + 6 * H)])
    rows += track(366_100_022, [(OFFSHORE, 8.0, 0, t0, t0 + 6 * H)])  # passing through
    pts, _ = run(rows)
    waiting = series(pts, "vessels_waiting|san-pedro-bay")
    assert waiting[(t0 + 3 * H) // 1000] == 1.0
    assert max(waiting.values()) == 1.0
