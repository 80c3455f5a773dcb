"""Throughput of the vessel feature engine (geofencing included) against a per-row baseline.

Synthetic AIS position rows (about 5 million over 2000 vessels by default, in
time order, cut into batches) go through :class:`VesselFeatures`. The
baseline, measured in the same run on a subset and scaled to rows per second,
is a straightforward per-row Python loop: ``shapely.Point.within`` against
every zone, then a dict of per-vessel state updated row by row.

It then times the inventory engine on a million ``site|item`` series (one
snapshot each, for a day of new series and a day of known ones).

Usage: ``python bench/bench_features.py [--rows N] [--vessels N] [--batch N]
[--inventory-series N]``.
Prints the figures and the ratio; a benchmark, never a test gate.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import shapely

from streams.features.geofence import KIND_ANCHORAGE, KIND_BERTH, KIND_WAITING, Geofence
from streams.features.inventory import InventoryConfig, InventoryFeatures
from streams.features.vessels import VesselConfig, VesselFeatures
from streams.features.windows import WindowConfig, merge_partials
from streams.feeds.codec import INVENTORY_DTYPE, POSITION_DTYPE
from streams.geo import load_geography

T0 = 1_634_000_400_000


def synthetic(fence: Geofence, n_rows: int, n_vessels: int, seed: int = 1) -> Any:
    """Rows in time order: a third near anchorages, a sixth at berths, the rest at sea."""
    rng = np.random.default_rng(seed)
    cent = shapely.centroid(np.array(fence.polygons, dtype=object))
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    anch = np.flatnonzero(fence.zone_kind == KIND_ANCHORAGE)
    berth = np.flatnonzero(fence.zone_kind == KIND_BERTH)
    per = n_rows // n_vessels
    n = per * n_vessels
    v = np.repeat(np.arange(n_vessels), per)
    step = np.repeat(np.arange(per), 1)[None, :].repeat(n_vessels, 0).ravel()
    # each vessel has a home spot; activity phase changes every 200 reports
    phase = (step // 200 + v) % 6
    spot_a = anch[rng.integers(0, len(anch), n_vessels)][v]
    spot_b = berth[rng.integers(0, len(berth), n_vessels)][v]
    lon = rng.uniform(-118.6, -117.9, n)
    lat = rng.uniform(33.3, 33.8, n)
    at_anchor = phase < 2
    at_berth = phase == 3
    lon[at_anchor] = cx[spot_a[at_anchor]] + rng.normal(0, 0.001, at_anchor.sum())
    lat[at_anchor] = cy[spot_a[at_anchor]] + rng.normal(0, 0.001, at_anchor.sum())
    lon[at_berth] = cx[spot_b[at_berth]] + rng.normal(0, 0.0003, at_berth.sum())
    lat[at_berth] = cy[spot_b[at_berth]] + rng.normal(0, 0.0002, at_berth.sum())
    out = np.zeros(n, dtype=POSITION_DTYPE)
    out["ts_ms"] = T0 + step * 180_000 + v * 37 + rng.integers(0, 60_000, n)
    out["mmsi"] = 366_000_000 + v * 7
    out["lat"], out["lon"] = lat, lon
    out["sog"] = np.where(at_anchor | at_berth, rng.uniform(0, 0.8, n), rng.uniform(5, 15, n))
    out["nav_status"] = np.where(at_anchor, 1, np.where(at_berth, 5, 0))
    out["heading"], out["cog"], out["msg_type"] = 511, np.nan, 1
    return out[np.argsort(out["ts_ms"], kind="stable")]


def baseline(fence: Geofence, rows: Any, cfg: VesselConfig) -> int:
    """Per-row loop: Point.within against every zone, then per-vessel state in dicts."""
    state: dict[int, dict[str, Any]] = {}
    arrivals = 0
    for r in rows.tolist():
        ts, mmsi, lat, lon, sog, nav = r[0], r[1], r[2], r[3], r[4], r[7]
        p = shapely.Point(lon, lat)
        zone = -1
        for z, poly in enumerate(fence.polygons):
            if p.within(poly) and ts >= fence.zone_active_ms[z]:
                zone = z
                if fence.zone_kind[z] == KIND_BERTH:
                    break
        kind = int(fence.zone_kind[zone]) if zone >= 0 else 0
        s = state.setdefault(mmsi, {"run": None, "berth": -1, "episode": None})
        cand = (kind in (KIND_ANCHORAGE, KIND_WAITING) and sog < cfg.slow_knots) or nav == 1
        if cand:
            s["run"] = s["run"] or ts
            if ts - s["run"] >= cfg.min_dwell_s * 1000 and s["episode"] is None:
                s["episode"] = s["run"]
        else:
            s["run"] = None
        if kind == KIND_BERTH:
            if s["berth"] < 0:
                arrivals += 1
                s["episode"] = None
            s["berth"] = int(fence.zone_terminal[zone])
        elif sog >= cfg.slow_knots:
            s["berth"] = -1
    return arrivals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--vessels", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--baseline-rows", type=int, default=20_000)
    ap.add_argument("--inventory-series", type=int, default=1_000_000, help="0 to skip")
    args = ap.parse_args()

    geo = load_geography()
    t = time.perf_counter()
    fence = Geofence(geo)
    print(f"geofence index: {fence.n_zones} zones, {fence.nx}x{fence.ny} grid, "
          f"built in {time.perf_counter() - t:.2f} s")  # fmt: skip
    t = time.perf_counter()
    rows = synthetic(fence, args.rows, args.vessels)
    print(f"synthetic feed: {len(rows):,} rows, {args.vessels} vessels, "
          f"made in {time.perf_counter() - t:.1f} s")  # fmt: skip

    cfg = VesselConfig(window=WindowConfig(interval_s=3600, lateness_s=900))
    eng = VesselFeatures(fence, cfg)
    parts = []
    t = time.perf_counter()
    for i in range(0, len(rows), args.batch):
        parts.append(eng.process(rows[i : i + args.batch]))
    parts.append(eng.flush())
    engine_s = time.perf_counter() - t
    pts = merge_partials(parts)
    engine_rate = len(rows) / engine_s
    print(f"engine:   {engine_rate:>12,.0f} rows/s  ({engine_s:.2f} s, batches of {args.batch:,}, "
          f"{len(pts.key):,} feature points)")  # fmt: skip

    sub = rows[: args.baseline_rows]
    t = time.perf_counter()
    baseline(fence, sub, cfg)
    base_s = time.perf_counter() - t
    base_rate = len(sub) / base_s
    print(
        f"baseline: {base_rate:>12,.0f} rows/s  (per-row Point.within loop on {len(sub):,} rows,"
        f" {base_s:.2f} s; scaled to {len(rows):,} rows: {len(rows) / base_rate:.0f} s)"
    )
    print(f"ratio:    {engine_rate / base_rate:>12,.1f}x")
    print(f"goal 1,000,000 rows/s: {'met' if engine_rate >= 1e6 else 'NOT met'}")
    if args.inventory_series:
        bench_inventory(args.inventory_series)


def bench_inventory(n: int) -> None:
    """One snapshot per series for two days, through the inventory engine and the merge."""
    snap = np.zeros(n, dtype=INVENTORY_DTYPE)
    snap["site"] = np.char.add(b"SITE", (np.arange(n) % 200).astype("S3"))
    snap["item"] = np.char.add(b"ITEM-", np.arange(n).astype("S8"))
    snap["on_hand"] = np.arange(n) % 1000
    snap["daily_usage"] = 10.0
    eng = InventoryFeatures(InventoryConfig(window=WindowConfig(interval_s=86_400, lateness_s=0)))
    for day in range(2):
        snap["ts_ms"] = T0 + day * 86_400_000 + np.arange(n) % 3_600_000
        snap["on_hand"] = np.maximum(snap["on_hand"] - 10.0, 0.0)
        t = time.perf_counter()
        parts = [eng.process(snap), eng.flush()]
        t_proc = time.perf_counter() - t
        pts = merge_partials(parts)
        t_all = time.perf_counter() - t
        label = "new series" if day == 0 else "known series"
        print(f"inventory, {n:,} {label}: engine {n / t_proc:,.0f} snapshots/s ({t_proc:.2f} s), "
              f"with merge {t_all:.2f} s, {len(pts.key):,} points")  # fmt: skip


if __name__ == "__main__":
    main()
