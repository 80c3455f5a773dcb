"""Container features from terminal events: boxes on terminal, dwell, aging boxes.

Input: batches of ``CONTAINER_EVENT_DTYPE`` records (event 1 discharged, 2
gate_out_truck, 3 loaded_rail), in any order and any batch sizes.

Per container (registry by container number), in event-time order:

* A discharge puts the box on the terminal of the event. A second discharge
  while the box is still on a terminal is counted (``second_discharge``) and
  ignored: dwell runs from the first discharge.
* A gate-out by truck or a rail load takes the box off its terminal; its dwell
  (days since discharge) is a sample of ``dwell_truck`` or ``dwell_rail``
  (and ``dwell``) for the terminal and the port where it was discharged, in
  the interval of the gate-out.
* A gate-out for a box that is not on a terminal is an *orphan* (counted,
  otherwise ignored).
* Exact duplicates (same container, time, event and terminal) count once and
  are counted in ``duplicates``. At equal times a discharge sorts before a
  gate-out.
* Late records follow :mod:`streams.features.windows`.

At each interval end, for every terminal ``PORT|TERM`` and port ``PORT``:
``boxes_on_terminal``, ``past_truck_limit`` and ``past_rail_limit`` (boxes on
terminal whose age since discharge is at least the limit; whether a box will
leave by truck or rail is unknown until it leaves, so both counts cover every
box), ``age_p90`` (days) of boxes on terminal, and ``dwell*_p50``/``_p90``
(days) of boxes that left in the interval. A terminal's series start with the
interval of its first event.
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
)
from streams.features.windows import (
    NONE,
    Partials,
    WindowConfig,
    WindowedEngine,
    floor_to,
)
from streams.geo import Geography

__all__ = ["ContainerConfig", "ContainerFeatures"]

DAY_MS = 86_400_000
INF = 2**62
QUANTILES = {"dwell": (50, 90), "dwell_truck": (50, 90), "dwell_rail": (50, 90), "age": (90,)}


@dataclass(frozen=True)
class ContainerConfig:
    """Limits and windows of the container engine."""

    window: WindowConfig = field(default_factory=WindowConfig)
    truck_limit_days: float = 9.0
    """Age from which a box counts in ``past_truck_limit`` (the fee's truck threshold)."""
    rail_limit_days: float = 3.0
    """Age from which a box counts in ``past_rail_limit`` (the fee's rail threshold)."""

    @classmethod
    def from_geography(
        cls, geography: Geography, region: str, window: WindowConfig | None = None
    ) -> ContainerConfig:
        """Limits from a region of the geography configuration."""
        lim = geography.regions[region].limits
        return cls(
            window=window or WindowConfig(),
            truck_limit_days=lim.truck_dwell_days or cls.truck_limit_days,
            rail_limit_days=lim.rail_dwell_days or cls.rail_limit_days,
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


_STATE = {
    "term": (np.int64, -1),
    "disch_ts": (np.int64, NONE),
    "disch_eff": (np.int64, NONE),
    "arrived": (np.int64, NONE),
}
_TERM = {"first_eff": (np.int64, INF)}
_PENDING = {"ent": np.int64, "ts": np.int64, "event": np.int64, "term": np.int64}


class ContainerFeatures(WindowedEngine):
    """Per-container state and per-terminal/port interval features."""

    PENDING = _PENDING
    QUANTILES = QUANTILES

    def __init__(self, config: ContainerConfig | None = None) -> None:
        self.config = config or ContainerConfig()
        self._start_windows()
        self.boxes = BytesRegistry()
        self.terminals = BytesRegistry()  # b"PORT|TERM"
        self.state = Columns(_STATE)
        self.tstate = Columns(_TERM)
        self.stats: dict[str, int] = {
            "records": 0,
            "late": 0,
            "late_applied": 0,
            "duplicates": 0,
            "orphans": 0,
            "second_discharge": 0,
            "unknown_event": 0,
        }

    def process(self, batch: npt.NDArray[Any]) -> Partials:
        """Take a batch of container events; return partials for the intervals it closes."""
        self.stats["records"] += len(batch)
        ok = (batch["event"] >= 1) & (batch["event"] <= 3)
        self.stats["unknown_event"] += int((~ok).sum())
        if not ok.all():
            batch = batch[ok]
        ts = batch["ts_ms"].astype(np.int64)
        before = self.clock.observe(ts)
        late = ts < before
        ent = self.boxes.rows(batch["container"])
        self.state.grow(len(self.boxes))
        tkey = np.char.add(np.char.add(batch["port"], b"|"), batch["terminal"])
        term = self.terminals.rows(tkey)
        self.tstate.grow(len(self.terminals))
        applied = self._late_applied(ent, ts, late, self.state["arrived"])
        rows = {"ent": ent, "ts": ts, "event": batch["event"].astype(np.int64), "term": term}
        self.pending = {k: np.concatenate([self.pending[k], rows[k][~late]]) for k in _PENDING}
        late_rows = {k: v[applied] for k, v in rows.items()}
        late_rows["eff"] = before[applied]
        return self._advance(late_rows)

    def _apply(self, r: dict[str, npt.NDArray[Any]], c_new: int) -> Partials:
        step = self.config.window.interval_ms
        st, ts_ = self.state, self.tstate
        if self.emitted == NONE and len(r["ts"]):
            self.emitted = min(int(floor_to(int(r["eff"].min()), step)), c_new)
        c_prev = self.emitted
        order = np.lexsort((r["term"], r["event"], r["ts"], r["ent"]))
        r = {k: v[order] for k, v in r.items()}
        n = len(r["ts"])
        dup = np.zeros(n, dtype=bool)
        if n > 1:
            dup[1:] = (
                (r["ent"][1:] == r["ent"][:-1]) & (r["ts"][1:] == r["ts"][:-1])
                & (r["event"][1:] == r["event"][:-1]) & (r["term"][1:] == r["term"][:-1])
            )  # fmt: skip
        self.stats["duplicates"] += int(dup.sum())
        r = {k: v[~dup] for k, v in r.items()}
        n = len(r["ts"])
        if n:
            np.minimum.at(ts_["first_eff"], r["term"], r["eff"])
        # segments of presence on a terminal: (term, discharge ts, from eff, to eff)
        seg_t: list[npt.NDArray[np.int64]] = []
        seg_d: list[npt.NDArray[np.int64]] = []
        seg_a: list[npt.NDArray[np.int64]] = []
        seg_b: list[npt.NDArray[np.int64]] = []
        dw_t: list[npt.NDArray[np.int64]] = []
        dw_k: list[npt.NDArray[np.int64]] = []
        dw_v: list[npt.NDArray[np.float64]] = []
        dw_ev: list[npt.NDArray[np.int64]] = []
        if n:
            first = np.ones(n, dtype=bool)
            first[1:] = r["ent"][1:] != r["ent"][:-1]
            start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
            rank = np.arange(n) - start
            by_rank = np.argsort(rank, kind="stable")
            cuts = np.flatnonzero(np.diff(rank[by_rank])) + 1
            for grp in np.split(by_rank, cuts):
                e, t, ev = r["ent"][grp], r["ts"][grp], r["event"][grp]
                eff, term, late = r["eff"][grp], r["term"][grp], r["late"][grp]
                on = st["term"][e]
                disch = ev == 1
                second = disch & (on >= 0)
                self.stats["second_discharge"] += int(second.sum())
                put = disch & (on < 0)
                st["term"][e[put]] = term[put]
                st["disch_ts"][e[put]] = t[put]
                st["disch_eff"][e[put]] = eff[put]
                leave = ~disch & (on >= 0)
                self.stats["orphans"] += int((~disch & (on < 0)).sum())
                if leave.any():
                    le = e[leave]
                    dts = st["disch_ts"][le]
                    seg_t.append(st["term"][le])
                    seg_d.append(dts)
                    seg_a.append(st["disch_eff"][le])
                    seg_b.append(eff[leave])
                    counted = ~late[leave]
                    dw_t.append(st["term"][le][counted])
                    dw_k.append(((t[leave] - c_prev) // step)[counted])
                    dw_v.append(((t[leave] - dts) / DAY_MS)[counted])
                    dw_ev.append(ev[leave][counted])
                    st["term"][le] = -1
        if c_prev == NONE:
            return Partials(quantiles=dict(QUANTILES))
        self.emitted = c_new
        n_k = (c_new - c_prev) // step
        if n_k <= 0:
            return Partials(quantiles=dict(QUANTILES))
        on_now = np.flatnonzero(st["term"][: st.n] >= 0)
        seg_t.append(st["term"][on_now])
        seg_d.append(st["disch_ts"][on_now])
        seg_a.append(st["disch_eff"][on_now])
        seg_b.append(np.full(len(on_now), INF, dtype=np.int64))
        return self._emit(
            c_prev, n_k,
            (np.concatenate(seg_t), np.concatenate(seg_d), np.concatenate(seg_a),
             np.concatenate(seg_b)),
            (_cat(dw_t), _cat(dw_k), _cat_f(dw_v), _cat(dw_ev)),
        )  # fmt: skip

    def _emit(
        self,
        c_prev: int,
        n_k: int,
        seg: tuple[npt.NDArray[np.int64], ...],
        dw: tuple[Any, ...],
    ) -> Partials:
        cfg = self.config
        step = cfg.window.interval_ms
        c_new = c_prev + n_k * step
        n_t = len(self.terminals)
        tkeys: list[bytes] = self.terminals.keys.tolist()
        ports = sorted({k.split(b"|", 1)[0] for k in tkeys})
        port_of = np.array([ports.index(k.split(b"|", 1)[0]) for k in tkeys], dtype=np.int64)
        n_p = len(ports)
        targets = [*tkeys, *ports]
        first_t = self.tstate["first_eff"][:n_t]
        first_p = np.full(n_p, INF, dtype=np.int64)
        np.minimum.at(first_p, port_of, first_t)
        first_end = floor_to(np.concatenate([first_t, first_p]), step) + step
        ends = c_prev + step * np.arange(1, n_k + 1, dtype=np.int64)
        exists = ends[:, None] >= first_end[None, :]  # (k, target)
        # presence expansion
        term, dts, a, b = seg
        a = np.maximum(a, c_prev)
        b = np.minimum(b, c_new)
        k_lo = (a - c_prev) // step + 1
        k_hi = (b - c_prev) // step
        cnt = np.maximum(k_hi - k_lo + 1, 0)
        rep = np.repeat(np.arange(len(term)), cnt)
        offs = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        kk = k_lo[rep] + offs  # 1-based
        age = (c_prev + kk * step - dts[rep]) / DAY_MS
        tt = term[rep]
        n_tg = n_t + n_p
        on = np.zeros((n_k, n_tg))
        truck = np.zeros((n_k, n_tg))
        rail = np.zeros((n_k, n_tg))
        for tgt in (tt, n_t + port_of[tt]):
            np.add.at(on, (kk - 1, tgt), 1.0)
            np.add.at(truck, (kk - 1, tgt), (age >= cfg.truck_limit_days).astype(float))
            np.add.at(rail, (kk - 1, tgt), (age >= cfg.rail_limit_days).astype(float))
        keys: list[npt.NDArray[np.bytes_]] = []
        e_out: list[npt.NDArray[np.int64]] = []
        v_out: list[npt.NDArray[np.float64]] = []
        kidx, gidx = np.nonzero(exists)
        tarr = np.array(targets, dtype=bytes) if targets else np.empty(0, "S1")
        for metric, mat in (
            (b"boxes_on_terminal|", on),
            (b"past_truck_limit|", truck),
            (b"past_rail_limit|", rail),
        ):
            keys.append(np.char.add(metric, tarr[gidx]) if len(gidx) else np.empty(0, "S1"))
            e_out.append(ends[kidx])
            v_out.append(mat[kidx, gidx])
        # samples: slot markers for every existing family, then values
        s_keys: list[npt.NDArray[np.bytes_]] = []
        s_end: list[npt.NDArray[np.int64]] = []
        s_val: list[npt.NDArray[np.float64]] = []
        for fam in (b"age|", b"dwell|", b"dwell_truck|", b"dwell_rail|"):
            if len(gidx):
                s_keys.append(np.char.add(fam, tarr[gidx]))
                s_end.append(ends[kidx])
                s_val.append(np.full(len(gidx), np.nan))
        if len(tt):
            for tgt in (tt, n_t + port_of[tt]):
                s_keys.append(np.char.add(b"age|", tarr[tgt]))
                s_end.append(c_prev + kk * step)
                s_val.append(age)
        d_t, d_k, d_v, d_ev = dw
        if len(d_t):
            for tgt in (d_t, n_t + port_of[d_t]):
                names = tarr[tgt]
                for fam, sel in (
                    (b"dwell|", np.ones(len(d_t), dtype=bool)),
                    (b"dwell_truck|", d_ev == 2),
                    (b"dwell_rail|", d_ev == 3),
                ):
                    s_keys.append(np.char.add(fam, names[sel]))
                    s_end.append(c_prev + (d_k[sel] + 1) * step)
                    s_val.append(d_v[sel])

        def cat(parts: list[Any], dtype: Any) -> Any:
            return np.concatenate(parts) if parts else np.empty(0, dtype)

        return Partials(
            sums_key=cat(keys, "S1"),
            sums_end=cat(e_out, np.int64),
            sums_val=cat(v_out, np.float64),
            samples_key=cat(s_keys, "S1"),
            samples_end=cat(s_end, np.int64),
            samples_val=cat(s_val, np.float64),
            quantiles=dict(QUANTILES),
        )

    def snapshot(self) -> bytes:
        """The whole engine state as bytes (``np.savez`` into a buffer)."""
        arrays = self.state.dump("s_")
        arrays.update(self.tstate.dump("t_"))
        arrays.update({"p_" + k: v for k, v in self.pending.items()})
        arrays.update(self.clock.state())
        arrays["boxes"] = self.boxes.dump()
        arrays["terminals"] = self.terminals.dump()
        meta = {"config": self.config.to_json(), "emitted": self.emitted, "stats": self.stats}
        return save_npz(arrays, meta)

    def restore(self, data: bytes) -> None:
        """Load a snapshot taken by an engine with the same configuration."""
        arrays, meta = load_npz(data)
        if meta["config"] != self.config.to_json():
            raise ValueError("snapshot was taken with another configuration")
        self.state.load("s_", arrays)
        self.tstate.load("t_", arrays)
        self.pending = {k: arrays["p_" + k].astype(dt) for k, dt in _PENDING.items()}
        self.clock.load(arrays)
        self.boxes.load(arrays["boxes"])
        self.terminals.load(arrays["terminals"])
        self.emitted = int(meta["emitted"])
        self.stats = {k: int(v) for k, v in meta["stats"].items()}


def _cat(parts: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _cat_f(parts: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    return np.concatenate(parts) if parts else np.empty(0, np.float64)
