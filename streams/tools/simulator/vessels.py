"""Container-ship visits and their AIS tracks.

A region's queue is planned as three curves on an hourly grid: ships waiting
(at anchor, drifting or loitering offshore), ships at anchor, and the berthing
rate. Cumulative counts give each ship, in first-come first-served order, its
arrival, its call to an anchorage and its berthing time, so the number of
ships waiting at any moment follows the planned curve to within a ship or
two. Each visit is then turned into legs (transit, loiter, anchor, moored)
and the legs into AIS position rows, all vectorized over legs and rows.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import shapely

from streams.geo import Anchorage, Region
from streams.tools.simulator.calibration import DAY
from streams.tools.simulator.geometry import bearing_deg, dist_nm, offset_nm, sample_in_ring
from streams.tools.simulator.ids import make_imos, make_mmsis

__all__ = [
    "AisRows",
    "Fleet",
    "QueuePlan",
    "TrackOptions",
    "Visits",
    "ais_rows",
    "extra_station_rows",
    "feasible_waiting",
    "schedule_visits",
]

HOUR = 3600.0

KIND_TRANSIT, KIND_ANCHOR, KIND_MOORED, KIND_LOITER = 0, 1, 2, 3
STATUS_UNDERWAY, STATUS_ANCHOR, STATUS_MOORED, STATUS_NONE = 0, 1, 5, -1
WAIT_NONE, WAIT_DRIFTING, WAIT_OFFSHORE = 0, 1, 2


@dataclass
class QueuePlan:
    """Planned queue of one region on an hourly grid of epoch seconds ``t``."""

    region: Region
    t: np.ndarray
    waiting: np.ndarray
    anchored: np.ndarray
    berth_rate: np.ndarray
    """Ships berthing per day."""
    port_weights: dict[str, np.ndarray]
    """Relative share of arrivals per port on the grid."""
    berth_days: np.ndarray
    """Median time alongside, days."""
    offshore_from: float | None = None


@dataclass
class Visits:
    """One row per ship call (struct of arrays)."""

    region: list[Region]
    region_idx: np.ndarray
    port: np.ndarray
    terminal: np.ndarray
    terminal_code: np.ndarray
    berth_xy: np.ndarray
    arrive: np.ndarray
    anchor_start: np.ndarray
    anchor_end: np.ndarray
    berth_start: np.ndarray
    berth_end: np.ndarray
    wait_kind: np.ndarray
    anchorage: np.ndarray
    anchor_xy: np.ndarray
    vessel: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.arrive.size)


@dataclass
class Fleet:
    """Static data per vessel (struct of arrays)."""

    mmsi: np.ndarray
    imo: list[str]
    name: list[str]
    callsign: list[str]
    vessel_type: np.ndarray
    length: np.ndarray
    width: np.ndarray
    draft: np.ndarray

    def __len__(self) -> int:
        return int(self.mmsi.size)


@dataclass
class TrackOptions:
    cadence_s: float = 600.0
    """Seconds between reports underway and at anchor."""
    moored_cadence_s: float = 1800.0
    """Seconds between reports alongside a berth."""
    offshore_cadence_s: float = 3600.0
    """Seconds between reports loitering far offshore (satellite-AIS-like)."""
    gap_rate_per_day: float = 0.25
    """Reception gaps per vessel-day; each lasts 1 to 4 hours."""


@dataclass
class AisRows:
    """Decoded AIS rows (struct of arrays); ``static`` indexes :class:`Fleet` or stations."""

    mmsi: np.ndarray
    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sog: np.ndarray
    cog: np.ndarray
    heading: np.ndarray
    status: np.ndarray
    static: np.ndarray

    def __len__(self) -> int:
        return int(self.t.size)

    @staticmethod
    def concat(parts: list[AisRows]) -> AisRows:
        return AisRows(*[np.concatenate([getattr(p, n) for p in parts]) for n in _ROW_FIELDS])

    def take(self, index: np.ndarray) -> AisRows:
        """Rows at ``index`` (a permutation, selection or boolean mask)."""
        return AisRows(*[getattr(self, n)[index] for n in _ROW_FIELDS])


_ROW_FIELDS = ("mmsi", "t", "lat", "lon", "sog", "cog", "heading", "status", "static")


def _inverse(x: np.ndarray, cum: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Time at which the nondecreasing ``cum`` reaches ``x`` (inf beyond its end)."""
    out = np.interp(x, cum, t)
    out[x > cum[-1]] = np.inf
    return out


