"""Synthetic feeds with known structure for the feature tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from streams.features.windows import FeaturePoints
from streams.feeds.codec import CONTAINER_EVENT_DTYPE, INVENTORY_DTYPE, POSITION_DTYPE
from streams.geo import Geography

H = 3_600_000
MIN = 60_000
T0 = 1_634_000_400_000  # 2021-10-12 01:00 UTC, a multiple of an hour
assert T0 % H == 0


def centre(poly: Any) -> tuple[float, float]:
    p = shapely.centroid(poly)
    return float(p.x), float(p.y)


def position_rows(rows: list[tuple[Any, ...]]) -> npt.NDArray[Any]:
    """(ts_ms, mmsi, lat, lon, sog, nav_status[, ship_type]) tuples to POSITION_DTYPE."""
    out = np.zeros(len(rows), dtype=POSITION_DTYPE)
    for i, r in enumerate(rows):
        out[i]["ts_ms"], out[i]["mmsi"], out[i]["lat"], out[i]["lon"] = r[0], r[1], r[2], r[3]
        out[i]["sog"], out[i]["nav_status"] = r[4], r[5]
        out[i]["ship_type"] = r[6] if len(r) > 6 else 0
        out[i]["cog"], out[i]["heading"], out[i]["msg_type"] = np.nan, 511, 1
    return out


def synthetic_positions(
    geo: Geography, seed: int, n_vessels: int = 12, hours: int = 30, step_ms: int = 6 * MIN
) -> npt.NDArray[Any]:
    """Ships that come in from sea, may anchor, berth, and leave; sorted by time."""
    rng = np.random.default_rng(seed)
    region = geo.regions["san-pedro-bay"]
    anchors = [centre(a.polygon) for a in region.anchorages]
    berths = [centre(b.polygon) for p in region.ports.values() for t in p.terminals
              for b in t.berths]  # fmt: skip
    drift = centre(region.waiting_area("drifting").polygon)  # type: ignore[union-attr]
    sea = (-118.6, 33.3)
    rows: list[tuple[Any, ...]] = []
    for v in range(n_vessels):
        mmsi = 366_000_000 + v * 1013
        t = T0 + int(rng.integers(0, 6 * H))
        legs: list[tuple[tuple[float, float], float, int, int]] = [(sea, 12.0, 0, int(H))]
        if rng.random() < 0.7:
            spot = drift if rng.random() < 0.2 else anchors[int(rng.integers(len(anchors)))]
            legs.append((spot, 0.2, 1, int(rng.integers(1, 10) * H + rng.integers(0, H))))
        legs.append(((-118.23, 33.70), 6.0, 0, int(rng.integers(10, 40) * MIN)))
        legs.append((berths[int(rng.integers(len(berths)))], 0.0, 5, int(rng.integers(3, 9) * H)))
        legs.append((sea, 11.0, 0, int(2 * H)))
        for (lon, lat), sog, nav, dur in legs:
            end = t + dur
            while t < end and t < T0 + hours * H:
                jit = rng.normal(0, 0.0002, 2)
                rows.append((t, mmsi, lat + jit[1], lon + jit[0], sog, nav))
                t += step_ms + int(rng.integers(-MIN, MIN))
    # noise: a base station and an aid to navigation inside the anchorage
    for k in range(20):
        rows.append((T0 + k * 7 * MIN, 3_669_999, anchors[0][1], anchors[0][0], 0.0, 1))
        rows.append((T0 + k * 9 * MIN, 993_661_234, anchors[1][1], anchors[1][0], 0.0, 1))
    out = position_rows(rows)
    return out[np.argsort(out["ts_ms"], kind="stable")]


def jumble(arr: npt.NDArray[Any], seed: int, window: int = 8, n_late: int = 5) -> npt.NDArray[Any]:
    """Local reordering within small windows, plus a few records moved far back."""
    rng = np.random.default_rng(seed)
    key = np.arange(len(arr)) + rng.uniform(0, window, len(arr))
    late = rng.choice(len(arr), size=min(n_late, len(arr)), replace=False)
    key[late] += len(arr) // 3
    return arr[np.argsort(key, kind="stable")]


def container_events(seed: int, n: int = 200, days: int = 20) -> npt.NDArray[Any]:
    """Discharges followed (mostly) by a truck or rail gate-out, with noise; by time."""
    from streams.feeds.identifiers import iso6346_check_digit

    rng = np.random.default_rng(seed)
    rows: list[tuple[Any, ...]] = []
    terms = [(b"USLAX", b"APM"), (b"USLAX", b"TRAPAC"), (b"USLGB", b"LBCT")]
    for i in range(n):
        body = f"MSCU{i:06d}"
        num = (body + str(iso6346_check_digit(body))).encode()
        port, term = terms[int(rng.integers(len(terms)))]
        t = T0 + int(rng.integers(0, days * 24 * H))
        rows.append((t, num, 1, port, term))
        u = rng.random()
        if u < 0.85:
            ev = 2 if rng.random() < 0.7 else 3
            rows.append((t + int(rng.exponential(4 * 24 * H)) + MIN, num, ev, port, term))
        if u > 0.95:
            rows.append(rows[-1])  # exact duplicate
        if 0.93 < u <= 0.95:
            rows.append((t + H, num, 1, port, term))  # second discharge
    for j in range(5):  # gate-outs without a discharge
        body = f"TGHU{j:06d}"
        num = (body + str(iso6346_check_digit(body))).encode()
        rows.append((T0 + int(rng.integers(0, days * 24 * H)), num, 2, b"USLGB", b"LBCT"))
    out = np.array(rows, dtype=CONTAINER_EVENT_DTYPE)
    return out[np.argsort(out["ts_ms"], kind="stable")]


def inventory_snapshots(seed: int, sites: int = 3, items: int = 20, days: int = 15) -> Any:
    """Daily snapshots of on-hand stock running down at a known usage, by time."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(sites):
        for i in range(items):
            usage = float(rng.choice([0.0, 10.0, 25.0, 40.0]))
            stock = float(rng.integers(100, 2000))
            for d in range(days):
                t = T0 + d * 24 * H + int(rng.integers(0, 6 * H))
                rows.append((t, f"SITE{s}".encode(), f"ITEM-{i:03d}".encode(), stock, usage))
                stock = max(stock - usage * rng.uniform(0.8, 1.3), 0.0)
    out = np.array(rows, dtype=INVENTORY_DTYPE)
    return out[np.argsort(out["ts_ms"], kind="stable")]


