"""Small flat-earth helpers (nautical miles over short distances) and area sampling."""

from __future__ import annotations

import numpy as np
import shapely

from streams.geo import Ring

__all__ = ["bearing_deg", "dist_nm", "offset_nm", "ring_bounds", "sample_in_ring"]

NM_PER_DEG_LAT = 60.0


def _coslat(lat: np.ndarray | float) -> np.ndarray:
    return np.cos(np.radians(np.asarray(lat, dtype=float)))


def dist_nm(lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray) -> np.ndarray:
    """Equirectangular distance in nautical miles (good to a fraction of a percent here).

    >>> round(float(dist_nm(np.array(0.0), np.array(0.0), np.array(0.0), np.array(1.0))), 3)
    60.0
    """
    mlat = (np.asarray(lat0) + np.asarray(lat1)) / 2.0
    dx = (np.asarray(lon1) - np.asarray(lon0)) * NM_PER_DEG_LAT * _coslat(mlat)
    dy = (np.asarray(lat1) - np.asarray(lat0)) * NM_PER_DEG_LAT
    return np.asarray(np.hypot(dx, dy))


def bearing_deg(
    lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray
) -> np.ndarray:
    """Course over ground in degrees (0 north, 90 east) from point 0 to point 1."""
    mlat = (np.asarray(lat0) + np.asarray(lat1)) / 2.0
    dx = (np.asarray(lon1) - np.asarray(lon0)) * _coslat(mlat)
    dy = np.asarray(lat1) - np.asarray(lat0)
    return np.asarray(np.degrees(np.arctan2(dx, dy)) % 360.0)


def offset_nm(
    lon: np.ndarray, lat: np.ndarray, east_nm: np.ndarray, north_nm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move points by east/north offsets in nautical miles."""
    lat = np.asarray(lat, dtype=float)
    lat2 = lat + np.asarray(north_nm) / NM_PER_DEG_LAT
    lon2 = np.asarray(lon) + np.asarray(east_nm) / (NM_PER_DEG_LAT * _coslat(lat))
    return lon2, lat2


def ring_bounds(ring: Ring) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat)."""
    a = np.asarray(ring)
    return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max())


def sample_in_ring(
    rng: np.random.Generator, ring: Ring, n: int, margin_nm: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random points at least ``margin_nm`` inside the polygon (centroid if too small)."""
    poly = shapely.Polygon(ring)
    inner = poly
    if margin_nm > 0:
        mlat = poly.centroid.y
        inner = poly.buffer(-margin_nm / NM_PER_DEG_LAT * min(1.0, float(_coslat(mlat))))
    lon = np.empty(n)
    lat = np.empty(n)
    if inner.is_empty or n == 0:
        c = poly.centroid
        lon[:] = c.x
        lat[:] = c.y
        return lon, lat
    x0, y0, x1, y1 = inner.bounds
    filled = 0
    for _ in range(50):
        k = max(16, 3 * (n - filled))
        xs = rng.uniform(x0, x1, k)
        ys = rng.uniform(y0, y1, k)
        ok = shapely.contains_xy(inner, xs, ys)
        take = min(int(ok.sum()), n - filled)
        lon[filled : filled + take] = xs[ok][:take]
        lat[filled : filled + take] = ys[ok][:take]
        filled += take
        if filled == n:
            break
    if filled < n:
        c = inner.centroid
        lon[filled:] = c.x
        lat[filled:] = c.y
    return lon, lat
