"""Inventory engine: days of supply, drawdown and site aggregates with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from streams.features.inventory import InventoryConfig, InventoryFeatures, days_of_supply
from streams.features.windows import WindowConfig, merge_partials
from streams.feeds.codec import INVENTORY_DTYPE
from tests.features.helpers import T0, H

DAY = 24 * H
CFG = InventoryConfig(window=WindowConfig(interval_s=86_400, lateness_s=0))


def snapshots(rows: list[tuple[int, str, str, float, float]]) -> np.ndarray:
    arr = np.array(
        [(t, s.encode(), i.encode(), oh, u) for t, s, i, oh, u in rows], dtype=INVENTORY_DTYPE
    )
    return arr[np.argsort(arr["ts_ms"], kind="stable")]


def test_usage_zero_or_less_is_explicit() -> None:
    dos = days_of_supply(np.array([10.0, 10.0, 0.0, 0.0, 6.0]), np.array([2.0, 0.0, 0.0, 3.0, -1]))
    assert dos[0] == 5.0 and np.isposinf(dos[1]) and np.isnan(dos[2])
    assert dos[3] == 0.0 and np.isposinf(dos[4])


def test_linear_rundown_has_a_drawdown_of_one_day_per_day() -> None:
    usage = 25.0
    rows = [(T0 + d * DAY, "FAB", "MCU", 1000.0 - usage * d, usage) for d in range(12)]
    eng = InventoryFeatures(CFG)
    pts = merge_partials([eng.process(snapshots(rows)), eng.flush()]).as_dict()
    ends = sorted(e for k, e in pts if k == "drawdown|FAB|MCU")
    assert len(ends) == 12
    assert np.isnan(pts[("drawdown|FAB|MCU", ends[0])])  # one snapshot: no rate yet
    for d, e in enumerate(ends):
        assert pts[("days_of_supply|FAB|MCU", e)] == pytest.approx(40.0 - d)
        if d:
            assert pts[("drawdown|FAB|MCU", e)] == pytest.approx(1.0, rel=1e-12)


def test_drawdown_is_an_exponentially_weighted_rate() -> None:
    # Days of supply 40, 38, 37 at days 0, 1, 3: raw rates 2.0 then 0.5 per day.
    rows = [(T0, "S", "I", 400.0, 10.0), (T0 + DAY, "S", "I", 380.0, 10.0),
            (T0 + 3 * DAY, "S", "I", 370.0, 10.0)]  # fmt: skip
    cfg = InventoryConfig(window=CFG.window, drawdown_window_days=4.0)
    eng = InventoryFeatures(cfg)
    pts = merge_partials([eng.process(snapshots(rows)), eng.flush()]).as_dict()
    alpha = 1 - np.exp(-2.0 / 4.0)
    expect = 2.0 + alpha * (0.5 - 2.0)
    last_end = (T0 + 3 * DAY) // DAY * DAY // 1000 + 86_400
    assert pts[("drawdown|S|I", last_end)] == pytest.approx(expect, rel=1e-12)


def test_site_aggregates_over_items_with_snapshots_in_the_interval() -> None:
    rng = np.random.default_rng(1)
    on_hand = rng.uniform(0, 500, 40)
    usage = rng.choice([0.0, 10.0, 20.0, 50.0], 40)
    on_hand[:3] = 0.0
    usage[:3] = 0.0  # undefined days of supply: left out of the percentiles
    rows = [(T0 + i * 60_000, "FAB", f"I{i:02d}", float(on_hand[i]), float(usage[i]))
            for i in range(40)]  # fmt: skip
    rows.append((T0 + 5 * 60_000 + 1, "FAB", "I05", 1.0, 10.0))  # a later snapshot of I05 wins
    rows.append((T0 + 2 * DAY, "FAB", "I07", 1.0, 10.0))  # next day: not in this interval
    eng = InventoryFeatures(CFG)
    pts = merge_partials([eng.process(snapshots(rows)), eng.flush()]).as_dict()
    latest = dict(
        zip([f"I{i:02d}" for i in range(40)], days_of_supply(on_hand, usage), strict=True)
    )
    latest["I05"] = 0.1
    vals = np.array([v for v in latest.values() if not np.isnan(v)])
    end = (T0 // DAY + 1) * DAY // 1000
    # numpy's percentile with inf sorts inf last; compare on the finite side
    for q in (10, 50):
        want = np.percentile(vals, q)
        got = pts[(f"days_of_supply_p{q}|FAB", end)]
        assert got == pytest.approx(want) if np.isfinite(want) else np.isposinf(got)
    assert pts[("below_limit|FAB", end)] == float((vals < 5.0).sum())
    assert pts[("days_of_supply|FAB|I05", end)] == pytest.approx(0.1)
    assert ("days_of_supply|FAB|I07", end + 2 * 86_400) in pts
    assert pts[("below_limit|FAB", end + 2 * 86_400)] == 1.0


def test_many_series_in_one_batch() -> None:
    # a million series run in bench/bench_features.py; a quarter of that keeps the suite quick
    n = 250_000
    arr = np.zeros(n, dtype=INVENTORY_DTYPE)
    arr["ts_ms"] = T0 + np.arange(n) % 3600_000
    arr["site"] = np.char.add(b"S", (np.arange(n) % 50).astype("S2"))
    arr["item"] = np.char.add(b"ITEM", np.arange(n).astype("S7"))
    arr["on_hand"] = np.arange(n) % 1000
    arr["daily_usage"] = 10.0
    eng = InventoryFeatures(CFG)
    part = eng.process(arr)
    part2 = eng.flush()
    pts = merge_partials([part, part2])
    assert len(eng.series) == n
    sel = pts.key == b"below_limit|S0"
    assert pts.value[sel].tolist() == [
        float(((np.arange(n) % 50 == 0) & (np.arange(n) % 1000 < 50)).sum())
    ]
