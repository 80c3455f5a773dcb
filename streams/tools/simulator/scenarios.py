"""Scenarios: the calibrated ``san-pedro-bay-2021`` and a labelled ``random`` one."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from streams.geo import (
    Anchorage,
    Berth,
    Geography,
    Limits,
    Port,
    Region,
    Terminal,
    WaitingArea,
    load_geography,
)
from streams.labels import Event, Window
from streams.tools.simulator import calibration as cal
from streams.tools.simulator.calibration import DAY, curve_at, iso_to_epoch
from streams.tools.simulator.containers import DwellPlan, month_starts
from streams.tools.simulator.inventory import Drawdown, InventoryPlan, draw_levels, series_names
from streams.tools.simulator.labels import limit_time, windows_from_curve
from streams.tools.simulator.vessels import QueuePlan, feasible_waiting

__all__ = ["SCENARIOS", "ScenarioOptions", "ScenarioPlan", "build_scenario"]

HOUR = 3600.0
WARMUP_DAYS = 21.0
TAIL_DAYS = 30.0
"""Ship calls are planned this far past the end so waiting ships have a berthing time."""
P90_Z = 1.2815515655446004


@dataclass
class ScenarioOptions:
    seed: int = 0
    start: str | None = None
    """First day (ISO date); scenario default when None."""
    end: str | None = None
    """Last day, inclusive (ISO date); scenario default when None."""
    ports: int = 5
    """Ports of the ``random`` scenario."""
    items: int | None = None
    sites: int | None = None
    volume_scale: float = 0.01
    """Fraction of real box volumes to generate."""
    semi_fraction: float = 0.1


@dataclass
class ScenarioPlan:
    name: str
    geography: Geography
    regions: list[Region]
    start: float
    end: float
    queues: list[QueuePlan]
    dwell: dict[str, DwellPlan]
    inventory: InventoryPlan
    windows: list[Window] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    inventory_windows: Callable[[], list[Window]] | None = None
    """Deferred per-series inventory labels (can be many)."""


def _range(options: ScenarioOptions, start: str, end: str) -> tuple[float, float]:
    s = iso_to_epoch(options.start or start)
    e = iso_to_epoch(options.end or end) + DAY
    if e <= s:
        raise ValueError(f"end {options.end or end} is before start {options.start or start}")
    return s, e


def _p90(mean: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(mean * np.exp(P90_Z * sigma - sigma**2 / 2.0))


def _semi_windows(plan: InventoryPlan, limit: float) -> list[Window]:
    """Semiconductor drawdown windows: shared onset/end, per-series limit crossing."""
    c = plan.semi_dos
    t = plan.days
    if c.size == 0:
        return []
    base = c[0]
    low = np.flatnonzero(c < 0.75 * base)
    if low.size == 0:
        return []
    onset_i = int(low[0])
    back = np.flatnonzero((np.arange(c.size) > onset_i) & (c >= 0.75 * base))
    end_i = int(back[0]) if back.size else c.size - 1
    running_min = np.minimum.accumulate(c)
    semi_series = np.flatnonzero(np.tile(plan.semi_items, len(plan.sites)))
    thresholds = limit / plan.semi_factor[semi_series]
    # First day the curve reaches each series' threshold (running minimum is monotone).
    idx = np.searchsorted(-running_min, -thresholds, side="left")
    out = []
    n_items = len(plan.items)
    for s, i in zip(semi_series.tolist(), idx.tolist(), strict=True):
        crossed = float(t[i]) if i < t.size and t[i] <= t[end_i] else None
        key = f"days_of_supply|{plan.sites[s // n_items]}|{plan.items[s % n_items]}"
        out.append(
            Window(
                key,
                "inventory_drawdown",
                float(t[onset_i]),
                float(t[end_i]),
                crossed,
                "semiconductor days of supply falling from about 40 (2019) towards under 5 "
                "(US Dept of Commerce, 2022-01-25)",
            )
        )
    return out


def _inventory_plan(
    options: ScenarioOptions,
    start: float,
    end: float,
    rng: np.random.Generator,
    sites: int,
    items: int,
    semi_curve: cal.CURVE | None,
) -> InventoryPlan:
    site_names, item_names, semi = series_names(
        sites, items, options.semi_fraction if semi_curve else 0.0
    )
    days = np.arange(math.ceil(start / DAY) * DAY, end, DAY)
    semi_dos = curve_at(semi_curve, days) if semi_curve else np.zeros(days.size)
    plan = InventoryPlan(site_names, item_names, semi, days, semi_dos)
    draw_levels(plan, rng)
    return plan


def san_pedro_bay_2021(options: ScenarioOptions) -> ScenarioPlan:
    """The 2020-2022 San Pedro Bay congestion, calibrated to published figures."""
    geo = load_geography()
    region = geo.regions["san-pedro-bay"]
    start, end = _range(options, "2020-09-01", "2022-05-31")
    t = np.arange(start - WARMUP_DAYS * DAY, end + TAIL_DAYS * DAY, HOUR)
    waiting = curve_at(cal.WAITING_SPB, t)
    anchored = np.minimum(curve_at(cal.ANCHORED_SPB, t), waiting)

    # Berthing rate from the monthly loaded-import TEU of both ports.
    months = month_starts(t[0], t[-1])
    mid = np.array([(m0 + m1) / 2 for _, m0, m1 in months])
    la = np.array([_teu(cal.LA_LOADED_IMPORTS_TEU, k) for k, _, _ in months])
    lb = np.array([_teu(cal.LB_LOADED_IMPORTS_TEU, k) for k, _, _ in months])
    days_in = np.array([(m1 - m0) / DAY for _, m0, m1 in months])
    rate = np.interp(t, mid, (la + lb) / days_in / cal.IMPORT_TEU_PER_CALL)
    share_la = np.interp(t, mid, la / (la + lb))
    # Assumption: median time alongside 2.5 days, 3.5 at the height of congestion.
    berth_days = 2.5 + 1.0 * np.clip((waiting - 2.0) / 60.0, 0.0, 1.0)
    offshore_from = iso_to_epoch(cal.OFFSHORE_QUEUE_FROM)
    queue = QueuePlan(
        region=region,
        t=t,
        waiting=waiting,
        anchored=anchored,
        berth_rate=rate,
        port_weights={"USLAX": share_la, "USLGB": 1.0 - share_la},
        berth_days=berth_days,
        offshore_from=offshore_from,
    )

    days = np.arange(start - 40 * DAY, end + DAY, DAY)
    dwell: dict[str, DwellPlan] = {}
    for code, table in (("USLAX", cal.LA_LOADED_IMPORTS_TEU), ("USLGB", cal.LB_LOADED_IMPORTS_TEU)):
        dwell[code] = DwellPlan(
            t=days,
            truck_mean_days=curve_at(cal.DWELL_TRUCK_MEAN, days),
            rail_mean_days=curve_at(cal.DWELL_RAIL_MEAN, days),
            monthly_boxes={
                k: v * cal.BOXES_PER_TEU * options.volume_scale for k, v in table.items()
            },
            terminals=tuple(term.code for term in region.ports[code].terminals),
            rail_share=cal.RAIL_SHARE,
            sigma=cal.DWELL_SIGMA,
        )

    inv = _inventory_plan(
        options, start, end, np.random.default_rng([options.seed, 3]),
        options.sites or 20, options.items or 50, cal.DOS_SEMI,
    )  # fmt: skip

    limits = region.limits
    cap = float(limits.anchorages or 55)
    inside = (t >= start) & (t <= end)
    qt = t[inside]
    w_in = waiting[inside]
    a_in = anchored[inside]
    windows: list[Window] = []
    windows += windows_from_curve(
        "vessels_waiting|san-pedro-bay", "queue_buildup", qt, w_in, 5.0, cap,
        "container ships waiting for a berth in San Pedro Bay (at anchor, drifting or "
        "offshore) above the normal 0-2; limit = the ~55 anchorages",
    )  # fmt: skip
    windows += windows_from_curve(
        "vessels_at_anchor|san-pedro-bay", "anchorage_congestion", qt, a_in, 5.0, cap,
        "container ships at anchor in the San Pedro Bay anchorages; limit = ~55 anchorages",
    )  # fmt: skip
    for code, share in (("USLAX", share_la), ("USLGB", 1.0 - share_la)):
        port_cap = float(region.ports[code].limits.anchorages or cap)
        windows += windows_from_curve(
            f"vessels_waiting|{code}", "queue_buildup", qt, (waiting * share)[inside],
            3.0, port_cap,
            f"container ships waiting for a berth at {region.ports[code].name}; "
            f"limit = its {port_cap:.0f} anchorages",
        )  # fmt: skip
    for code, d in dwell.items():
        sel = d.t >= start
        dt_ = d.t[sel]
        truck = _p90(d.truck_mean_days, d.sigma)[sel]
        rail = _p90(d.rail_mean_days, d.sigma)[sel]
        pl = region.ports[code].limits
        windows += windows_from_curve(
            f"dwell_truck_p90|{code}", "dwell_spike", dt_, truck, 1.3 * float(truck[0]),
            pl.truck_dwell_days,
            "p90 dwell of truck-bound import boxes (PMSA: 5.94 d 2021-09, record 8.4 d 2021-11); "
            "limit = excess dwell fee day 9",
        )  # fmt: skip
        windows += windows_from_curve(
            f"dwell_rail_p90|{code}", "dwell_spike", dt_, rail, 1.3 * float(rail[0]),
            pl.rail_dwell_days_later or pl.rail_dwell_days,
            "p90 dwell of on-dock rail import boxes (PMSA: 11.2 d 2021-04); "
            "limit = excess dwell fee rail day 6 (first announced as day 3)",
        )  # fmt: skip
    dos_limit = float(limits.days_of_supply or 5.0)
    events = [
        Event(
            offshore_from,
            "counting_change",
            ("vessels_waiting|san-pedro-bay", "vessels_at_anchor|san-pedro-bay",
             "vessels_waiting|USLAX", "vessels_waiting|USLGB"),
            "new queuing system (Marine Exchange of Southern California): ships wait about "
            "150 miles offshore and the queue count includes them; a methodology change, "
            "not a disruption",
        ),
        Event(
            iso_to_epoch("2021-10-25"),
            "policy",
            ("dwell_truck_p90|USLAX", "dwell_truck_p90|USLGB",
             "dwell_rail_p90|USLAX", "dwell_rail_p90|USLGB"),
            "Container Excess Dwell Fee announced: truck-bound imports from day 9, "
            "rail-bound from day 3 (later day 6)",
        ),
    ]  # fmt: skip
    events = [e for e in events if start <= e.time_s < end]
    return ScenarioPlan(
        name="san-pedro-bay-2021",
        geography=geo,
        regions=[region],
        start=start,
        end=end,
        queues=[queue],
        dwell=dwell,
        inventory=inv,
        windows=windows,
        events=events,
        inventory_windows=lambda: _semi_windows(inv, dos_limit),
    )


def _teu(table: dict[str, float], key: str) -> float:
    if key in table:
        return table[key]
    nearest = min(
        table, key=lambda k: abs(int(k[:4]) * 12 + int(k[5:7]) - int(key[:4]) * 12 - int(key[5:7]))
    )
    return table[nearest]


# ------------------------------------------------------------------ random


def _locode(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "XZ" + letters[(i // 676) % 26] + letters[(i // 26) % 26] + letters[i % 26]


def _octagon(lon: float, lat: float, r: float) -> tuple[tuple[float, float], ...]:
    rl = r / math.cos(math.radians(lat))
    pts = [
        (
            round(lon + rl * math.cos(math.radians(22.5 + 45 * k)), 5),
            round(lat + r * math.sin(math.radians(22.5 + 45 * k)), 5),
        )
        for k in range(8)
    ]
    return (*pts, pts[0])


def _rect(lon: float, lat: float, dlon: float, dlat: float) -> tuple[tuple[float, float], ...]:
    p = [
        (lon - dlon, lat - dlat),
        (lon + dlon, lat - dlat),
        (lon + dlon, lat + dlat),
        (lon - dlon, lat + dlat),
    ]
    p = [(round(a, 5), round(b, 5)) for a, b in p]
    return (*p, p[0])


MAX_RANDOM_PORTS = 1960


def synthetic_region(i: int) -> Region:
    """A fictional one-port region on a world grid (LOCODE country XZ, user-assigned)."""
    cx = -175.0 + (i % 70) * 5.0
    cy = -55.0 + (i // 70) * 4.0
    code = _locode(i)
    anchorages = tuple(
        Anchorage(
            f"{code}-A{k + 1}",
            code,
            "outer",
            _octagon(cx + ((k % 4) - 1.5) * 0.02, cy - 0.04 - (k // 4) * 0.015, 0.0035),
        )
        for k in range(12)
    )
    terminals = tuple(
        Terminal(
            name=f"Terminal {j + 1}",
            code=f"T{j + 1}",
            port=code,
            berths=tuple(
                Berth(
                    f"T{j + 1}-{b + 1}",
                    _rect(cx - 0.02 + j * 0.02 + (b - 0.5) * 0.0045, cy + 0.03, 0.0018, 0.0004),
                )
                for b in range(2)
            ),
        )
        for j in range(3)
    )
    limits = Limits(anchorages=12, truck_dwell_days=9.0, rail_dwell_days=3.0, days_of_supply=5.0)
    port = Port(code, f"Port {code}", f"zone-{i:04d}", (cx, cy), terminals, limits)
    return Region(
        id=f"zone-{i:04d}",
        name=f"Zone {i:04d}",
        sea_gate=(cx, cy - 0.12),
        approach_bearings=(180.0, 240.0),
        limits=limits,
        ports={code: port},
        anchorages=anchorages,
        waiting_areas=(WaitingArea("drifting", "drifting", _rect(cx, cy - 0.3, 0.12, 0.08)),),
    )


def _trapezoid(t: np.ndarray, t0: float, t1: float, t2: float, t3: float) -> np.ndarray:
    up = np.clip((t - t0) / max(t1 - t0, 1.0), 0.0, 1.0)
    down = np.clip((t3 - t) / max(t3 - t2, 1.0), 0.0, 1.0)
    return np.asarray(np.minimum(up, down))


def _random_windows(
    rng: np.random.Generator, start: float, end: float, per_90_days: float
) -> list[tuple[float, float, float, float]]:
    """Non-overlapping (start, top, plateau end, end) windows, in order.

    About ``per_90_days`` windows per 90 days (Poisson); ramps and plateaus last
    3 to 21 days, shortened to fit short scenarios.
    """
    span = end - start
    n = int(rng.poisson(per_90_days * span / (90 * DAY)))
    out: list[tuple[float, float, float, float]] = []
    cursor = start + min(rng.uniform(1, 10) * DAY, 0.1 * span)
    for k in range(n):
        parts = np.array([rng.uniform(3, 14), rng.uniform(3, 21), rng.uniform(3, 14)]) * DAY
        room = (end - cursor) / (n - k)
        if parts.sum() > 0.8 * room:
            parts *= 0.8 * room / parts.sum()
        if parts.sum() < 3 * DAY:
            break
        t0 = cursor + rng.uniform(0.0, max(0.0, room - parts.sum()))
        ramp, hold, fall = parts.tolist()
        out.append((t0, t0 + ramp, t0 + ramp + hold, t0 + ramp + hold + fall))
        cursor = t0 + ramp + hold + fall + 3 * DAY
    return out


def random_scenario(options: ScenarioOptions) -> ScenarioPlan:
    """Any number of fictional ports with randomly placed, labelled disruptions."""
    if not 1 <= options.ports <= MAX_RANDOM_PORTS:
        raise ValueError(f"ports must be between 1 and {MAX_RANDOM_PORTS}")
    rng = np.random.default_rng([options.seed, 11])
    start, end = _range(options, "2021-01-01", "2021-04-30")
    regions = [synthetic_region(i) for i in range(options.ports)]
    geo = Geography(regions={r.id: r for r in regions})
    t = np.arange(start - WARMUP_DAYS * DAY, end + TAIL_DAYS * DAY, HOUR)
    days = np.arange(start - 40 * DAY, end + DAY, DAY)
    queues: list[QueuePlan] = []
    dwell: dict[str, DwellPlan] = {}
    windows: list[Window] = []
    for region in regions:
        code = next(iter(region.ports))
        cap = float(region.limits.anchorages or 12)
        base_w = rng.uniform(0.5, 2.0)
        planned = np.full(t.size, base_w)
        onsets = []
        for w in _random_windows(rng, start, end, 1.0):
            planned += (rng.uniform(8.0, 40.0) - base_w) * _trapezoid(t, *w)
            onsets.append(w[0])
        rate = rng.uniform(1.5, 6.0)
        # The queue drains no faster than ships berth: label what can happen.
        waiting = feasible_waiting(t, planned, np.full(t.size, rate))
        inside = (t >= start) & (t <= end)
        for found in windows_from_curve(
            f"vessels_waiting|{code}", "queue_buildup", t[inside], waiting[inside],
            base_w + 1.0, cap, "", min_days=1.0,
        ):  # fmt: skip
            starts = [o for o in onsets if o <= found.onset]
            onset = max(starts) if starts else found.onset
            peak = float(waiting[(t >= onset) & (t <= found.end)].max())
            description = (
                f"queue build-up to about {peak:.0f} ships waiting (capacity {cap:.0f} anchorages)"
                + (" (still open at the end of the scenario)" if found.end >= end else "")
            )
            windows.append(replace(found, onset=onset, description=description))
        queues.append(
            QueuePlan(
                region=region,
                t=t,
                waiting=waiting,
                anchored=np.minimum(waiting, cap),
                berth_rate=np.full(t.size, rate),
                port_weights={code: np.ones(t.size)},
                berth_days=np.full(t.size, rng.uniform(1.5, 3.0)),
            )
        )
        truck = np.full(days.size, rng.uniform(2.5, 3.5))
        for w in _random_windows(rng, start, end, 0.8):
            peak = rng.uniform(6.0, 12.0)
            truck += (peak - truck[0]) * _trapezoid(days, *w)
            p90 = _p90(truck, cal.DWELL_SIGMA)
            windows.append(
                Window(f"dwell_truck_p90|{code}", "dwell_spike", w[0], w[3],
                       limit_time(days, p90, region.limits.truck_dwell_days, w[0], w[3]),
                       f"truck dwell mean rising to about {peak:.1f} days")
            )  # fmt: skip
        boxes = rate * 30.4 * cal.IMPORT_TEU_PER_CALL * cal.BOXES_PER_TEU * options.volume_scale
        dwell[code] = DwellPlan(
            t=days,
            truck_mean_days=truck,
            rail_mean_days=np.full(days.size, rng.uniform(2.0, 3.0)),
            monthly_boxes={
                k: boxes * rng.uniform(0.9, 1.1) for k, _, _ in month_starts(days[0], end)
            },
            terminals=tuple(term.code for term in region.ports[code].terminals),
        )
    inv = _inventory_plan(
        options, start, end, np.random.default_rng([options.seed, 13]),
        options.sites or 10, options.items or 100, None,
    )  # fmt: skip
    n_series = inv.n_series
    inv_rng = np.random.default_rng([options.seed, 17])
    for w in _random_windows(inv_rng, start, end, 3.0):
        k = max(1, int(n_series * inv_rng.uniform(0.001, 0.01)))
        series = np.sort(inv_rng.choice(n_series, size=k, replace=False))
        inv.drawdowns.append(
            Drawdown(series, w[0], w[1], w[2], w[3], float(inv_rng.uniform(1.0, 6.0)))
        )
    dos_limit = 5.0

    def inventory_windows() -> list[Window]:
        out = []
        n_items = len(inv.items)
        for d in inv.drawdowns:
            level = inv.level[d.series]
            frac = np.clip((level - dos_limit) / np.maximum(level - d.floor_dos, 1e-9), 0.0, None)
            crossed = np.where(
                d.floor_dos <= dos_limit, d.start + frac * (d.bottom - d.start), np.nan
            )
            for s, c in zip(d.series.tolist(), crossed.tolist(), strict=True):
                out.append(
                    Window(
                        f"days_of_supply|{inv.sites[s // n_items]}|{inv.items[s % n_items]}",
                        "inventory_drawdown", d.start, d.end,
                        None if math.isnan(c) else math.ceil(c / DAY) * DAY,
                        f"days of supply drawn down to about {d.floor_dos:.1f}",
                    )
                )  # fmt: skip
        return out

    return ScenarioPlan(
        name="random",
        geography=geo,
        regions=regions,
        start=start,
        end=end,
        queues=queues,
        dwell=dwell,
        inventory=inv,
        windows=[w for w in windows if w.onset < end],
        events=[],
        inventory_windows=inventory_windows,
    )


SCENARIOS: dict[str, Callable[[ScenarioOptions], ScenarioPlan]] = {
    "san-pedro-bay-2021": san_pedro_bay_2021,
    "random": random_scenario,
}


def build_scenario(name: str, options: ScenarioOptions) -> ScenarioPlan:
    """Plan of scenario ``name``; ``ValueError`` for an unknown name or bad option."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[name](options)
