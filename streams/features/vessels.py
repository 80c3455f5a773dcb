"""Vessel features from AIS positions: ships waiting, arrivals, departures, waiting time.

Input: batches of ``POSITION_DTYPE`` records (``streams.feeds.codec``), in any
order and split into batches of any size. Output: :class:`Partials` per closed
interval (see :mod:`streams.features.windows`), mergeable across engines.

Rules (all thresholds in :class:`VesselConfig`):

* Only ship stations count: MMSIs whose first digit is 2 to 7 (a maritime
  identification digit). Group and coast stations (``0...``, including base
  stations ``00MID....``), SAR aircraft (``111MID...``), handheld radios
  (``8...``), AIS-SART/MOB/EPIRB (``970``-``974``), craft associated with a
  parent ship (``98...``) and aids to navigation (``99...``) are excluded and
  counted in ``stats["excluded_mmsi"]``. They do not move the watermark.
* With ``cargo_only``, a position whose ``ship_type`` is known (not 0) and not
  in 70-79 (cargo) is excluded; an unknown type still counts, because most
  position reports do not carry the type.
* A position is a *waiting candidate* when it is in an anchorage at a speed over
  ground below ``slow_knots``, or in an active waiting area below
  ``loiter_knots`` (ships drift or steam slowly there rather than anchor), or reports
  navigational status 1 (at anchor) anywhere inside the region's area but not
  at a berth. A vessel is *waiting* once its consecutive candidate positions
  span at least ``min_dwell_s`` (a silence longer than ``max_gap_s`` breaks the
  run), or at once while it reports status 1 inside the region's area. It
  counts for the port of the anchorage it is in, and always for the region;
  in a waiting area or at anchor outside the anchorages it counts for the
  region only.
* The vessel's *episode* starts with its first waiting run since it last
  reached a berth or left the region; when it reaches a berth, the time since
  the episode start is its waiting time.
* *Arrival*: a position at a berth after the vessel was seen away from the
  berths (a vessel first seen at a berth was already there: no arrival).
  *Departure*: after a berth, a position outside every berth moving at
  ``slow_knots`` or more, or outside the region. Slow positions just outside a
  berth (GPS jitter, warping) keep the vessel at its berth.
* ``vessels_waiting`` at an interval end counts vessels waiting as of their
  last position before that end, unless that position is older than
  ``max_gap_s``.

Series (see ``docs/FEATURES.md``): ``vessels_waiting|X``, ``arrivals|X``,
``departures|X``, ``wait_p50|X``, ``wait_p90|X`` (hours) for every port and
region ``X``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.features._state import (
    Columns,
    IntRegistry,
    dense_sums,
    load_npz,
    save_npz,
    sort_by_entity_time,
)
from streams.features.geofence import KIND_ANCHORAGE, KIND_BERTH, KIND_WAITING, Geofence
from streams.features.windows import (
    NONE,
    Partials,
    WindowConfig,
    WindowedEngine,
    floor_to,
)
from streams.geo import Geography

__all__ = ["VesselConfig", "VesselFeatures", "is_ship_mmsi"]

INF = 2**62
UNKNOWN = -2
"""Berth state of a vessel not seen yet: a first report at a berth is no arrival."""
I64 = npt.NDArray[np.int64]


def is_ship_mmsi(mmsi: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """True for ship-station MMSIs (9 digits, first digit 2-7).

    >>> is_ship_mmsi(np.array([366999999, 3669999, 993661234, 111366001, 970123456])).tolist()
    [True, False, False, False, False]
    """
    m = mmsi.astype(np.int64)
    return (m >= 200_000_000) & (m < 800_000_000)


@dataclass(frozen=True)
class VesselConfig:
    """Thresholds of the vessel engine."""

    window: WindowConfig = field(default_factory=WindowConfig)
    slow_knots: float = 1.5
    """Speed over ground below which a vessel in an anchorage may be waiting."""
    loiter_knots: float = 3.0
    """Speed over ground below which a vessel in a waiting area (drifting or loitering
    offshore, where ships steam slowly rather than anchor) may be waiting."""
    min_dwell_s: int = 1800
    """Time a vessel must stay a waiting candidate before it counts as waiting."""
    max_gap_s: int = 6 * 3600
    """A silence longer than this breaks a waiting run and stops a vessel counting."""
    cargo_only: bool = False
    """Exclude positions whose known ship type is not cargo (70-79); unknown types count."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


