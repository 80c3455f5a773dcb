"""Daily inventory snapshots for sites x items, generated one day at a time, vectorized
over series so a million series cost seconds per simulated day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from streams.tools.simulator.calibration import DOS_OTHER_RANGE

__all__ = [
    "Drawdown",
    "InventoryDay",
    "InventoryPlan",
    "draw_levels",
    "inventory_days",
    "series_names",
    "true_dos",
]


@dataclass
class Drawdown:
    """Days of supply of ``series`` fall to ``floor_dos`` from ``start`` to ``bottom``,
    hold, and recover by ``end`` (epoch seconds)."""

    series: np.ndarray
    start: float
    bottom: float
    recover: float
    end: float
    floor_dos: float


@dataclass
class InventoryPlan:
    sites: list[str]
    items: list[str]
    semi_items: np.ndarray
    """Boolean per item: a semiconductor following ``semi_dos``."""
    days: np.ndarray
    """Snapshot times (epoch seconds, midnight UTC)."""
    semi_dos: np.ndarray
    """Median days of supply of semiconductors on ``days``."""
    drawdowns: list[Drawdown] = field(default_factory=list)
    usage: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Average daily usage per series (series = site index * len(items) + item index)."""
    level: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Days-of-supply level of non-semiconductor series."""
    semi_factor: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Per-series multiplier of ``semi_dos``."""

    @property
    def n_series(self) -> int:
        return len(self.sites) * len(self.items)


@dataclass
class InventoryDay:
    t: float
    on_hand: np.ndarray
    daily_usage: np.ndarray


def series_names(
    sites: int, items: int, semi_fraction: float
) -> tuple[list[str], list[str], np.ndarray]:
    """Site and item names; every ``1/semi_fraction``-th item is a semiconductor."""
    site_names = [f"S{i:05d}" for i in range(sites)]
    step = max(1, round(1.0 / semi_fraction)) if semi_fraction > 0 else 0
    semi = np.zeros(items, dtype=bool)
    if step:
        semi[::step] = True
    item_names = [f"SEMI-{i:06d}" if semi[i] else f"ITEM-{i:06d}" for i in range(items)]
    return site_names, item_names, semi


def draw_levels(plan: InventoryPlan, rng: np.random.Generator) -> None:
    """Per series: usage scale, days-of-supply level (others) and semiconductor factor."""
    n = plan.n_series
    plan.usage = np.round(np.exp(rng.normal(np.log(80.0), 0.8, n)), 2) + 1.0
    plan.level = rng.uniform(DOS_OTHER_RANGE[0], DOS_OTHER_RANGE[1], n)
    plan.semi_factor = np.exp(rng.normal(0.0, 0.15, n))


def is_semi_series(plan: InventoryPlan) -> np.ndarray:
    return np.tile(plan.semi_items, len(plan.sites))


def true_dos(plan: InventoryPlan, day_index: int) -> np.ndarray:
    """Noise-free days of supply of every series on ``plan.days[day_index]``."""
    dos = np.where(is_semi_series(plan), plan.semi_dos[day_index] * plan.semi_factor, plan.level)
    t = plan.days[day_index]
    for d in plan.drawdowns:
        if not (d.start <= t < d.end):
            continue
        if t < d.bottom:
            f = (t - d.start) / max(d.bottom - d.start, 1.0)
        elif t < d.recover:
            f = 1.0
        else:
            f = 1.0 - (t - d.recover) / max(d.end - d.recover, 1.0)
        cur = dos[d.series]
        dos[d.series] = cur + f * (np.minimum(d.floor_dos, cur) - cur)
    return dos


def inventory_days(plan: InventoryPlan, rng: np.random.Generator) -> Iterator[InventoryDay]:
    """Snapshots day by day; AR(1) noise keeps each series plausible from one day to the next."""
    n = plan.n_series
    z = rng.normal(0.0, 0.06, n)
    for i in range(plan.days.size):
        z = 0.8 * z + rng.normal(0.0, 0.035, n)
        dos = true_dos(plan, i) * np.exp(z)
        # The feed's usage column is a trailing average: it moves little day to day.
        daily = np.round(plan.usage * np.exp(rng.normal(0.0, 0.02, n)), 2)
        on_hand = np.round(dos * daily)
        yield InventoryDay(t=float(plan.days[i]), on_hand=on_hand, daily_usage=daily)
