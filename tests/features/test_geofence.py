"""The grid index classifies points exactly like plain shapely predicates."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.features.geofence import KIND_BERTH, Geofence
from streams.geo import load_geography

FENCE = Geofence(load_geography())
RANK = {3: 0, 1: 1, 2: 2}  # berth beats anchorage beats waiting area


def brute(lon: np.ndarray, lat: np.ndarray, ts: np.ndarray) -> np.ndarray:
    out = np.full(len(lon), -1)
    for z in sorted(range(FENCE.n_zones), key=lambda z: -RANK[int(FENCE.zone_kind[z])]):
        inside = shapely.contains_xy(FENCE.polygons[z], lon, lat) & (ts >= FENCE.zone_active_ms[z])
        out[inside] = z
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0, 1_700_000_000_000]))
def test_random_points_near_zones(seed: int, ts: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.integers(0, FENCE.n_zones, 400)
    b = shapely.bounds(np.array([FENCE.polygons[i] for i in z], dtype=object))
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    lon = b[:, 0] + w * rng.uniform(-0.3, 1.3, len(z))
    lat = b[:, 1] + h * rng.uniform(-0.3, 1.3, len(z))
    t = np.full(len(z), ts, dtype=np.int64)
    got = FENCE.zone_of(lon, lat, t)
    np.testing.assert_array_equal(got, brute(lon, lat, t))
    assert (got >= 0).any()


def test_points_on_a_cell_grid_and_far_away() -> None:
    lon = np.linspace(-118.30, -118.05, 301)
    lat = np.linspace(33.70, 33.78, 97)
    gx, gy = np.meshgrid(lon, lat)
    gx, gy = gx.ravel(), gy.ravel()
    t = np.zeros(len(gx), dtype=np.int64)
    got = FENCE.zone_of(gx, gy, t)
    np.testing.assert_array_equal(got, brute(gx, gy, t))
    assert (FENCE.zone_kind[got[got >= 0]] == KIND_BERTH).any()
    far = FENCE.zone_of(np.array([0.0, 179.9, np.nan]), np.array([0.0, -89.0, 33.7]), t[:3])
    assert far.tolist() == [-1, -1, -1]


def test_region_area_widens_when_the_offshore_queue_starts() -> None:
    # halfway between the offshore queue and the bay: in the region only from 2021-11-16
    lon, lat = np.array([-119.2]), np.array([33.0])
    zone = FENCE.zone_of(lon, lat, np.zeros(1, np.int64))
    before = FENCE.region_of(lon, lat, zone, np.array([1_636_934_400_000]))
    after = FENCE.region_of(lon, lat, zone, np.array([1_637_107_200_000]))
    assert before.tolist() == [-1] and after.tolist() == [0]