_STATE = {
    "last_ts": (np.int64, NONE),
    "last_eff": (np.int64, NONE),
    "cand": (np.bool_, False),
    "run_start": (np.int64, NONE),
    "waiting": (np.bool_, False),
    "wport": (np.int16, -1),
    "wregion": (np.int16, -1),
    "episode": (np.int64, INF),
    "berth": (np.int16, UNKNOWN),
    "arrived": (np.int64, NONE),
}
_PENDING = {
    "ent": np.int64,
    "ts": np.int64,
    "zone": np.int16,
    "region": np.int16,
    "sog": np.float32,
    "nav": np.int8,
}


class VesselFeatures(WindowedEngine):
    """Per-vessel state (struct of arrays) and per-port/region interval features.

    >>> from streams.geo import load_geography
    >>> from streams.feeds.codec import POSITION_DTYPE
    >>> eng = VesselFeatures(load_geography())
    >>> eng.process(np.zeros(0, dtype=POSITION_DTYPE)).sums_key.size
    0
    """

    PENDING = _PENDING
    QUANTILES = MappingProxyType({"wait": (50, 90)})

    def __init__(self, geography: Geography | Geofence, config: VesselConfig | None = None) -> None:
        self.config = config or VesselConfig()
        self.fence = geography if isinstance(geography, Geofence) else Geofence(geography)
        f = self.fence
        self._np, self._nr = len(f.port_codes), len(f.region_ids)
        names = [c.encode() for c in f.port_codes] + [r.encode() for r in f.region_ids]
        self._targets = names
        self._sum_names = [
            m + b"|" + t for m in (b"vessels_waiting", b"arrivals", b"departures") for t in names
        ]
        self._fam_names = [b"wait|" + t for t in names]
        self._start_windows()
        self.registry = IntRegistry()
        self.state = Columns(_STATE)
        self.stats: dict[str, int] = {
            "records": 0,
            "excluded_mmsi": 0,
            "excluded_ship_type": 0,
            "excluded_position": 0,
            "late": 0,
            "late_applied": 0,
        }

    # -- input ---------------------------------------------------------------

    def process(self, batch: npt.NDArray[Any]) -> Partials:
        """Take a batch of positions; return partials for the intervals it closes."""
        n = len(batch)
        self.stats["records"] += n
        keep = is_ship_mmsi(batch["mmsi"])
        self.stats["excluded_mmsi"] += int(n - keep.sum())
        if self.config.cargo_only:
            st = batch["ship_type"].astype(np.int64)
            ok = (st == 0) | ((st >= 70) & (st <= 79))
            self.stats["excluded_ship_type"] += int((keep & ~ok).sum())
            keep &= ok
        lat, lon = batch["lat"], batch["lon"]
        okpos = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        self.stats["excluded_position"] += int((keep & ~okpos).sum())
        keep &= okpos
        if not keep.all():
            batch = batch[keep]
        ts = batch["ts_ms"].astype(np.int64)
        before = self.clock.observe(ts)
        late = ts < before
        ent = self.registry.rows(batch["mmsi"])
        self.state.grow(len(self.registry))
        applied = self._late_applied(ent, ts, late, self.state["arrived"])
        use = ~late | applied
        if not use.all():
            batch, ts, before, late, ent = batch[use], ts[use], before[use], late[use], ent[use]
        lon, lat = batch["lon"].astype(np.float64), batch["lat"].astype(np.float64)
        zone = self.fence.zone_of(lon, lat, ts)
        region = self.fence.region_of(lon, lat, zone, ts)
        rows: dict[str, npt.NDArray[Any]] = {
            "ent": ent,
            "ts": ts,
            "zone": zone,
            "region": region,
            "sog": batch["sog"].astype(np.float32),
            "nav": batch["nav_status"].astype(np.int8),
        }
        fresh = {k: v[~late] for k, v in rows.items()}
        self.pending = {k: np.concatenate([self.pending[k], fresh[k]]) for k in _PENDING}
        late_rows = {k: v[late] for k, v in rows.items()}
        late_rows["eff"] = before[late]
        return self._advance(late_rows)

    # -- the pass --------------------------------------------------------------

    def _apply(self, r: dict[str, npt.NDArray[Any]], c_new: int) -> Partials:
        cfg = self.config
        step = cfg.window.interval_ms
        st = self.state
        f = self.fence
        if self.emitted == NONE and len(r["ts"]):
            self.emitted = min(int(floor_to(int(r["eff"].min()), step)), c_new)
        c_prev = self.emitted
        emit = c_prev != NONE
        n_k = (c_new - c_prev) // step if emit else 0
        order = sort_by_entity_time(r["ent"], r["ts"])
        r = {k: v[order] for k, v in r.items()}
        ent_r = r["ent"]
        # virtual rows: carried state of vessels with rows, and of vessels still waiting
        has_rows = np.unique(ent_r)
        if emit:
            n_ent = st.n
            w = np.flatnonzero(
                st["waiting"][:n_ent] & (st["last_ts"][:n_ent] + cfg.max_gap_s * 1000 > c_prev)
            )
            virt = np.union1d(has_rows, w)
        else:
            virt = has_rows
        if len(virt) == 0:
            self.emitted = c_new if emit else self.emitted
            return self._partials(c_prev, n_k, np.zeros((n_k, len(self._sum_names))), [], [], [])
        pos = np.searchsorted(ent_r, virt, side="left")

        def comb(real: npt.NDArray[Any], vals: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return np.insert(real, pos, vals)

        zone_r = r["zone"].astype(np.int64)
        kind_r = np.where(zone_r >= 0, f.zone_kind[np.maximum(zone_r, 0)], 0)
        region_r = r["region"].astype(np.int64)
        sog_r = r["sog"]
        slow_r = sog_r < np.where(kind_r == KIND_WAITING, cfg.loiter_knots, cfg.slow_knots)
        anchored_r = (r["nav"] == 1) & (region_r >= 0) & (kind_r != KIND_BERTH)
        cand_r = (((kind_r == KIND_ANCHORAGE) | (kind_r == KIND_WAITING)) & slow_r) | anchored_r
        wport_r = np.where(kind_r == KIND_ANCHORAGE, f.zone_port[np.maximum(zone_r, 0)], -1)
        term_r = np.where(kind_r == KIND_BERTH, f.zone_terminal[np.maximum(zone_r, 0)], -1)
        berth_ev_r = (kind_r == KIND_BERTH) | (~slow_r & ~np.isnan(sog_r)) | (region_r < 0)

        is_virt = comb(np.zeros(len(ent_r), dtype=bool), np.ones(len(virt), dtype=bool))
        real = ~is_virt
        ent = comb(ent_r, virt)
        ts = comb(r["ts"], st["last_ts"][virt])
        eff = comb(r["eff"], st["last_eff"][virt])
        late = comb(r["late"], np.zeros(len(virt), dtype=bool))
        cand = comb(cand_r, st["cand"][virt])
        region = comb(region_r, st["wregion"][virt].astype(np.int64))
        wport = comb(wport_r, st["wport"][virt].astype(np.int64))
        anchored = comb(anchored_r, np.zeros(len(virt), dtype=bool))
        m = len(ent)
        idx = np.arange(m)
        prev = np.maximum(idx - 1, 0)
        # candidate runs and waiting
        gap_break = real & (ts - ts[prev] > cfg.max_gap_s * 1000)
        run_begin = cand & (is_virt | ~cand[prev] | gap_break)
        rs_val = comb(r["ts"], st["run_start"][virt])
        run_start = rs_val[np.maximum.accumulate(np.where(run_begin, idx, 0))]
        waiting = np.where(
            is_virt, comb(np.zeros(len(ent_r), bool), st["waiting"][virt]),
            cand & ((ts - run_start >= cfg.min_dwell_s * 1000) | anchored),
        )  # fmt: skip
        # berth state (forward fill of berth events), arrivals and departures
        ev = is_virt | comb(berth_ev_r, np.zeros(len(virt), bool))
        ev_val = comb(term_r, st["berth"][virt].astype(np.int64))
        term_all = comb(term_r, np.full(len(virt), -1, dtype=np.int64))
        berth = ev_val[np.maximum.accumulate(np.where(ev, idx, 0))]
        # a report away from the berths settles an unknown state: not at a berth
        berth = np.where((berth == UNKNOWN) & real & (term_all < 0), -1, berth)
        prev_berth = berth[prev]
        arrival = real & (berth >= 0) & (prev_berth == -1)
        departure = real & (berth < 0) & (prev_berth >= 0)
        # episode: first waiting run since the last berth arrival or leaving the region
        seg_begin = is_virt | arrival | (real & (region < 0))
        epv = np.where(is_virt, comb(np.zeros(len(ent_r), np.int64), st["episode"][virt]),
                       np.where(waiting, run_start, INF))  # fmt: skip
        finite = epv < INF
        cf = np.cumsum(finite)
        seg_start = np.maximum.accumulate(np.where(seg_begin, idx, 0))
        in_seg: npt.NDArray[np.int64] = cf - (cf[seg_start] - finite[seg_start])
        first_in_seg = finite & (in_seg == 1)
        ff = np.maximum.accumulate(np.where(first_in_seg, idx, 0))
        episode = np.where(in_seg >= 1, epv[ff], INF)
        # state update from each vessel's last row
        last = np.ones(m, dtype=bool)
        last[:-1] = is_virt[1:]
        le = ent[last]
        st["last_ts"][le] = ts[last]
        st["last_eff"][le] = eff[last]
        st["cand"][le] = cand[last]
        st["run_start"][le] = np.where(cand[last], run_start[last], NONE)
        st["waiting"][le] = waiting[last]
        st["wport"][le] = wport[last]
        st["wregion"][le] = region[last]
        st["episode"][le] = episode[last]
        st["berth"][le] = berth[last]
        if not emit:
            return self._no_partials()
        self.emitted = c_new
        # outputs
        n_p = self._np
        port_of_term = f.terminal_port_arr.astype(np.int64)
        region_of_port = f.port_region_arr.astype(np.int64)
        counted = real & ~late
        s_tot = len(self._sum_names)
        t_n = self._np + self._nr
        sums = np.zeros((n_k, s_tot))
        k_of = (ts - c_prev) // step  # 0-based interval index for real, non-late rows

        def add(mask: npt.NDArray[np.bool_], port: npt.NDArray[np.int64], base: int) -> None:
            k = k_of[mask]
            p = port[mask]
            np.add.at(sums, (k, base + p), 1.0)
            np.add.at(sums, (k, base + n_p + region_of_port[p]), 1.0)

        arr = arrival & counted
        add(arr, port_of_term[np.maximum(berth, 0)], t_n)
        dep = departure & counted
        add(dep, port_of_term[np.maximum(prev_berth, 0)], 2 * t_n)
        # vessels waiting at interval ends: a difference array over intervals
        nxt = np.minimum(idx + 1, m - 1)
        next_eff = np.where((idx + 1 < m) & ~is_virt[nxt], eff[nxt], INF)
        a = np.maximum(eff, c_prev)
        b = np.minimum(np.minimum(next_eff, ts + cfg.max_gap_s * 1000), c_new)
        k_lo = (a - c_prev) // step + 1
        k_hi = (b - c_prev) // step
        live = waiting & (k_lo <= k_hi) & (region >= 0)
        diff = np.zeros((n_k + 2, s_tot))
        for tgt, ok in ((wport, wport >= 0), (n_p + region, np.ones(m, dtype=bool))):
            sel = live & ok
            np.add.at(diff, (k_lo[sel], tgt[sel]), 1.0)
            np.add.at(diff, (k_hi[sel] + 1, tgt[sel]), -1.0)
        sums[:, :t_n] = np.cumsum(diff, axis=0)[1 : n_k + 1, :t_n]
        # waiting times of vessels reaching a berth
        ep_prev = episode[prev]
        wv = arr & (ep_prev < INF)
        wait_h = (ts[wv] - ep_prev[wv]) / 3_600_000.0
        wp = port_of_term[berth[wv]]
        wk = k_of[wv]
        fam = np.concatenate([wp, n_p + region_of_port[wp]])
        return self._partials(
            c_prev, n_k, sums, np.concatenate([wk, wk]), fam, np.concatenate([wait_h, wait_h])
        )

    def _partials(
        self,
        c_prev: int,
        n_k: int,
        sums: npt.NDArray[np.float64],
        wk: Any,
        fam: Any,
        vals: Any,
    ) -> Partials:
        step = self.config.window.interval_ms
        if n_k <= 0:
            return self._no_partials()
        sk, se, sv = dense_sums(self._sum_names, c_prev, step, sums)
        fam_names = np.array(self._fam_names, dtype=bytes)
        mk, me, mv = dense_sums(
            self._fam_names, c_prev, step, np.full((n_k, len(self._fam_names)), np.nan)
        )
        wk = np.asarray(wk, dtype=np.int64)
        fam = np.asarray(fam, dtype=np.int64)
        return Partials(
            sums_key=sk,
            sums_end=se,
            sums_val=sv,
            samples_key=np.concatenate([mk, fam_names[fam]]) if len(fam) else mk,
            samples_end=np.concatenate([me, c_prev + (wk + 1) * step]),
            samples_val=np.concatenate([mv, np.asarray(vals, dtype=np.float64)]),
            quantiles={"wait": (50, 90)},
        )

    def vessel_table(self) -> dict[str, npt.NDArray[Any]]:
        """Current per-vessel state as of the last closed interval, one row per vessel.

        ``waiting_since_ms`` is the start of the vessel's current waiting episode
        (``NONE`` if none); ``terminal`` indexes ``fence.terminal_codes`` (-1: not
        at a berth); ``port`` indexes ``fence.port_codes`` (-1: none or region only).
        """
        n = self.state.n
        st = self.state
        return {
            "mmsi": self.registry.keys[:n].copy(),
            "last_ts_ms": st["last_ts"][:n].copy(),
            "waiting": st["waiting"][:n].copy(),
            "waiting_since_ms": np.where(st["episode"][:n] < INF, st["episode"][:n], NONE),
            "port": np.where(st["waiting"][:n], st["wport"][:n], -1).astype(np.int16),
            "terminal": np.maximum(st["berth"][:n], -1),
        }

    # -- snapshot ----------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole engine state as bytes (``np.savez`` into a buffer)."""
        arrays = self.state.dump("s_")
        arrays.update({"p_" + k: v for k, v in self.pending.items()})
        arrays.update(self.clock.state())
        arrays["registry"] = self.registry.keys
        meta = {"config": self.config.to_json(), "emitted": self.emitted, "stats": self.stats,
                "zones": self.fence.zone_name}  # fmt: skip
        return save_npz(arrays, meta)

    def restore(self, data: bytes) -> None:
        """Load a snapshot taken by an engine with the same configuration and geography."""
        arrays, meta = load_npz(data)
        if meta["config"] != self.config.to_json() or meta["zones"] != self.fence.zone_name:
            raise ValueError("snapshot was taken with another configuration or geography")
        self.state.load("s_", arrays)
        self.pending = {k: arrays["p_" + k].astype(dt) for k, dt in _PENDING.items()}
        self.clock.load(arrays)
        self.registry._set(arrays["registry"].astype(np.int64))
        self.emitted = int(meta["emitted"])
        self.stats = {k: int(v) for k, v in meta["stats"].items()}