def split_at(arr: npt.NDArray[Any], cuts: list[int]) -> list[npt.NDArray[Any]]:
    pts = sorted({min(max(c, 0), len(arr)) for c in cuts})
    return [arr[a:b] for a, b in zip([0, *pts], [*pts, len(arr)], strict=True)]


def assert_points_identical(a: FeaturePoints, b: FeaturePoints) -> None:
    assert a.key.tolist() == b.key.tolist()
    assert a.end_s.tolist() == b.end_s.tolist()
    np.testing.assert_array_equal(a.value, b.value)  # NaN == NaN here, bit-exact otherwise
    assert a.value.tobytes() == b.value.tobytes()


def delay_entity(arr: npt.NDArray[Any], mask: npt.NDArray[np.bool_], gap: int) -> npt.NDArray[Any]:
    """Move the records selected by ``mask`` ``gap`` positions later in arrival order.

    They keep their relative order, so the first of them is usually late but
    newer than anything its entity sent before: the "late but applied" path.
    """
    idx = np.arange(len(arr), dtype=np.float64)
    idx[mask] += gap
    return arr[np.argsort(idx, kind="stable")]


def assert_same_state(a: bytes, b: bytes) -> None:
    """Two snapshots hold the same arrays and metadata (zip timestamps aside)."""
    from streams.features._state import load_npz

    arr_a, meta_a = load_npz(a)
    arr_b, meta_b = load_npz(b)
    assert meta_a == meta_b
    assert sorted(arr_a) == sorted(arr_b)
    for k in arr_a:
        assert arr_a[k].dtype == arr_b[k].dtype, k
        assert arr_a[k].tobytes() == arr_b[k].tobytes(), k