def _choose(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of a (rows, options) weight matrix."""
    cum = np.cumsum(weights, axis=1)
    u = rng.uniform(0.0, 1.0, weights.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def feasible_waiting(t: np.ndarray, waiting: np.ndarray, berth_rate: np.ndarray) -> np.ndarray:
    """The queue that can really happen: it cannot shrink faster than ships berth.

    >>> t = np.arange(5) * DAY
    >>> feasible_waiting(t, np.array([0, 10, 0, 0, 0.0]), np.full(5, 4.0)).tolist()
    [0.0, 10.0, 6.0, 2.0, 0.0]
    """
    step_days = np.diff(t, append=t[-1] + (t[-1] - t[-2])) / DAY
    mu = np.maximum(berth_rate, 1e-3)
    berthed = np.concatenate([[0.0], np.cumsum(mu * step_days)[:-1]])
    arrived = np.maximum.accumulate(berthed + np.maximum(waiting, 0.0))
    return np.asarray(np.maximum(arrived - berthed, 0.0))


def schedule_visits(plan: QueuePlan, rng: np.random.Generator, region_idx: int) -> Visits:
    """Visits of one region, first come first served, following the plan's curves."""
    t = plan.t
    region = plan.region
    step_days = np.diff(t, append=t[-1] + (t[-1] - t[-2])) / DAY
    mu = np.maximum(plan.berth_rate, 1e-3)
    berthed = np.concatenate([[0.0], np.cumsum(mu * step_days)[:-1]])
    waiting = np.maximum(plan.waiting, 0.0)
    arrived = np.maximum.accumulate(berthed + waiting)
    anchored_cum = np.minimum(
        np.maximum(berthed + np.minimum(plan.anchored, waiting), berthed), arrived
    )
    anchored_cum = np.minimum(np.maximum.accumulate(anchored_cum), arrived)

    n = int(np.floor(arrived[-1]))
    x = np.arange(n) + rng.uniform(0.1, 0.9, n)
    arrive = _inverse(x, arrived, t)
    before = x < arrived[0]
    arrive[before] = t[0] - (arrived[0] - x[before]) / mu[0] * DAY
    call = np.maximum(_inverse(x, anchored_cum, t), arrive)
    berth = np.maximum(_inverse(x, berthed, t), call)

    ports = list(region.ports)
    grid_idx = np.clip(np.searchsorted(t, arrive), 0, t.size - 1)
    weights = np.stack([plan.port_weights[p][grid_idx] for p in ports], axis=1)
    port_idx = _choose(rng, weights)

    drift = region.waiting_area("drifting")
    offshore = region.waiting_area("offshore")
    wait_kind = np.full(n, WAIT_NONE, dtype=np.int8)
    long_wait = (call - arrive) > 3 * HOUR
    if drift is not None:
        wait_kind[long_wait] = WAIT_DRIFTING
    if offshore is not None and plan.offshore_from is not None:
        wait_kind[long_wait & (arrive >= plan.offshore_from)] = WAIT_OFFSHORE
    if drift is None:
        no_area = long_wait & (wait_kind == WAIT_NONE)
        call[no_area] = arrive[no_area]
    direct = wait_kind == WAIT_NONE
    call[direct] = np.minimum(np.maximum(arrive[direct], call[direct]), berth[direct])
    arrive[direct] = call[direct]

    # Terminal, weighted by berth count; berth: the one free earliest.
    terminal = np.empty(n, dtype=object)
    terminal_code = np.empty(n, dtype=object)
    berth_xy = np.zeros((n, 2))
    berth_heading = np.zeros(n)
    free_at: dict[tuple[str, int, int], float] = {}
    for pi, code in enumerate(ports):
        port = region.ports[code]
        sel = np.flatnonzero(port_idx == pi)
        if sel.size == 0:
            continue
        tw = np.array([len(term.berths) for term in port.terminals], dtype=float)
        choice = rng.choice(len(port.terminals), size=sel.size, p=tw / tw.sum())
        order = sel[np.argsort(berth[sel], kind="stable")]
        choice_of = dict(zip(sel.tolist(), choice.tolist(), strict=True))
        for v in order.tolist():
            ti = choice_of[v]
            term = port.terminals[ti]
            keys = [(code, ti, bi) for bi in range(len(term.berths))]
            key = min(keys, key=lambda k: free_at.get(k, -np.inf))
            bpoly = term.berths[key[2]].polygon
            c = bpoly.centroid
            berth_xy[v] = (c.x, c.y)
            xs, ys = np.asarray(bpoly.exterior.coords.xy)
            berth_heading[v] = float(
                bearing_deg(np.array(xs[0]), np.array(ys[0]), np.array(xs[1]), np.array(ys[1]))
            )
            terminal[v] = term.name
            terminal_code[v] = term.code
            free_at[key] = float(berth[v]) + 3 * DAY

    anch = _assign_anchorages(region, np.asarray(ports)[port_idx], call, berth, rng)
    anchor_xy = anch[1]
    stay_median = np.interp(np.minimum(berth, t[-1]), t, plan.berth_days)
    stay = stay_median * np.exp(rng.normal(0.0, 0.25, n)) * DAY
    return Visits(
        region=[region],
        region_idx=np.full(n, region_idx, dtype=np.int32),
        port=np.asarray(ports, dtype=object)[port_idx],
        terminal=terminal,
        terminal_code=terminal_code,
        berth_xy=np.column_stack([berth_xy, berth_heading]),
        arrive=arrive,
        anchor_start=call,
        anchor_end=berth,
        berth_start=berth,
        berth_end=berth + stay,
        wait_kind=wait_kind,
        anchorage=anch[0],
        anchor_xy=anchor_xy,
    )


def _assign_anchorages(
    region: Region,
    port_of: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Anchorage per visit: a free one of its port, else any free, else the least busy."""
    anchorages: tuple[Anchorage, ...] = region.anchorages
    n = start.size
    idx = np.full(n, -1, dtype=np.int32)
    xy = np.zeros((n, 2))
    if not anchorages:
        return idx, xy
    polys = [a.polygon for a in anchorages]
    cent = np.array([(p.centroid.x, p.centroid.y) for p in polys])
    half = np.array(
        [((p.bounds[2] - p.bounds[0]) / 2, (p.bounds[3] - p.bounds[1]) / 2) for p in polys]
    )
    by_port: dict[str, list[int]] = {}
    for i, a in enumerate(anchorages):
        by_port.setdefault(a.port, []).append(i)
    occupied_until = np.full(len(anchorages), -np.inf)
    busy = np.zeros(len(anchorages), dtype=np.int64)
    order = np.argsort(start, kind="stable")
    share = np.zeros(n, dtype=bool)
    for v in order.tolist():
        if not np.isfinite(start[v]) or end[v] - start[v] < 0.5 * HOUR:
            continue
        own = by_port.get(str(port_of[v]), [])
        free_own = [i for i in own if occupied_until[i] <= start[v]]
        if free_own:
            i = free_own[int(rng.integers(len(free_own)))]
        else:
            free_any = np.flatnonzero(occupied_until <= start[v])
            if free_any.size:
                i = int(free_any[rng.integers(free_any.size)])
            else:
                i = int(np.argmin(occupied_until + busy * DAY))
                share[v] = True
        occupied_until[i] = max(occupied_until[i], end[v])
        busy[i] += 1
        idx[v] = i
    has = idx >= 0
    # Radial offset within the inscribed circle, leaving room for the swing circle.
    inscribed = half.min(axis=1) * np.cos(np.pi / 8)
    rho = np.sqrt(rng.uniform(0.0, 1.0, int(has.sum()))) * np.where(share[has], 0.45, 0.3)
    ang = rng.uniform(0.0, 2 * np.pi, int(has.sum()))
    r = rho * inscribed[idx[has]]
    lat0 = cent[idx[has], 1]
    xy[has, 0] = cent[idx[has], 0] + r * np.cos(ang) / np.cos(np.radians(lat0))
    xy[has, 1] = lat0 + r * np.sin(ang)
    return idx, xy


def build_fleet(visits: Visits, rng: np.random.Generator, rotation_days: float = 35.0) -> Fleet:
    """Assign vessels to visits (a ship returns after ``rotation_days``) and make the fleet."""
    n = len(visits)
    order = np.argsort(visits.arrive, kind="stable")
    vessel = np.empty(n, dtype=np.int64)
    pool: list[tuple[float, int]] = []
    count = 0
    gap = rotation_days * DAY
    for v in order.tolist():
        if pool and pool[0][0] <= visits.arrive[v]:
            _, k = heapq.heappop(pool)
        else:
            k = count
            count += 1
        vessel[v] = k
        end = visits.berth_end[v]
        heapq.heappush(pool, (float(end + gap) if np.isfinite(end) else np.inf, k))
    visits.vessel = vessel
    return make_fleet(rng, count)


_PREFIXES = ("MSC", "MAERSK", "CMA CGM", "EVER", "COSCO SHIPPING", "ONE", "HMM", "YM",
             "OOCL", "APL", "ZIM", "HYUNDAI", "NYK", "MOL", "SEASPAN", "CSCL", "WAN HAI",
             "HAMBURG")  # fmt: skip
_NAMES = ("ATLAS", "AURORA", "BRAVO", "CAPELLA", "DELTA", "ELBE", "FORTUNE", "GALAXY",
          "HARMONY", "INTEGRITY", "JADE", "KOMODO", "LIBRA", "MERIDIAN", "NEPTUNE", "ORION",
          "PACIFIC", "QUEST", "RIGEL", "SIRIUS", "TRIUMPH", "UNITY", "VEGA", "WISDOM", "XIAMEN",
          "YANTIAN", "ZENITH", "AMBITION", "BLESSING", "COURAGE", "DIAMOND", "EMERALD", "FAITH",
          "GLORY")  # fmt: skip


def make_fleet(rng: np.random.Generator, n: int) -> Fleet:
    """``n`` container ships with valid, distinct identifiers and plausible dimensions."""
    mmsi = make_mmsis(rng, n)
    imo = make_imos(rng, n)
    pre = rng.integers(0, len(_PREFIXES), n)
    nam = rng.integers(0, len(_NAMES), n)
    names = [
        f"{_PREFIXES[p]} {_NAMES[m]} {i % 97 + 1}"
        for i, (p, m) in enumerate(zip(pre, nam, strict=True))
    ]
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    cs = rng.integers(0, letters.size, (n, 5))
    callsign = ["".join(letters[row].tolist()) for row in cs]
    length = np.round(rng.uniform(200.0, 400.0, n))
    width = np.round(np.clip(length / 8.0 + rng.normal(0, 3, n), 28.0, 61.0))
    draft = np.round(np.clip(length / 27.0 + rng.normal(0, 0.8, n), 8.0, 16.0), 1)
    vtype = np.where(rng.uniform(0, 1, n) < 0.85, 70, 71)
    return Fleet(mmsi, imo, names, callsign, vtype, length, width, draft)


# ---------------------------------------------------------------- tracks


@dataclass
class _Legs:
    vessel: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    t0: list[float] = field(default_factory=list)
    t1: list[float] = field(default_factory=list)
    x0: list[float] = field(default_factory=list)
    y0: list[float] = field(default_factory=list)
    x1: list[float] = field(default_factory=list)
    y1: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    offshore: list[bool] = field(default_factory=list)
    param: list[int] = field(default_factory=list)

    def add(
        self,
        vessel: int,
        kind: int,
        t0: float,
        t1: float,
        p0: tuple[float, float],
        p1: tuple[float, float],
        speed: float = 0.0,
        offshore: bool = False,
        param: int = -1,
    ) -> None:
        if not t1 > t0:
            return
        self.vessel.append(vessel)
        self.kind.append(kind)
        self.t0.append(t0)
        self.t1.append(t1)
        self.x0.append(p0[0])
        self.y0.append(p0[1])
        self.x1.append(p1[0])
        self.y1.append(p1[1])
        self.speed.append(speed)
        self.offshore.append(offshore)
        self.param.append(param)

    def path(
        self,
        vessel: int,
        points: list[tuple[float, float]],
        speeds: list[float],
        *,
        t_end: float | None = None,
        t_start: float | None = None,
    ) -> tuple[float, float]:
        """Transit legs along ``points``; anchored at its end or start time. Returns (t0, t1)."""
        xs = np.array([p[0] for p in points])
        ys = np.array([p[1] for p in points])
        d = dist_nm(xs[:-1], ys[:-1], xs[1:], ys[1:])
        dur = d / np.asarray(speeds) * HOUR
        total = float(dur.sum())
        start = (t_end - total) if t_end is not None else float(t_start or 0.0)
        t = start
        for i in range(len(points) - 1):
            if dur[i] > 0:
                self.add(
                    vessel, KIND_TRANSIT, t, t + float(dur[i]), points[i], points[i + 1], speeds[i]
                )
            t += float(dur[i])
        return start, start + total


# Loiter motion: a slow Lissajous drift, amplitude in nm and periods in hours.
_LOITER_AMP = {WAIT_DRIFTING: 1.5, WAIT_OFFSHORE: 6.0}


def _loiter_pos(
    cx: float, cy: float, amp: float, w: tuple[float, float, float, float], t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    w1, p1, w2, p2 = w
    east = amp * np.sin(w1 * t + p1)
    north = amp * np.sin(w2 * t + p2)
    return offset_nm(np.full_like(t, cx), np.full_like(t, cy), east, north)


def _approach_area(
    legs: _Legs,
    v: int,
    cx: float,
    cy: float,
    amp: float,
    w: tuple[float, float, float, float],
    arrive: float,
    offshore: bool,
    p_sea_in: tuple[float, float],
    gate: tuple[float, float],
    speed: float,
    approach_nm: float,
) -> None:
    """Transit from sea into a waiting area, arriving at the loiter track at ``arrive``."""
    ax, ay = _loiter_pos(cx, cy, amp, w, np.array([arrive]))
    entry = (float(ax[0]), float(ay[0]))
    if offshore:
        west = offset_nm(
            np.array(entry[0]), np.array(entry[1]), np.array(-approach_nm), np.array(0.0)
        )
        legs.path(v, [(float(west[0]), float(west[1])), entry], [speed], t_end=arrive)
    else:
        legs.path(v, [p_sea_in, gate, entry], [speed, speed], t_end=arrive)


def _plan_legs(
    visits: Visits, regions: list[Region], rng: np.random.Generator
) -> tuple[_Legs, np.ndarray, np.ndarray]:
    legs = _Legs()
    n = len(visits)
    sea_speed = rng.uniform(11.0, 17.0, n)
    harbour_speed = rng.uniform(6.0, 10.0, n)
    approach_nm = rng.uniform(25.0, 45.0, n)
    exit_nm = rng.uniform(25.0, 45.0, n)
    u_bearing = rng.uniform(0.0, 1.0, (n, 2))
    loiter_w = np.column_stack(
        [
            2 * np.pi / (rng.uniform(18.0, 30.0, n) * HOUR),
            rng.uniform(0, 2 * np.pi, n),
            2 * np.pi / (rng.uniform(14.0, 26.0, n) * HOUR),
            rng.uniform(0, 2 * np.pi, n),
        ]
    )
    loiter_centre = np.zeros((n, 2))
    for kind in (WAIT_DRIFTING, WAIT_OFFSHORE):
        for ri, region in enumerate(regions):
            area = region.waiting_area("drifting" if kind == WAIT_DRIFTING else "offshore")
            sel = np.flatnonzero((visits.wait_kind == kind) & (visits.region_idx == ri))
            if area is None or sel.size == 0:
                continue
            lon, lat = sample_in_ring(rng, area.ring, sel.size, margin_nm=_LOITER_AMP[kind] * 1.5)
            loiter_centre[sel, 0] = lon
            loiter_centre[sel, 1] = lat

    for v in range(n):
        region = regions[int(visits.region_idx[v])]
        port = region.ports[str(visits.port[v])]
        gate = region.sea_gate
        b_lo, b_hi = region.approach_bearings
        brg_in = np.radians(b_lo + (b_hi - b_lo) * u_bearing[v, 0])
        brg_out = np.radians(b_lo + (b_hi - b_lo) * u_bearing[v, 1])
        sea_in = offset_nm(
            np.array(gate[0]), np.array(gate[1]),
            np.array(approach_nm[v] * np.sin(brg_in)), np.array(approach_nm[v] * np.cos(brg_in)),
        )  # fmt: skip
        sea_out = offset_nm(
            np.array(gate[0]), np.array(gate[1]),
            np.array(exit_nm[v] * np.sin(brg_out)), np.array(exit_nm[v] * np.cos(brg_out)),
        )  # fmt: skip
        p_sea_in = (float(sea_in[0]), float(sea_in[1]))
        p_sea_out = (float(sea_out[0]), float(sea_out[1]))
        berth = (float(visits.berth_xy[v, 0]), float(visits.berth_xy[v, 1]))
        sv, hv = float(sea_speed[v]), float(harbour_speed[v])
        has_anchor = visits.anchorage[v] >= 0
        anchor = (float(visits.anchor_xy[v, 0]), float(visits.anchor_xy[v, 1]))
        inner = has_anchor and region.anchorages[int(visits.anchorage[v])].kind == "inner"

        # Anchor to berth (or straight in), ending at the berthing time.
        b0 = float(visits.berth_start[v])
        if not np.isfinite(b0):
            b0 = np.inf
        if has_anchor:
            pts = [anchor, berth] if inner else [anchor, port.entrance, berth]
            spd = [hv] if inner else [hv, hv]
            if np.isfinite(b0):
                a_end, _ = legs.path(v, pts, spd, t_end=b0)
            else:
                a_end = np.inf
            a_start = float(visits.anchor_start[v])
            if a_end - a_start < 0.5 * HOUR:
                a_start = a_end - 0.5 * HOUR
            legs.add(v, KIND_ANCHOR, a_start, min(a_end, 4e9), anchor, anchor, param=v)
            t_target = a_start
            if inner:
                tgt_pts, tgt_spd = [gate, port.entrance, anchor], [sv, sv, hv]
            else:
                tgt_pts, tgt_spd = [gate, anchor], [sv, sv]
        else:
            t_target = b0
            tgt_pts, tgt_spd = [gate, port.entrance, berth], [sv, sv, hv]

        wk = int(visits.wait_kind[v])
        if wk == WAIT_NONE:
            if np.isfinite(t_target):
                legs.path(v, [p_sea_in, *tgt_pts], tgt_spd, t_end=t_target)
        elif not np.isfinite(t_target):
            # Still waiting when the plan ends: loiter until then.
            arrive = float(visits.arrive[v])
            cx, cy = loiter_centre[v]
            w = (loiter_w[v, 0], loiter_w[v, 1], loiter_w[v, 2], loiter_w[v, 3])
            amp = _LOITER_AMP[wk]
            offshore = wk == WAIT_OFFSHORE
            legs.add(v, KIND_LOITER, arrive, 4e9, (cx, cy), (amp, 0.0), offshore=offshore, param=v)
            _approach_area(
                legs, v, cx, cy, amp, w, arrive, offshore, p_sea_in, gate, sv, float(approach_nm[v])
            )
        else:
            amp = _LOITER_AMP[wk]
            cx, cy = loiter_centre[v]
            w = (loiter_w[v, 0], loiter_w[v, 1], loiter_w[v, 2], loiter_w[v, 3])
            arrive = float(visits.arrive[v])
            # Leave the waiting area in time to reach the target on time.
            px, py = _loiter_pos(cx, cy, amp, w, np.array([t_target]))
            if wk == WAIT_OFFSHORE:
                out_pts = [(float(px[0]), float(py[0])), *tgt_pts]
                out_spd = list(tgt_spd)
            else:
                # From the bay's drifting zone: straight in, through the entrance if inside.
                out_pts = [(float(px[0]), float(py[0])), *tgt_pts[1:]]
                out_spd = [min(sv, 12.0), *tgt_spd[2:]]
            d = dist_nm(
                np.array([p[0] for p in out_pts[:-1]]), np.array([p[1] for p in out_pts[:-1]]),
                np.array([p[0] for p in out_pts[1:]]), np.array([p[1] for p in out_pts[1:]]),
            )  # fmt: skip
            leave = t_target - float((d / np.asarray(out_spd) * HOUR).sum())
            lx, ly = _loiter_pos(cx, cy, amp, w, np.array([leave]))
            out_pts[0] = (float(lx[0]), float(ly[0]))
            legs.path(v, out_pts, out_spd, t_end=t_target)
            if leave - arrive < HOUR:
                arrive = leave - HOUR
            legs.add(
                v,
                KIND_LOITER,
                arrive,
                leave,
                (cx, cy),
                (amp, 0.0),
                offshore=wk == WAIT_OFFSHORE,
                param=v,
            )
            offshore = wk == WAIT_OFFSHORE
            _approach_area(
                legs, v, cx, cy, amp, w, arrive, offshore, p_sea_in, gate, sv, float(approach_nm[v])
            )

        if np.isfinite(b0):
            b1 = float(visits.berth_end[v])
            legs.add(v, KIND_MOORED, b0, b1, berth, berth, param=v)
            legs.path(v, [berth, port.entrance, gate, p_sea_out], [hv, hv, sv], t_start=b1)
    return legs, loiter_w, loiter_centre


def ais_rows(
    visits: Visits,
    fleet: Fleet,
    regions: list[Region],
    rng: np.random.Generator,
    start: float,
    end: float,
    options: TrackOptions,
) -> AisRows:
    """AIS rows of every visit between ``start`` and ``end`` (epoch seconds)."""
    legs, loiter_w, loiter_c = _plan_legs(visits, regions, rng)
    kind = np.asarray(legs.kind, dtype=np.int8)
    t0 = np.asarray(legs.t0)
    t1 = np.asarray(legs.t1)
    visit = np.asarray(legs.vessel, dtype=np.int64)
    offshore = np.asarray(legs.offshore, dtype=bool)
    cad = np.full(kind.size, options.cadence_s)
    cad[kind == KIND_MOORED] = options.moored_cadence_s
    cad[offshore] = options.offshore_cadence_s
    phase = rng.uniform(0.0, 1.0, kind.size) * cad
    first = t0 + phase
    k0 = np.maximum(0.0, np.ceil((start - first) / cad))
    base = first + k0 * cad
    hi = np.minimum(t1, end - 1.0)
    count = np.where(hi >= base, np.floor((hi - base) / cad) + 1, 0).astype(np.int64)
    total = int(count.sum())
    leg = np.repeat(np.arange(kind.size), count)
    offs = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    t = base[leg] + offs * cad[leg] + rng.uniform(-0.15, 0.15, total) * cad[leg]
    t = np.clip(t, np.maximum(t0[leg], start), np.minimum(t1[leg], end - 1.0))
    t = np.floor(t)
    lk = kind[leg]

    x0 = np.asarray(legs.x0)[leg]
    y0 = np.asarray(legs.y0)[leg]
    x1 = np.asarray(legs.x1)[leg]
    y1 = np.asarray(legs.y1)[leg]
    lon = np.empty(total)
    lat = np.empty(total)
    sog = np.zeros(total)
    cog = np.zeros(total)
    status = np.full(total, STATUS_UNDERWAY, dtype=np.int8)
    heading = np.zeros(total)

    m = lk == KIND_TRANSIT
    frac = (t[m] - t0[leg[m]]) / (t1[leg[m]] - t0[leg[m]])
    lon[m] = x0[m] + frac * (x1[m] - x0[m])
    lat[m] = y0[m] + frac * (y1[m] - y0[m])
    spd = np.asarray(legs.speed)[leg[m]]
    sog[m] = np.maximum(spd + rng.normal(0.0, 0.2, int(m.sum())), 0.0)
    course = bearing_deg(x0[m], y0[m], x1[m], y1[m])
    cog[m] = (course + rng.normal(0.0, 1.5, int(m.sum()))) % 360.0
    heading[m] = np.round(course + rng.normal(0.0, 2.0, int(m.sum()))) % 360.0

    m = lk == KIND_ANCHOR
    v_of = visit[leg[m]]
    swing_r = 0.025 + 0.015 * ((fleet.mmsi[visits.vessel[v_of]] % 7) / 6.0)  # nm, chain scope
    theta = 2 * np.pi * t[m] / (12.42 * HOUR) + (v_of % 13)
    lo, la = offset_nm(x0[m], y0[m], swing_r * np.sin(theta), swing_r * np.cos(theta))
    lon[m], lat[m] = lo, la
    sog[m] = rng.uniform(0.0, 0.3, int(m.sum()))
    cog[m] = rng.uniform(0.0, 360.0, int(m.sum()))
    heading[m] = np.round(np.degrees(theta) + 180.0) % 360.0
    status[m] = STATUS_ANCHOR

    m = lk == KIND_MOORED
    lon[m], lat[m] = x0[m], y0[m]
    sog[m] = 0.0
    cog[m] = rng.uniform(0.0, 360.0, int(m.sum()))
    heading[m] = np.round(visits.berth_xy[visit[leg[m]], 2]) % 360.0
    status[m] = STATUS_MOORED

    m = lk == KIND_LOITER
    v_of = visit[leg[m]]
    amp = x1[m]
    w1, p1, w2, p2 = (loiter_w[v_of, i] for i in range(4))
    tt = t[m]
    lo, la = offset_nm(
        loiter_c[v_of, 0], loiter_c[v_of, 1], amp * np.sin(w1 * tt + p1), amp * np.sin(w2 * tt + p2)
    )
    lon[m], lat[m] = lo, la
    ve = amp * w1 * np.cos(w1 * tt + p1) * HOUR
    vn = amp * w2 * np.cos(w2 * tt + p2) * HOUR
    sog[m] = np.hypot(ve, vn)
    cog[m] = np.degrees(np.arctan2(ve, vn)) % 360.0
    heading[m] = np.round(cog[m] + rng.normal(0.0, 3.0, int(m.sum()))) % 360.0

    # GPS noise of a few metres.
    lat += rng.normal(0.0, 4.0 / 111_000.0, total)
    lon += rng.normal(0.0, 4.0 / 111_000.0, total) / np.cos(np.radians(lat))
    heading[rng.uniform(0, 1, total) < 0.03] = 511.0

    vessel = visits.vessel[visit[leg]]
    keep = _gap_mask(vessel, t, rng, options.gap_rate_per_day, start, end)
    rows = AisRows(
        mmsi=fleet.mmsi[vessel][keep],
        t=t[keep].astype(np.int64),
        lat=lat[keep],
        lon=lon[keep],
        sog=sog[keep],
        cog=cog[keep],
        heading=heading[keep],
        status=status[keep],
        static=vessel[keep],
    )
    # One row per vessel and second.
    order = np.lexsort((rows.t, rows.mmsi))
    dup = np.zeros(order.size, dtype=bool)
    dup[1:] = (rows.mmsi[order][1:] == rows.mmsi[order][:-1]) & (
        rows.t[order][1:] == rows.t[order][:-1]
    )
    sel = order[~dup]
    return AisRows(
        *[
            getattr(rows, n)[sel]
            for n in ["mmsi", "t", "lat", "lon", "sog", "cog", "heading", "status", "static"]
        ]
    )


def _gap_mask(
    vessel: np.ndarray,
    t: np.ndarray,
    rng: np.random.Generator,
    rate: float,
    start: float,
    end: float,
) -> np.ndarray:
    """False for rows inside a reception gap (per vessel, 1 to 4 hours)."""
    if rate <= 0 or vessel.size == 0:
        return np.ones(vessel.size, dtype=bool)
    nv = int(vessel.max()) + 1
    span_days = (end - start) / DAY
    per = rng.poisson(rate * span_days, nv)
    gv = np.repeat(np.arange(nv), per)
    gs = rng.uniform(start, end, gv.size)
    ge = gs + rng.uniform(1.0, 4.0, gv.size) * HOUR
    order = np.lexsort((gs, gv))
    gv, gs, ge = gv[order], gs[order], ge[order]
    span = end - start + 10 * DAY
    key_g = gv * span + (gs - start)
    key_r = vessel * span + (t - start)
    i = np.searchsorted(key_g, key_r, side="right") - 1
    inside = np.zeros(vessel.size, dtype=bool)
    ok = i >= 0
    ii = i[ok]
    inside[ok] = (gv[ii] == vessel[ok]) & (t[ok] < ge[ii])
    return ~inside


def extra_station_rows(
    region: Region, start: float, end: float, rng: np.random.Generator, static_base: int
) -> tuple[AisRows, list[tuple[str, str]]]:
    """Non-vessel transmitters: a base station, an aid to navigation, a SAR aircraft.

    Returns rows and, per static index from ``static_base``, (MMSI text, static columns).
    """
    gx, gy = region.sea_gate
    px, py = next(iter(region.ports.values())).entrance
    seed_id = int(rng.integers(100, 999))
    base = (f"00{seed_id % 10}{seed_id:03d}001"[:9], gx, gy)
    aton = (f"99{seed_id:03d}1001"[:9], px, py)
    rows: list[AisRows] = []
    statics: list[tuple[str, str]] = []
    hours = np.arange(np.ceil(start / HOUR) * HOUR, end, HOUR)
    for k, (mm, x, y) in enumerate([base, aton]):
        n = hours.size
        rows.append(
            AisRows(
                mmsi=np.full(n, int(mm), dtype=np.int64),
                t=(hours + rng.integers(0, 60, n)).astype(np.int64),
                lat=np.full(n, y),
                lon=np.full(n, x),
                sog=np.full(n, np.nan),
                cog=np.full(n, np.nan),
                heading=np.full(n, np.nan),
                status=np.full(n, STATUS_NONE, dtype=np.int8),
                static=np.full(n, static_base + k, dtype=np.int64),
            )
        )
        name = "BASE STATION" if k == 0 else f"{region.name.split(' (')[0].upper()} LIGHT"
        statics.append((mm, f"{name},,,"))
    # SAR aircraft: a 45-minute sweep over the anchorages about every ten days, by a
    # helicopter at 95 kn (decoded position rows carry speeds up to 102.2 kn only).
    sar = f"111{seed_id:03d}001"[:9]
    flights = np.arange(start + rng.uniform(0, 5) * DAY, end, 10 * DAY)
    parts = []
    for f0 in flights.tolist():
        tt = f0 + np.arange(0, 45 * 60, 60.0)
        frac = (tt - f0) / (45 * 60)
        lo = gx + frac * (px - gx) * 2
        la = gy + frac * (py - gy) * 2
        parts.append((tt, lo, la))
    if parts:
        tt = np.concatenate([p[0] for p in parts])
        lo = np.concatenate([p[1] for p in parts])
        la = np.concatenate([p[2] for p in parts])
        course = float(bearing_deg(np.array(gx), np.array(gy), np.array(px), np.array(py)))
        n = tt.size
        rows.append(
            AisRows(
                mmsi=np.full(n, int(sar), dtype=np.int64),
                t=tt.astype(np.int64),
                lat=la,
                lon=lo,
                sog=np.full(n, 95.0),
                cog=np.full(n, course),
                heading=np.full(n, np.nan),
                status=np.full(n, STATUS_NONE, dtype=np.int8),
                static=np.full(n, static_base + 2, dtype=np.int64),
            )
        )
    statics.append((sar, "SAR AIRCRAFT,,,"))
    out = AisRows.concat(rows)
    keep = (out.t >= start) & (out.t <= end)
    return AisRows(
        *[
            getattr(out, n)[keep]
            for n in ["mmsi", "t", "lat", "lon", "sog", "cog", "heading", "status", "static"]
        ]
    ), statics


def in_polygons(
    lon: np.ndarray, lat: np.ndarray, rings: list[tuple[tuple[float, float], ...]]
) -> np.ndarray:
    """True where a point lies inside any of ``rings``."""
    inside = np.zeros(lon.size, dtype=bool)
    for ring in rings:
        inside |= shapely.contains_xy(shapely.Polygon(ring), lon, lat)
    return inside
