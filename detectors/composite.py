"""Composite disruption index per group (e.g. a port) from standardized components."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors._ew import ew_commit, ew_pass, scale_floor
from detectors._segments import Batch, affine_scan, scatter_last
from detectors.base import Detector, FloatArray, ratio_to_score


class CompositeIndex(Detector):
    """Disruption index of a group from its component series, explained by component.

    Each series is a component of one group (default: group 0, weight 1,
    direction +1; set with :meth:`set_components`). A component's valid
    point is standardized against its own EW baseline (as in
    :class:`~detectors.ewma.EWMA`, before learning the point),
    ``z = (x - mean) / sd``, and contributes
    ``weight * clip(direction * z, 0, z_cap)`` (only the bad direction
    counts: ``direction=-1`` for series where falling is bad, such as days of
    supply; 0 while the component is in warm-up). The group index is the sum
    of its components' latest contributions over the sum of the weights of
    components that have reported, i.e. a weighted mean excess z. A point's
    score is the group's score right after the point:
    ``1 - 5 ** -(index / index_alarm) ** 2`` (0 while the point's own series
    is in warm-up). A component keeps its last contribution until it reports
    again (silence is the staleness detector's business).

    Extras: ``group``, ``index``, ``contribution`` (of this point),
    ``expected`` (the component's baseline).

    State: 64 bytes per component series plus 16 bytes per group.

    >>> det = CompositeIndex(halflife=7 * 86400.0, warmup=10, index_alarm=2.0)
    >>> det.set_components([0, 1, 2], group=[0, 0, 0], direction=[1, 1, -1])
    >>> rng = np.random.default_rng(5)
    >>> n = 30
    >>> ts = np.repeat(np.arange(n) * 86400.0, 3)
    >>> rows = np.tile([0, 1, 2], n)
    >>> value = rng.normal([40.0, 5.0, 20.0], [2.0, 0.5, 1.0], (n, 3))
    >>> value[-1] = [60.0, 8.0, 12.0]  # queue up, dwell up, days of supply down
    >>> r = det.update(rows, ts, value.ravel())
    >>> bool(r.score[:-3].max() < 0.8), bool(r.score[-1] > 0.99)
    (True, True)
    >>> [(row, round(share, 2)) for row, _, share in det.explain(0)]
    [(0, 0.4), (2, 0.34), (1, 0.26)]
    """

    name = "composite"
    param_names = ("halflife", "z_cap", "index_alarm", "abs_floor", "rel_floor")
    fields: ClassVar[dict[str, tuple[str, float]]] = {
        "mean": ("f8", 0.0),
        "var": ("f8", 0.0),
        "last_ts": ("f8", math.nan),
        "count": ("i8", 0),
        "contrib": ("f8", 0.0),
        "group": ("i8", 0),
        "weight": ("f8", 1.0),
        "direction": ("f8", 1.0),
    }

    def __init__(
        self,
        halflife: float = 7 * 86400.0,
        warmup: int = 10,
        z_cap: float = 10.0,
        index_alarm: float = 3.0,
        abs_floor: float = 1e-6,
        rel_floor: float = 0.01,
    ) -> None:
        super().__init__(warmup)
        if halflife <= 0 or z_cap <= 0 or index_alarm <= 0:
            raise ValueError("halflife, z_cap and index_alarm must be > 0")
        self.halflife, self.z_cap, self.index_alarm = float(halflife), float(z_cap), index_alarm
        self.index_alarm = float(index_alarm)
        self.abs_floor, self.rel_floor = float(abs_floor), float(rel_floor)
        self.shared = {"gsum": np.zeros(1), "gweight": np.zeros(1)}


    def _grow_groups(self, n: int) -> None:
        old = len(self.shared["gsum"])
        if n > old:
            for k in ("gsum", "gweight"):
                new = np.zeros(max(n, 2 * old))
                new[:old] = self.shared[k]
                self.shared[k] = new

    def set_components(
        self,
        series: ArrayLike,
        group: ArrayLike,
        weight: ArrayLike = 1.0,
        direction: ArrayLike = 1.0,
    ) -> None:
        """Assign series rows to groups (moving any contribution they already have)."""
        rows = np.asarray(series, dtype=np.int64).ravel()
        if len(np.unique(rows)) != len(rows):
            raise ValueError("each series row may appear once")
        g = np.broadcast_to(np.asarray(group, dtype=np.int64), rows.shape)
        w = np.broadcast_to(np.asarray(weight, dtype=np.float64), rows.shape)
        d = np.broadcast_to(np.asarray(direction, dtype=np.float64), rows.shape)
        if len(rows) and (g.min() < 0 or w.min() <= 0 or not np.all(np.abs(d) == 1)):
            raise ValueError("need group >= 0, weight > 0, direction +1 or -1")
        if len(rows):
            self.grow(int(rows.max()) + 1)
            self._grow_groups(int(g.max()) + 1)
        st, gs, gw = self.state, self.shared["gsum"], self.shared["gweight"]
        seen = st["count"][rows] > 0
        np.subtract.at(gs, st["group"][rows], st["contrib"][rows])
        np.subtract.at(gw, st["group"][rows], np.where(seen, st["weight"][rows], 0.0))
        st["contrib"][rows] *= w / st["weight"][rows]
        st["group"][rows], st["weight"][rows], st["direction"][rows] = g, w, d
        np.add.at(gs, g, st["contrib"][rows])
        np.add.at(gw, g, np.where(seen, w, 0.0))

    def index(self, groups: ArrayLike) -> FloatArray:
        """Current index of the given groups (0 for a group with no reports)."""
        g = np.asarray(groups, dtype=np.int64)
        self._grow_groups(int(g.max(initial=0)) + 1)
        gw = self.shared["gweight"][g]
        return np.where(gw > 0, self.shared["gsum"][g] / np.where(gw > 0, gw, 1.0), 0.0)

    def explain(self, group: int) -> list[tuple[int, float, float]]:
        """Components of ``group`` as ``(row, contribution, share of the group's sum)``,
        largest first (shares are 0 when the group's sum is 0)."""
        n = self.n_series
        st = self.state
        rows = np.flatnonzero((st["group"][:n] == group) & (st["count"][:n] > 0))
        c = st["contrib"][rows]
        total = float(c.sum())
        order = np.lexsort((rows, -c))
        return [
            (int(rows[i]), float(c[i]), float(c[i]) / total if total > 0 else 0.0) for i in order
        ]

    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        st, rows, valid = self.state, b.rows, b.valid
        p = ew_pass(b, st, self.halflife)
        sd = scale_floor(p.pre_mean, p.pre_var, self.abs_floor, self.rel_floor)
        z = np.where(valid, (b.value - p.pre_mean) / sd, 0.0)
        live = valid & (p.count_before >= max(self.warmup, 1))
        w, group = st["weight"][rows], st["group"][rows]
        c_new = np.where(live, w * np.clip(st["direction"][rows] * z, 0.0, self.z_cap), 0.0)
        c0 = st["contrib"][rows]
        c_post = affine_scan(b, np.where(valid, 0.0, 1.0), np.where(valid, c_new, 0.0), c0)
        d_sum = np.where(valid, c_new - b.prev(c_post, c0), 0.0)
        d_weight = np.where(valid & (p.count_before == 0), w, 0.0)
        # group running sums in input order
        self._grow_groups(int(group.max(initial=0)) + 1)
        g_in, ds_in, dw_in = b.unsort(group), b.unsort(d_sum), b.unsort(d_weight)
        gorder = np.argsort(g_in, kind="stable")
        gs = g_in[gorder]
        start = np.ones(len(gs), dtype=bool)
        start[1:] = gs[1:] != gs[:-1]
        gsum, gweight = self.shared["gsum"], self.shared["gweight"]
        run_s, run_w = np.empty(b.n), np.empty(b.n)
        for arr, delta, base in ((run_s, ds_in, gsum), (run_w, dw_in, gweight)):
            c = np.cumsum(delta[gorder])
            first = np.maximum.accumulate(np.where(start, np.arange(b.n), 0)) if b.n else start
            before = (c - delta[gorder])[first]
            arr[gorder] = base[gs] + (c - before)
        if b.n:
            last = np.ones(b.n, dtype=bool)
            last[:-1] = gs[1:] != gs[:-1]
            gsum[gs[last]] = run_s[gorder][last]
            gweight[gs[last]] = run_w[gorder][last]
        idx_in = np.where(run_w > 0, run_s / np.where(run_w > 0, run_w, 1.0), 0.0)
        index = idx_in if b.order is None else idx_in[b.order]
        score = np.where(live, ratio_to_score((index / self.index_alarm) ** 2), 0.0)
        scatter_last(b, st["contrib"], c_post)
        ew_commit(b, st, p)
        seen = valid & (p.count_before > 0)
        return score, {
            "group": group,
            "index": np.where(valid, index, np.nan),
            "contribution": np.where(valid, c_new, np.nan),
            "expected": np.where(seen, p.pre_mean, np.nan),
        }
