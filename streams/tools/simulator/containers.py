"""Import container events on terminals: discharge, then gate out by truck or on-dock rail.

Each port's monthly box count is spread over the ship calls alongside its
terminals that month (a box is discharged while its ship is at the berth);
dwell is lognormal with a mean that follows the scenario's dwell curve at the
discharge time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.tools.simulator.calibration import DAY
from streams.tools.simulator.ids import make_container_numbers
from streams.tools.simulator.vessels import Visits

__all__ = [
    "ContainerEvents",
    "DwellPlan",
    "container_events",
    "month_starts",
    "number_boxes",
]

EVENT_DISCHARGED, EVENT_TRUCK, EVENT_RAIL = 0, 1, 2
EVENT_NAMES = ("discharged", "gate_out_truck", "loaded_rail")


@dataclass
class DwellPlan:
    """Per-port import volumes and dwell on a daily grid of epoch seconds ``t``."""

    t: np.ndarray
    truck_mean_days: np.ndarray
    rail_mean_days: np.ndarray
    monthly_boxes: dict[str, float]
    """Boxes discharged per calendar month ("YYYY-MM"), already scaled."""
    terminals: tuple[str, ...]
    rail_share: float = 0.25
    sigma: float = 0.4


@dataclass
class ContainerEvents:
    t: np.ndarray
    port: np.ndarray
    terminal: np.ndarray
    container: np.ndarray
    """Box index within the port's events until :func:`number_boxes` names them."""
    event: np.ndarray

    def __len__(self) -> int:
        return int(self.t.size)


def month_starts(start: float, end: float) -> list[tuple[str, float, float]]:
    """Calendar months overlapping [start, end): (key, month start, month end) in epoch s."""
    s = np.datetime64(int(start), "s").astype("datetime64[M]")
    e = np.datetime64(int(end), "s").astype("datetime64[M]")
    out = []
    m = s
    while m <= e:
        m0 = float(m.astype("datetime64[s]").astype(np.int64))
        m1 = float((m + 1).astype("datetime64[s]").astype(np.int64))
        out.append((str(m), m0, m1))
        m = m + 1
    return out


def container_events(
    port: str,
    plan: DwellPlan,
    visits: Visits,
    rng: np.random.Generator,
    start: float,
    end: float,
    warmup_days: float = 30.0,
) -> ContainerEvents:
    """Events of one port between ``start`` and ``end``; boxes discharged during a
    warm-up before ``start`` may gate out inside the window (their discharge is not shown)."""
    sim_start = start - warmup_days * DAY
    times: list[np.ndarray] = []
    terms: list[np.ndarray] = []
    mine = np.flatnonzero(
        (visits.port == port) & np.isfinite(visits.berth_start) & (visits.terminal_code != None)  # noqa: E711
    )
    b0 = visits.berth_start[mine]
    b1 = np.minimum(visits.berth_end[mine], end)
    for key, m0, m1 in month_starts(sim_start, end):
        lo, hi = max(m0, sim_start), min(m1, end)
        if hi <= lo:
            continue
        full = plan.monthly_boxes.get(key)
        if full is None:
            full = plan.monthly_boxes.get(
                min(plan.monthly_boxes, key=lambda k: abs(_mdiff(k, key))), 0.0
            )
        n = int(rng.poisson(full * (hi - lo) / (m1 - m0)))
        if n == 0:
            continue
        ov = np.clip(np.minimum(b1, hi) - np.maximum(b0, lo), 0.0, None)
        if ov.sum() > 0:
            pick = rng.choice(ov.size, size=n, p=ov / ov.sum())
            s = np.maximum(b0[pick], lo)
            tt = s + rng.uniform(0.0, 1.0, n) * ov[pick]
            times.append(tt)
            terms.append(visits.terminal_code[mine][pick].astype(str))
        else:
            times.append(rng.uniform(lo, hi, n))
            terms.append(np.asarray(plan.terminals)[rng.integers(0, len(plan.terminals), n)])
    if not times:
        empty = np.empty(0)
        return ContainerEvents(
            empty, empty.astype(str), empty.astype(str), empty.astype(str), empty.astype(np.int8)
        )
    t_dis = np.concatenate(times)
    term = np.concatenate(terms)
    n = t_dis.size
    rail = rng.uniform(0.0, 1.0, n) < plan.rail_share
    mean = np.where(
        rail,
        np.interp(t_dis, plan.t, plan.rail_mean_days),
        np.interp(t_dis, plan.t, plan.truck_mean_days),
    )
    median = mean * np.exp(-(plan.sigma**2) / 2.0)
    dwell = median * np.exp(rng.normal(0.0, plan.sigma, n)) * DAY
    t_out = t_dis + dwell
    numbers = np.arange(n)
    t_all = np.concatenate([t_dis, t_out])
    ev = np.concatenate(
        [
            np.full(n, EVENT_DISCHARGED, dtype=np.int8),
            np.where(rail, EVENT_RAIL, EVENT_TRUCK).astype(np.int8),
        ]
    )
    keep = (t_all >= start) & (t_all < end)
    return ContainerEvents(
        t=np.round(t_all[keep]),
        port=np.full(int(keep.sum()), port),
        terminal=np.concatenate([term, term])[keep],
        container=np.concatenate([numbers, numbers])[keep],
        event=ev[keep],
    )


def number_boxes(parts: list[ContainerEvents], rng: np.random.Generator) -> ContainerEvents:
    """Concatenate ports' events and give every box a distinct ISO 6346 number."""
    offsets = np.cumsum([0] + [int(p.container.max()) + 1 if len(p) else 0 for p in parts])
    numbers = make_container_numbers(rng, int(offsets[-1]))
    box = np.concatenate(
        [p.container.astype(np.int64) + off for p, off in zip(parts, offsets, strict=False)]
    )
    return ContainerEvents(
        t=np.concatenate([p.t for p in parts]),
        port=np.concatenate([p.port for p in parts]),
        terminal=np.concatenate([p.terminal for p in parts]),
        container=numbers[box] if box.size else box.astype(str),
        event=np.concatenate([p.event for p in parts]),
    )


def _mdiff(a: str, b: str) -> int:
    ya, ma = int(a[:4]), int(a[5:7])
    yb, mb = int(b[:4]), int(b[5:7])
    return (ya - yb) * 12 + (ma - mb)
