"""Vectorized geofencing of positions against a port geography.

Zones are the anchorages, waiting areas and berths of every region. A
uniform grid over their bounding box lists, for each cell, the zones whose
bounding box touches it (highest priority first: berth, anchorage, waiting
area) and whether the cell lies wholly inside the zone. A point in a wholly
covered cell is classified by a table lookup; only points in boundary cells
go to :func:`shapely.contains_xy`, one call per zone over all its points.

>>> from streams.geo import load_geography
>>> fence = Geofence(load_geography())
>>> z = fence.zone_of(np.array([-118.2300]), np.array([33.7060]), np.array([0]))
>>> fence.zone_name[z[0]], fence.port_codes[fence.zone_port[z[0]]]
('LA-I1', 'USLAX')
>>> int(fence.zone_of(np.array([-121.0]), np.array([30.0]), np.array([0]))[0])
-1
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from streams.geo import Geography

__all__ = ["KIND_ANCHORAGE", "KIND_BERTH", "KIND_WAITING", "Geofence"]

KIND_ANCHORAGE, KIND_WAITING, KIND_BERTH = 1, 2, 3
_PRIORITY = {KIND_BERTH: 0, KIND_ANCHORAGE: 1, KIND_WAITING: 2}
NO_ACTIVE_FROM = -(2**62)


def _date_ms(day: dt.date | None) -> int:
    if day is None:
        return NO_ACTIVE_FROM
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


class Geofence:
    """Zone tables plus a grid index; ``zone_of`` classifies arrays of points.

    ``max_cells`` bounds the grid size; ``region_margin_deg`` widens each
    region's area, the bounding box of its anchorages, berths and waiting
    areas in force (a waiting area with an ``active_from`` date widens the
    area from that date on).
    """

    def __init__(
        self, geography: Geography, *, max_cells: int = 1_000_000, region_margin_deg: float = 0.05
    ) -> None:
        self.region_ids: list[str] = list(geography.regions)
        self.port_codes: list[str] = []
        self.port_region: list[int] = []
        self.terminal_codes: list[str] = []
        self.terminal_port: list[int] = []
        polys: list[Any] = []
        kind: list[int] = []
        port: list[int] = []
        region: list[int] = []
        terminal: list[int] = []
        active: list[int] = []
        names: list[str] = []
        for ri, reg in enumerate(geography.regions.values()):
            for code, p in reg.ports.items():
                self.port_codes.append(code)
                self.port_region.append(ri)
                pi = len(self.port_codes) - 1
                for t in p.terminals:
                    self.terminal_codes.append(t.code)
                    self.terminal_port.append(pi)
                    ti = len(self.terminal_codes) - 1
                    for b in t.berths:
                        polys.append(b.polygon)
                        kind.append(KIND_BERTH)
                        port.append(pi)
                        region.append(ri)
                        terminal.append(ti)
                        active.append(NO_ACTIVE_FROM)
                        names.append(b.name)
            for a in reg.anchorages:
                polys.append(a.polygon)
                kind.append(KIND_ANCHORAGE)
                port.append(self.port_codes.index(a.port))
                region.append(ri)
                terminal.append(-1)
                active.append(NO_ACTIVE_FROM)
                names.append(a.name)
            for w in reg.waiting_areas:
                polys.append(w.polygon)
                kind.append(KIND_WAITING)
                port.append(-1)
                region.append(ri)
                terminal.append(-1)
                active.append(_date_ms(w.active_from))
                names.append(w.name)
        self.polygons = polys
        for poly in polys:
            shapely.prepare(poly)
        self.zone_kind = np.array(kind, dtype=np.int8)
        self.zone_port = np.array(port, dtype=np.int16)
        self.zone_region = np.array(region, dtype=np.int16)
        self.zone_terminal = np.array(terminal, dtype=np.int16)
        self.zone_active_ms = np.array(active, dtype=np.int64)
        self.zone_name = names
        self.port_region_arr = np.array(self.port_region, dtype=np.int16)
        self.terminal_port_arr = np.array(self.terminal_port, dtype=np.int16)
        bounds = shapely.bounds(np.array(polys, dtype=object)) if polys else np.zeros((0, 4))
        self._bounds = bounds
        # Region areas: the box of a region's permanent zones, and from the start
        # date of each timed waiting area, the box that also takes that area in
        # (so the passage from an offshore queue to the port stays in the region).
        boxes: list[tuple[int, tuple[float, float, float, float], int]] = []
        for ri in range(len(self.region_ids)):
            mine = self.zone_region == ri
            perm = mine & (self.zone_active_ms == NO_ACTIVE_FROM)
            starts = sorted(set(self.zone_active_ms[mine & ~perm].tolist()))
            for since in [NO_ACTIVE_FROM, *starts]:
                sel = mine & (self.zone_active_ms <= since)
                if sel.any():
                    b = bounds[sel]
                    box = (
                        float(b[:, 0].min() - region_margin_deg),
                        float(b[:, 1].min() - region_margin_deg),
                        float(b[:, 2].max() + region_margin_deg),
                        float(b[:, 3].max() + region_margin_deg),
                    )
                    boxes.append((ri, box, since))
        # latest first, so a point takes the widest box in force
        self.region_boxes = sorted(boxes, key=lambda e: (e[0], -e[2]))
        self._build_grid(max_cells)

    def _build_grid(self, max_cells: int) -> None:
        b = self._bounds
        if len(b) == 0:
            self.x0 = self.y0 = 0.0
            self.dx = self.dy = 1.0
            self.nx = self.ny = 1
            self.cand = np.full((1, 1), -1, dtype=np.int16)
            self.full = np.zeros((1, 1), dtype=bool)
            return
        x0, y0 = float(b[:, 0].min()), float(b[:, 1].min())
        x1, y1 = float(b[:, 2].max()), float(b[:, 3].max())
        w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        step = float(np.sqrt(w * h / max_cells))
        nx, ny = int(np.ceil(w / step)) + 1, int(np.ceil(h / step)) + 1
        self.x0, self.y0, self.dx, self.dy, self.nx, self.ny = x0, y0, step, step, nx, ny
        per_cell: dict[int, list[tuple[int, int, bool]]] = {}
        for z, poly in enumerate(self.polygons):
            i0 = int((b[z, 0] - x0) // step)
            i1 = int((b[z, 2] - x0) // step)
            j0 = int((b[z, 1] - y0) // step)
            j1 = int((b[z, 3] - y0) // step)
            gi, gj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
            ii, jj = gi.ravel(), gj.ravel()
            cx0, cy0 = x0 + ii * step, y0 + jj * step
            is_rect = abs(poly.area - poly.envelope.area) <= 1e-12 * max(poly.area, 1e-30)
            if is_rect:
                full = (
                    (cx0 >= b[z, 0]) & (cx0 + step <= b[z, 2])
                    & (cy0 >= b[z, 1]) & (cy0 + step <= b[z, 3])
                )  # fmt: skip
            else:
                boxes = shapely.box(cx0, cy0, cx0 + step, cy0 + step)
                full = shapely.contains_properly(poly, boxes)
            pri = _PRIORITY[int(self.zone_kind[z])]
            for c, f in zip((ii * ny + jj).tolist(), full.tolist(), strict=True):
                per_cell.setdefault(c, []).append((pri, z, f))
        k = max(len(v) for v in per_cell.values())
        cand = np.full((nx * ny, k), -1, dtype=np.int16)
        fullm = np.zeros((nx * ny, k), dtype=bool)
        for c, lst in per_cell.items():
            lst.sort()
            for s, (_, z, f) in enumerate(lst):
                cand[c, s] = z
                fullm[c, s] = f
        self.cand, self.full = cand, fullm

    @property
    def n_zones(self) -> int:
        return len(self.polygons)

    def zone_of(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], ts_ms: npt.NDArray[Any]
    ) -> npt.NDArray[np.int16]:
        """Zone index per point (-1: in no zone); zones not yet active at ``ts_ms`` don't count."""
        n = len(lon)
        zone = np.full(n, -1, dtype=np.int16)
        fi = np.floor((lon - self.x0) / self.dx)
        fj = np.floor((lat - self.y0) / self.dy)
        inside = (fi >= 0) & (fi < self.nx) & (fj >= 0) & (fj < self.ny)
        rows = np.flatnonzero(inside)
        if len(rows) == 0:
            return zone
        cell = fi[rows].astype(np.int64) * self.ny + fj[rows].astype(np.int64)
        has = self.cand[cell, 0] >= 0
        rows, cell = rows[has], cell[has]
        for s in range(self.cand.shape[1]):
            if len(rows) == 0:
                break
            z = self.cand[cell, s]
            live = z >= 0
            rows, cell, z = rows[live], cell[live], z[live]
            hit = self.full[cell, s].copy()
            check = np.flatnonzero(~hit)
            if len(check):
                zc = z[check]
                order = np.argsort(zc, kind="stable")
                zs = zc[order]
                cuts = np.flatnonzero(np.diff(zs)) + 1
                for grp in np.split(order, cuts):
                    zi = int(zc[grp[0]])
                    r = rows[check[grp]]
                    hit[check[grp]] = shapely.contains_xy(self.polygons[zi], lon[r], lat[r])
            hit &= ts_ms[rows] >= self.zone_active_ms[z]
            zone[rows[hit]] = z[hit]
            rows, cell = rows[~hit], cell[~hit]
        return zone

    def region_of(
        self,
        lon: npt.NDArray[np.float64],
        lat: npt.NDArray[np.float64],
        zone: npt.NDArray[np.int16],
        ts_ms: npt.NDArray[Any],
    ) -> npt.NDArray[np.int16]:
        """Region per point: the zone's region, else a region area in force holding it, else -1."""
        region = np.where(zone >= 0, self.zone_region[np.maximum(zone, 0)], -1).astype(np.int16)
        for ri, (x0, y0, x1, y1), since in self.region_boxes:
            m = (region < 0) & (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
            if since != NO_ACTIVE_FROM:
                m &= ts_ms >= since
            region[m] = ri
        return region
