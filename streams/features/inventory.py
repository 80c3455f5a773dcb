"""Inventory features: days of supply, drawdown, and per-site aggregates.

Input: batches of ``INVENTORY_DTYPE`` snapshots (site, item, on hand, daily
usage), in any order and batch sizes, for up to millions of ``site|item``
series. Series rows come from a registry of ``site|item`` byte strings
(``np.unique`` per batch plus a dict for new keys); everything else is array
arithmetic, with one vectorized step per snapshot rank when a series has
several snapshots in one pass.

Definitions:

* ``days_of_supply = on_hand / daily_usage``. A usage of zero or less means the
  stock does not run down: the value is ``+inf`` when something is on hand and
  NaN (undefined) when nothing is on hand either. Infinite values take part in
  the site percentiles (they sort last); NaN values do not.
* ``drawdown``: days of supply lost per day, an exponentially weighted average
  of the change between consecutive snapshots (``(dos_prev - dos) / days``)
  with weight ``1 - exp(-days / drawdown_window_days)``. Positive means the
  cover is shrinking. It is NaN until two consecutive finite values exist;
  pairs with a non-finite value or no time between them leave it unchanged.

Per interval, for each series with a snapshot in it (the last one counts):
``days_of_supply|SITE|ITEM`` and ``drawdown|SITE|ITEM``; for each site with
snapshots: ``days_of_supply_p10|SITE``, ``days_of_supply_p50|SITE`` (the
median) over those series, and ``below_limit|SITE``, the number of them
under ``limit_days``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.features._state import (
    BytesRegistry,
    Columns,
    load_npz,
    save_npz,
    sort_by_entity_time,
)
from streams.features.windows import (
    NONE,
    Partials,
    WindowConfig,
    WindowedEngine,
    floor_to,
)

__all__ = ["InventoryConfig", "InventoryFeatures", "days_of_supply"]

DAY_MS = 86_400_000
QUANTILES = {"days_of_supply": (10, 50)}


def days_of_supply(
    on_hand: npt.NDArray[np.float64], usage: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """On hand / daily usage, with usage <= 0 giving +inf (stock) or NaN (no stock).

    >>> days_of_supply(np.array([100.0, 5.0, 0.0]), np.array([20.0, 0.0, 0.0])).tolist()
    [5.0, inf, nan]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        dos = on_hand / usage
    return np.where(usage > 0, dos, np.where(on_hand > 0, np.inf, np.nan))


