"""The detection stage: feature points in, alert transitions and per-point scores out
(see :mod:`streams.detection` for the routes, determinism and methodology changes)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors import (
    AlertPolicy,
    CompositeIndex,
    Detector,
    SeriesRegistry,
    Staleness,
    Transition,
)
from detectors.base import Result
from streams.detection.budget import AlertBudget
from streams.detection.config import (
    CHANGE_FAMILIES,
    COMPOSITE_COMPONENTS,
    GROUPED_ROUTES,
    TREND_ROUTES,
    PipelineConfig,
)
from streams.detection.explain import explain
from streams.detection.outputs import StageOutput
from streams.detection.sites import SiteAlerts, explain_site
from streams.features.windows import FeaturePoints
from streams.series import family_of
from streams.times import iso

F64 = NDArray[np.float64]

class _Route:
    """One detector instance, its row registry (epoch-aware keys) and its policy."""

    def __init__(self, name: str, detector: Detector, policy: AlertPolicy) -> None:
        self.name = name
        self.detector = detector
        self.policy = policy
        self.rows = SeriesRegistry()  # detector rows: "key" or "key#epoch"
        self.prow = SeriesRegistry()  # policy rows: series keys (stable across epochs)


#: composite group that collects the components of past epochs (never alerted on)
RETIRED_GROUP = "\x00retired"


def _detector_key(key: str, epoch: int) -> str:
    return key if epoch == 0 else f"{key}#{epoch}"


class DetectionStage:
    """Routes feature points to detectors, applies alert policies, explains alerts.

    ``process(points)`` takes :class:`~streams.features.FeaturePoints` (keys as
    bytes or str, interval ends in seconds, values) in interval order and
    returns a :class:`StageOutput` for the interval ends it could close;
    ``flush(until_s=None)`` closes the held-back ones. ``snapshot()`` /
    ``restore(blob)`` carry the whole state.
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = cfg = config or PipelineConfig()
        detectors: dict[str, Detector] = {r: cfg.trends[r].build() for r in TREND_ROUTES}
        detectors["changes"] = cfg.change_detector()
        detectors["staleness"] = Staleness(
            k=cfg.stale_k, max_age=cfg.stale_max_age_s, alpha=0.1, min_interval=60.0, warmup=3
        )
        detectors["composite"] = CompositeIndex(
            halflife=cfg.composite_halflife_s, warmup=cfg.composite_warmup,
            z_cap=cfg.composite_z_cap, index_alarm=cfg.composite_index_alarm,
        )
        #: route name -> its detector and alert policy, in this order
        self.routes: dict[str, _Route] = {
            name: _Route(name, det, cfg.policies[name].build(name))
            for name, det in detectors.items()
        }
        self.group_reg = SeriesRegistry()  # composite groups
        self.epochs: dict[str, int] = {}  # series key -> epoch (0 when absent)
        self.quiet_until: dict[str, float] = {}
        self.changes_done = 0  # methodology changes applied (sorted by time)
        self.last_check = -math.inf
        self.last_end: float = -math.inf
        self.pending: list[tuple[NDArray[Any], NDArray[np.int64], F64]] = []
        self.changes = sorted(cfg.changes, key=lambda c: c.time_s)
        #: alert key -> the kind its firing transition named (its resolution names the same)
        self.alert_kinds: dict[str, str] = {}
        self.budget = AlertBudget(cfg.series_quiet_s, cfg.series_rearm_s)
        self.sites = SiteAlerts()
        self._limits: dict[tuple[str, str], tuple[float, float]] = {}

    # ---- public API

    def process(self, points: FeaturePoints) -> StageOutput:
        """Buffer a batch; process every complete interval end (all but the newest)."""
        key = np.asarray(points.key)
        if key.dtype.kind != "S":
            key = np.array([str(k).encode() for k in key.tolist()], dtype=bytes)
        end = np.asarray(points.end_s, dtype=np.int64)
        val = np.asarray(points.value, dtype=np.float64)
        if len(end) and end.min() < self.last_end:
            raise ValueError(
                f"points for interval end {int(end.min())} arrive after {int(self.last_end)} "
                "was processed: feed batches in interval order"
            )
        if len(end):
            self.pending.append((key, end, val))
        newest = max((int(e.max()) for _, e, _ in self.pending if len(e)), default=None)
        return self._drain(None if newest is None else newest - 1)

    def flush(self, until_s: float | None = None) -> StageOutput:
        """Process held-back interval ends up to ``until_s`` (all when None)."""
        return self._drain(until_s)

    # ---- internals

    def _drain(self, until: float | None) -> StageOutput:
        out = StageOutput()
        if not self.pending:
            return out
        key = np.concatenate([p[0] for p in self.pending])
        end = np.concatenate([p[1] for p in self.pending])
        val = np.concatenate([p[2] for p in self.pending])
        order = np.lexsort((key, end))
        key, end, val = key[order], end[order], val[order]
        cut = len(end) if until is None else int(np.searchsorted(end, until, side="right"))
        self.pending = [(key[cut:], end[cut:], val[cut:])] if cut < len(end) else []
        if cut == 0:
            return out
        bounds = np.flatnonzero(np.diff(end[:cut])) + 1
        starts = np.r_[0, bounds]
        stops = np.r_[bounds, cut]
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            self._step(float(end[a]), [k.decode() for k in key[a:b]], val[a:b], out)
            out.intervals += 1
        return out

    def _apply_changes(self, t: float, keys: Sequence[str]) -> None:
        while self.changes_done < len(self.changes) and self.changes[self.changes_done].time_s < t:
            ch = self.changes[self.changes_done]
            self.changes_done += 1
            known = set(self.epochs) | set(keys)
            for r in self.routes.values():
                known.update(k.split("#", 1)[0] for k in r.rows.keys)
            for k in sorted(known):
                if ch.matches(k):
                    self._retire_component(k)
                    self.epochs[k] = self.epochs.get(k, 0) + 1
                    self.quiet_until[k] = ch.time_s + self.config.quiet_s

    def _retire_component(self, key: str) -> None:
        """Move the composite contribution of ``key``'s current epoch to a retired group,
        so the old way of counting stops weighing on its port or region."""
        r = self.routes["composite"]
        det = r.detector
        assert isinstance(det, CompositeIndex)
        old = _detector_key(key, self.epochs.get(key, 0))
        if old not in r.rows.keys:
            return
        row = r.rows.row(old)
        retired = self.group_reg.row(RETIRED_GROUP)
        det.set_components(
            [row], [retired], weight=det.state["weight"][row], direction=det.state["direction"][row]
        )

    def _step(self, t: float, keys: list[str], val: F64, out: StageOutput) -> None:
        n0 = len(out.alerts)
        self._route(t, keys, val, out)
        out.alerts[n0:] = self.budget.admit(t, out.alerts[n0:])

    def _route(self, t: float, keys: list[str], val: F64, out: StageOutput) -> None:
        self._apply_changes(t, keys)
        self.last_end = t
        fam = [family_of(k) for k in keys]
        quiet = np.array([self.quiet_until.get(k, -math.inf) > t for k in keys], dtype=bool)
        for route, (family, _) in TREND_ROUTES.items():
            idx = [i for i, f in enumerate(fam) if f == family]
            if idx:
                self._trend(route, t, [keys[i] for i in idx], val[idx], quiet[idx], out)
        cidx = [
            i for i, (k, f) in enumerate(zip(keys, fam, strict=True))
            if f in CHANGE_FAMILIES and k.count("|") == 1
        ]
        if cidx:
            ckeys = [keys[i] for i in cidx]
            self._changes(t, ckeys, [fam[i] for i in cidx], val[cidx], quiet[cidx], out)
        self._composite(t, keys, fam, val, quiet, out)
        self._staleness(t, keys, val, out)

    def _drows(self, r: _Route, keys: Sequence[str]) -> NDArray[np.int64]:
        """Detector rows of ``keys`` (a new row for each epoch after a methodology change)."""
        return r.rows.rows([_detector_key(k, self.epochs.get(k, 0)) for k in keys])

    def _relearning(
        self, r: _Route, keys: Sequence[str], drows: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Series re-baselined by a methodology change whose new detector row is still in
        its warm-up: an alert from before the change neither resolves nor re-fires."""
        epoch = np.array([self.epochs.get(k, 0) > 0 for k in keys], dtype=bool)
        if not epoch.any():
            return epoch
        return epoch & (r.detector.state["count"][drows] <= r.detector.warmup)

    def _rows(self, r: _Route, keys: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        return self._drows(r, keys), r.prow.rows(list(keys))

    def _policy(
        self,
        r: _Route,
        t: float,
        keys: Sequence[str],
        prows: NDArray[np.int64],
        score: F64,
        value: F64,
        res: Result | None,
        quiet: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int8], list[Transition]]:
        sc = np.where(quiet, np.nan, score)
        ts = np.full(len(prows), t)
        pr = r.policy.evaluate(prows, ts, sc, keys=r.prow, value=value, result=res)
        return pr.alert, pr.transitions

    def _stable_kind(self, tr: Transition, kind: str | None = None) -> Transition:
        """``tr`` naming ``kind`` (default its own) when it fires, and the kind its firing
        named when it resolves: an alert's labels stay the same for its whole life."""
        k = tr.kind if kind is None else kind
        if tr.state == "firing":
            self.alert_kinds[tr.key] = k
        else:
            k = self.alert_kinds.pop(tr.key, k)
        return replace(tr, kind=k)

    def _limit(self, route: str, key: str) -> tuple[float, float]:
        """(limit, event time it takes effect) of ``key`` on a limit route, cached."""
        got = self._limits.get((route, key))
        if got is None:
            got = (self.config.limit_of(route, key), self.config.limit_from(route, key))
            self._limits[(route, key)] = got
        return got

    def _record(
        self,
        out: StageOutput,
        route: str,
        t: float,
        keys: list[str],
        cols: dict[str, F64],
        level: NDArray[np.int8],
    ) -> None:
        if self.config.record:
            out.scores.add(route, t, keys, cols, level)

    def _trend(
        self,
        route: str,
        t: float,
        keys: list[str],
        val: F64,
        quiet: NDArray[np.bool_],
        out: StageOutput,
    ) -> None:
        r = self.routes[route]
        params = self.config.trends[route]
        lim_from = np.array([self._limit(route, k) for k in keys]).reshape(-1, 2)
        lim = lim_from[:, 0]
        x = np.where(np.isfinite(val), val / lim, np.nan)
        drows = self._drows(r, keys)
        res = r.detector.update(drows, np.full(len(keys), t), x)
        quiet = quiet | self._relearning(r, keys, drows)
        above = params.direction == "above"
        # below min_level of the limit (above-limit routes) nothing is an early warning yet
        low = (x < params.min_level) if above else np.zeros(len(x), dtype=bool)
        # before a limit takes effect nothing is said about it
        score = np.where(t < lim_from[:, 1], np.nan, np.where(low, 0.0, res.score))
        past = (x >= 1.0) if above else (x <= 1.0)
        ex = res.extras
        if route in GROUPED_ROUTES:
            level, trans = self._grouped(r, t, keys, score, x, res, past, quiet)
        else:
            prows = r.prow.rows(keys)
            if not self.config.alert_parts:
                quiet = quiet | np.array([k.count("|") > 1 for k in keys], dtype=bool)
            level, trans = self._policy(r, t, keys, prows, score, x, res, quiet)
        eta, lo, hi = ex["eta_seconds"], ex["eta_lower"], ex["eta_upper"]
        band = np.sqrt(np.maximum(r.detector.state["var"][drows], 0.0)) * params.z
        cols = {
            "value": val,
            "score": score,
            "expected": ex["expected"] * lim,
            "lower": (ex["level"] - band) * lim,
            "upper": (ex["level"] + band) * lim,
            "crossing": t + eta,
            "crossing_lo": t + lo,
            "crossing_hi": t + hi,
        }
        self._record(out, route, t, keys, cols, level)
        if route in GROUPED_ROUTES:
            out.alerts.extend(
                explain_site(tr, keys, score, val, lim, eta) for tr in trans
            )
            return
        for tr in trans:
            i = keys.index(tr.series)
            tr = self._stable_kind(tr, "past_limit" if past[i] else "trend")
            out.alerts.append(explain(tr, lim[i], val[i], ex["expected"][i] * lim[i]))

    def _grouped(
        self,
        r: _Route,
        t: float,
        keys: list[str],
        score: F64,
        x: F64,
        res: Result,
        past: NDArray[np.bool_],
        quiet: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int8], list[Transition]]:
        """Item series ``family|site|item`` each with their own policy, alerted as one
        alert per site (:class:`~streams.detection.sites.SiteAlerts`)."""
        prows = r.prow.rows(keys)
        level, trans = self._policy(r, t, keys, prows, score, x, res, quiet)
        out = []
        for tr, item in self.sites.update(t, trans, self.config.group_linger_s):
            # the item that opened a site's alert names its kind; a resolution keeps it
            kind = ("past_limit" if past[keys.index(item)] else "trend") if item else ""
            out.append(self._stable_kind(tr, kind))
        return level, out

    def _changes(
        self,
        t: float,
        keys: list[str],
        fam: list[str],
        val: F64,
        quiet: NDArray[np.bool_],
        out: StageOutput,
    ) -> None:
        """The kinds of change of :data:`CHANGE_FAMILIES` of a port's or region's flows,
        queue, waits and dwell, the kind named in the alert."""
        r = self.routes["changes"]
        drows, prows = self._rows(r, keys)
        res = r.detector.update(drows, np.full(len(keys), t), val)
        quiet = quiet | self._relearning(r, keys, drows)
        ex = res.extras
        names = r.detector.kinds
        wanted = np.array(
            [names[k] in CHANGE_FAMILIES[f] for k, f in zip(ex["kind"].tolist(), fam, strict=True)]
        )
        score = np.where(wanted, res.score, 0.0)
        level, trans = self._policy(r, t, keys, prows, score, val, res, quiet)
        cols = {
            "value": val,
            "score": score,
            "expected": ex["expected"],
            "lower": ex["lower"],
            "upper": ex["upper"],
        }
        self._record(out, "changes", t, keys, cols, level)
        for tr in trans:
            i = keys.index(tr.series)
            tr = self._stable_kind(tr)
            out.alerts.append(explain(tr, math.nan, val[i], float(ex["expected"][i])))

    def _group_of(self, key: str, family: str) -> str | None:
        if self.config.groups is not None:
            return self.config.groups.get(key)
        if family not in COMPOSITE_COMPONENTS:
            return None
        parts = key.split("|")
        return parts[1] if len(parts) == 2 else None

    def _composite(
        self,
        t: float,
        keys: list[str],
        fam: list[str],
        val: F64,
        quiet: NDArray[np.bool_],
        out: StageOutput,
    ) -> None:
        r = self.routes["composite"]
        det = r.detector
        assert isinstance(det, CompositeIndex)
        idx, groups = [], []
        for i, (k, f) in enumerate(zip(keys, fam, strict=True)):
            g = self._group_of(k, f)
            if g is not None:
                idx.append(i)
                groups.append(g)
        if not idx:
            return
        ckeys = [keys[i] for i in idx]
        known = len(r.rows)
        drows = r.rows.rows([_detector_key(k, self.epochs.get(k, 0)) for k in ckeys])
        new = drows >= known
        if new.any():
            grows = self.group_reg.rows([g for g, n in zip(groups, new, strict=True) if n])
            dirs = [
                COMPOSITE_COMPONENTS[family_of(k)] for k, n in zip(ckeys, new, strict=True) if n
            ]
            det.set_components(
                drows[new], grows, weight=[w for _, w in dirs], direction=[d for d, _ in dirs]
            )
        det.update(drows, np.full(len(ckeys), t), val[idx])
        # one score per group: the group index after the batch
        gnames = sorted(set(groups) - {RETIRED_GROUP})
        grows_all = self.group_reg.rows(gnames)
        index = det.index(grows_all)
        gscore = -np.expm1(-math.log(5.0) * (index / det.index_alarm) ** 2)
        gkeys = [f"composite|{g}" for g in gnames]
        # a group is quiet while any reporting component is re-baselining, and it is
        # scored once a component is past its warm-up
        gquiet = np.zeros(len(gnames), dtype=bool)
        warm = np.zeros(len(gnames), dtype=bool)
        counts = det.state["count"][drows]
        for j, g in enumerate(groups):
            gi = gnames.index(g)
            gquiet[gi] |= bool(quiet[idx[j]])
            warm[gi] |= bool(counts[j] > det.warmup)
        gsc = np.where(warm, gscore, 0.0)
        prows = r.prow.rows(gkeys)
        pr = r.policy.evaluate(
            prows, np.full(len(gkeys), t), np.where(gquiet, np.nan, gsc), keys=r.prow, value=index
        )
        self._record(out, "composite", t, gkeys, {"value": index, "score": gsc}, pr.alert)
        for tr in pr.transitions:
            g = tr.series.split("|", 1)[1]
            comps = tuple(
                (r.rows.keys[row].split("#", 1)[0], c, share)
                for row, c, share in det.explain(self.group_reg.row(g))
                if c > 0
            )
            a = explain(tr, math.nan, tr.value, math.nan)
            text = a.explanation
            if comps:
                text += "; components: " + ", ".join(
                    f"{name} {share:.0%}" for name, _, share in comps[:4]
                )
            out.alerts.append(replace(a, components=comps, explanation=text))

    def _staleness(self, t: float, keys: list[str], val: F64, out: StageOutput) -> None:
        r = self.routes["staleness"]
        det = r.detector
        assert isinstance(det, Staleness)
        # a counting change does not change how often a series reports: no epochs here
        drows = r.rows.rows(keys)
        det.update(drows, np.full(len(keys), t), np.where(np.isnan(val), 0.0, val))
        step = self.config.stale_check_s
        if math.isfinite(self.last_check) and t // step == self.last_check // step:
            return
        self.last_check = t
        rep = det.check(now=t)
        n = det.n_series
        if n == 0:
            return
        rows = np.arange(n, dtype=np.int64)
        skeys = r.rows.keys
        prows = r.prow.rows(skeys)
        score = rep.score[rows]
        pr = r.policy.evaluate(
            prows, np.full(len(rows), t), score, keys=r.prow, value=rep.age_seconds[rows]
        )
        for tr in pr.transitions:
            i = skeys.index(tr.series)
            a = explain(tr, math.nan, float(rep.age_seconds[rows][i]), math.nan)
            text = (
                f"{tr.series}: {tr.severity} {tr.state} since {iso(tr.since)} (staleness "
                f"score {tr.score:.2f}): no point for {tr.value / 3600.0:.1f} h, "
                f"threshold {float(rep.threshold_seconds[rows][i]) / 3600.0:.1f} h"
            )
            out.alerts.append(replace(a, explanation=text))

    # ---- snapshot

    def snapshot(self) -> bytes:
        """The whole stage as ``.npz`` bytes (no pickled objects)."""
        meta = {
            "config": json.loads(self.config.to_json()),
            "epochs": self.epochs,
            "quiet_until": self.quiet_until,
            "changes_done": self.changes_done,
            "alert_kinds": self.alert_kinds,
            "budget": self.budget.to_dict(),
            "site_alerts": self.sites.to_dict(),
            "last_check": None if math.isinf(self.last_check) else self.last_check,
            "last_end": None if math.isinf(self.last_end) else self.last_end,
            "groups": self.group_reg.keys,
            "routes": {
                n: {"rows": r.rows.keys, "prow": r.prow.keys} for n, r in self.routes.items()
            },
        }
        arrays: dict[str, NDArray[Any]] = {
            "_meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        }
        for n, r in self.routes.items():
            arrays[f"d_{n}"] = np.frombuffer(r.detector.snapshot(), dtype=np.uint8)
            arrays[f"p_{n}"] = np.frombuffer(r.policy.snapshot(), dtype=np.uint8)
        if self.pending:
            k = np.concatenate([p[0] for p in self.pending])
            arrays["pending_key"] = k.astype(f"S{max(1, k.dtype.itemsize)}")
            arrays["pending_end"] = np.concatenate([p[1] for p in self.pending])
            arrays["pending_val"] = np.concatenate([p[2] for p in self.pending])
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state by a snapshot of a stage with the same configuration."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["_meta"].tobytes().decode())
            want = json.loads(self.config.to_json())
            if meta["config"] != want:
                raise ValueError("snapshot was taken with a different pipeline configuration")
            for n, r in self.routes.items():
                r.detector.restore(z[f"d_{n}"].tobytes())
                r.policy.restore(z[f"p_{n}"].tobytes())
                r.rows = SeriesRegistry(meta["routes"][n]["rows"])
                r.prow = SeriesRegistry(meta["routes"][n]["prow"])
            self.group_reg = SeriesRegistry(meta["groups"])
            self.epochs = {k: int(v) for k, v in meta["epochs"].items()}
            self.quiet_until = {k: float(v) for k, v in meta["quiet_until"].items()}
            self.changes_done = int(meta["changes_done"])
            self.alert_kinds = {k: str(v) for k, v in meta["alert_kinds"].items()}
            self.budget.restore(meta["budget"])
            self.sites.restore(meta["site_alerts"])
            lc, le = meta["last_check"], meta["last_end"]
            self.last_check = -math.inf if lc is None else float(lc)
            self.last_end = -math.inf if le is None else float(le)
            self.pending = []
            if "pending_key" in z.files:
                self.pending = [
                    (z["pending_key"].copy(), z["pending_end"].copy(), z["pending_val"].copy())
                ]