@dataclass(frozen=True)
class InventoryConfig:
    """Windows and thresholds of the inventory engine."""

    window: WindowConfig = field(default_factory=lambda: WindowConfig(interval_s=86_400))
    drawdown_window_days: float = 7.0
    """Time constant of the exponentially weighted drawdown rate."""
    limit_days: float = 5.0
    """Days of supply under which a series counts in ``below_limit``."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


_STATE = {
    "last_ts": (np.int64, NONE),
    "dos": (np.float64, np.nan),
    "rate": (np.float64, np.nan),
    "arrived": (np.int64, NONE),
}
_PENDING = {"ent": np.int64, "ts": np.int64, "on_hand": np.float64, "usage": np.float64}


class InventoryFeatures(WindowedEngine):
    """Per-series state (struct of arrays) and per-series / per-site features."""

    PENDING = _PENDING
    QUANTILES = QUANTILES

    def __init__(self, config: InventoryConfig | None = None) -> None:
        self.config = config or InventoryConfig()
        self._start_windows()
        self.series = BytesRegistry()  # b"site|item"
        self.sites = BytesRegistry()
        self.site_of = np.empty(0, dtype=np.int64)
        self.state = Columns(_STATE)
        self.stats: dict[str, int] = {"records": 0, "late": 0, "late_applied": 0}

    def _rows(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        keys = np.char.add(np.char.add(batch["site"], b"|"), batch["item"])
        before = len(self.series)
        ent = self.series.rows(keys)
        if len(self.series) > before:
            # the site of each new series, from its first row in the batch
            uniq, first = np.unique(ent, return_index=True)
            sel = uniq >= before
            site_rows = self.sites.rows(batch["site"][first[sel]])
            site_of = np.empty(len(self.series) - before, dtype=np.int64)
            site_of[uniq[sel] - before] = site_rows
            self.site_of = np.concatenate([self.site_of, site_of])
        return ent

    def process(self, batch: npt.NDArray[Any]) -> Partials:
        """Take a batch of snapshots; return partials for the intervals it closes."""
        self.stats["records"] += len(batch)
        ts = batch["ts_ms"].astype(np.int64)
        before = self.clock.observe(ts)
        late = ts < before
        ent = self._rows(batch)
        self.state.grow(len(self.series))
        applied = self._late_applied(ent, ts, late, self.state["arrived"])
        rows = {
            "ent": ent,
            "ts": ts,
            "on_hand": batch["on_hand"].astype(np.float64),
            "usage": batch["daily_usage"].astype(np.float64),
        }
        self.pending = {k: np.concatenate([self.pending[k], rows[k][~late]]) for k in _PENDING}
        late_rows = {k: v[applied] for k, v in rows.items()}
        late_rows["eff"] = before[applied]
        return self._advance(late_rows)

    def _apply(self, r: dict[str, npt.NDArray[Any]], c_new: int) -> Partials:
        cfg = self.config
        step = cfg.window.interval_ms
        st = self.state
        order = sort_by_entity_time(r["ent"], r["ts"])
        r = {k: v[order] for k, v in r.items()}
        n = len(r["ts"])
        if n == 0:
            return Partials(quantiles=dict(QUANTILES))
        dos = days_of_supply(r["on_hand"], r["usage"])
        rate = np.full(n, np.nan)
        first = np.ones(n, dtype=bool)
        first[1:] = r["ent"][1:] != r["ent"][:-1]
        start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        rank = np.arange(n) - start
        by_rank = np.argsort(rank, kind="stable")
        cuts = np.flatnonzero(np.diff(rank[by_rank])) + 1
        tau = cfg.drawdown_window_days
        for grp in np.split(by_rank, cuts):
            e, t, d = r["ent"][grp], r["ts"][grp], dos[grp]
            prev_t, prev_d, prev_r = st["last_ts"][e], st["dos"][e], st["rate"][e]
            dt_days = (t - prev_t) / DAY_MS
            ok = (prev_t != NONE) & (dt_days > 0) & np.isfinite(prev_d) & np.isfinite(d)
            with np.errstate(invalid="ignore", divide="ignore"):
                raw = (prev_d - d) / dt_days
                alpha = -np.expm1(-dt_days / tau)
            new_r = np.where(np.isnan(prev_r), raw, prev_r + alpha * (raw - prev_r))
            new_r = np.where(ok, new_r, prev_r)
            st["rate"][e] = new_r
            st["dos"][e] = d
            st["last_ts"][e] = t
            rate[grp] = new_r
        if self.emitted == NONE:
            self.emitted = min(int(floor_to(int(r["ts"].min()), step)), c_new)
        c_prev = self.emitted
        self.emitted = c_new
        # one output per (series, interval): the last non-late snapshot
        use = ~r["late"]
        ent, ts, dos_u, rate_u = r["ent"][use], r["ts"][use], dos[use], rate[use]
        k = (ts - c_prev) // step
        last = np.ones(len(ent), dtype=bool)
        last[:-1] = (ent[1:] != ent[:-1]) | (k[1:] != k[:-1])
        ent, ts, dos_u, rate_u, k = ent[last], ts[last], dos_u[last], rate_u[last], k[last]
        ends = c_prev + (k + 1) * step
        keys = self.series.keys[ent]
        sites = self.sites.keys[self.site_of[ent]]
        below = (dos_u < cfg.limit_days).astype(np.float64)
        return Partials(
            sums_key=np.char.add(b"below_limit|", sites),
            sums_end=ends,
            sums_val=below,
            samples_key=np.char.add(b"days_of_supply|", sites),
            samples_end=ends,
            samples_val=dos_u,
            values_key=np.concatenate(
                [np.char.add(b"days_of_supply|", keys), np.char.add(b"drawdown|", keys)]
            ),
            values_end=np.concatenate([ends, ends]),
            values_val=np.concatenate([dos_u, rate_u]),
            values_ts=np.concatenate([ts, ts]),
            quantiles=dict(QUANTILES),
        )

    def snapshot(self) -> bytes:
        """The whole engine state as bytes (``np.savez`` into a buffer)."""
        arrays = self.state.dump("s_")
        arrays.update({"p_" + k: v for k, v in self.pending.items()})
        arrays.update(self.clock.state())
        arrays["series"] = self.series.dump()
        arrays["sites"] = self.sites.dump()
        arrays["site_of"] = self.site_of
        meta = {"config": self.config.to_json(), "emitted": self.emitted, "stats": self.stats}
        return save_npz(arrays, meta)

    def restore(self, data: bytes) -> None:
        """Load a snapshot taken by an engine with the same configuration."""
        arrays, meta = load_npz(data)
        if meta["config"] != self.config.to_json():
            raise ValueError("snapshot was taken with another configuration")
        self.state.load("s_", arrays)
        self.pending = {k: arrays["p_" + k].astype(dt) for k, dt in _PENDING.items()}
        self.clock.load(arrays)
        self.series.load(arrays["series"])
        self.sites.load(arrays["sites"])
        self.site_of = arrays["site_of"].astype(np.int64)
        self.emitted = int(meta["emitted"])
        self.stats = {k: int(v) for k, v in meta["stats"].items()}
