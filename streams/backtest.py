"""In-process backtest: feed files -> features -> detection stage -> scored against labels.

No broker: the files are read with :mod:`streams.feeds`, turned into feature
points by the :mod:`streams.features` engines and scored by the same
:class:`~streams.detection.DetectionStage` the streaming workers run.

Scoring rules (also in ``docs/QUALITY.md``, section "Simulated scenarios"):

* An **alert episode** on a series is a maximal period during which at least
  one of the series' *scored routes* has a warning firing (trend and level
  routes; staleness and the composite index are reported, not scored);
  episodes less than ``merge_gap_s`` (1 day) apart are one episode.
* A labelled window ``[onset, end]`` of series ``S`` is **detected** when an
  episode of ``S`` overlaps ``[onset - tolerance, end]`` (tolerance 3 days:
  a warning just before the labelled onset is early, not false). Its **first
  warning** is the start of the first such episode; **lead from onset** is
  ``first warning - onset`` (negative: before the onset) and **lead to limit**
  is ``limit crossed - first warning`` (positive: warned before the crossing).
* A **false alarm** is an episode of a scored series that overlaps no
  ``[onset - tolerance, end + tolerance]`` of that series' windows.
  False alarms per series per 90 days = false alarms / (scored series x
  scenario days / 90).
* Windows are inherited where the label file has none for a series: a
  terminal series ``family|P|T`` takes the windows of ``family|P``, a region
  series those of its ports, a port series those of its region.
* Scored series: every series of a watched family (``vessels_waiting``,
  ``dwell_truck_p90``, ``dwell_rail_p90``, ``days_of_supply``) that appears in
  the features, for the families the label file has windows for.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors import CUSUM, EWMA, AlertPolicy, Severity
from streams.detection import (
    AlertTransition,
    DetectionStage,
    MethodologyChange,
    PipelineConfig,
    StageOutput,
)
from streams.features import (
    FeaturePoints,
    Partials,
    concat_points,
    engine_for,
    merge_partials,
)
from streams.feeds import (
    CONTAINER_EVENT_DTYPE,
    INVENTORY_DTYPE,
    POSITION_DTYPE,
    Kind,
)
from streams.feeds.files import detect_format, read_arrays
from streams.geo import Geography, load_geography
from streams.series import family_of
from streams.times import parse_timestamp

F64 = NDArray[np.float64]
DAY = 86400.0
Progress = Callable[[str, float], None]
"""Called with a step description and the fraction done (0..1)."""

#: families scored against labels, and the routes whose warnings count for them
SCORED_ROUTES: dict[str, tuple[str, ...]] = {
    "vessels_waiting": ("queue_trend", "queue_level"),
    "dwell_truck_p90": ("dwell_truck_trend",),
    "dwell_rail_p90": ("dwell_rail_trend",),
    "days_of_supply": ("supply_trend",),
}
TOLERANCE_S = 3 * DAY
MERGE_GAP_S = 1 * DAY

__all__ = [
    "SCORED_ROUTES",
    "BacktestResult",
    "FeedData",
    "Labels",
    "LevelLead",
    "Metrics",
    "Window",
    "WindowResult",
    "compute_features",
    "episodes_by_series",
    "geography_for",
    "level_lead",
    "load_labels",
    "monthly_report",
    "monthly_series",
    "read_feeds",
    "related_series",
    "run_backtest",
    "score_windows",
    "write_html",
    "write_json",
]


def _iso(ts: float | None) -> str | None:
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- reading feeds


@dataclass
class FeedData:
    """Canonical arrays of every feed read, with counts."""

    arrays: dict[Kind, list[NDArray[Any]]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def of(self, kind: Kind, dtype: np.dtype[Any]) -> NDArray[Any]:
        parts = self.arrays.get(kind, [])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def read_feeds(paths: Sequence[Path], progress: Progress | None = None) -> FeedData:
    """Read feed files, format detected per file, into canonical arrays
    (:func:`streams.feeds.files.read_arrays`: CSV vectorized, exact to the per-line
    parser; other formats line by line)."""
    report = progress or (lambda _s, _f: None)
    out = FeedData()
    t0 = time.perf_counter()
    for i, path in enumerate(paths):
        report(f"reading {path.name}", i / max(len(paths), 1))
        fmt = detect_format(path)
        parsed, bad = read_arrays(path, fmt)
        for kind, arr in parsed.items():
            out.arrays.setdefault(kind, []).append(arr)
        out.rows[path.name] = sum(len(a) for a in parsed.values())
        out.rejected[path.name] = bad
        out.method[path.name] = "vectorized csv" if fmt.is_csv else "per line"
    out.seconds = time.perf_counter() - t0
    return out


def features_by_clock(
    data: FeedData,
    geo: Geography,
    progress: Progress | None = None,
    chunk: int = 250_000,
) -> dict[int, FeaturePoints]:
    """Run the three feature engines over the arrays (event-time order); their points per
    interval length (the clock each detection stage runs on: hourly, daily)."""
    report = progress or (lambda _s, _f: None)
    engines: list[tuple[str, Any, NDArray[Any]]] = [
        (name, engine_for(kind, geo), data.of(kind, dtype))
        for name, kind, dtype in (
            ("positions", Kind.POSITION, POSITION_DTYPE),
            ("containers", Kind.CONTAINER_EVENT, CONTAINER_EVENT_DTYPE),
            ("inventory", Kind.INVENTORY, INVENTORY_DTYPE),
        )
    ]
    partials: dict[int, list[Partials]] = {}
    total = sum(len(a) for _, _, a in engines) or 1
    done = 0
    for name, engine, arr in engines:
        if not len(arr):
            continue
        clock = partials.setdefault(engine.config.window.interval_s, [])
        arr = arr[np.argsort(arr["ts_ms"], kind="stable")]
        for a in range(0, len(arr), chunk):
            clock.append(engine.process(arr[a : a + chunk]))
            done += min(chunk, len(arr) - a)
            report(f"features: {name}", done / total)
        clock.append(engine.flush())
    return {interval: merge_partials(p) for interval, p in sorted(partials.items())}


def compute_features(
    data: FeedData,
    geo: Geography,
    progress: Progress | None = None,
    chunk: int = 250_000,
) -> FeaturePoints:
    """Run the three feature engines over the arrays (event-time order) and merge."""
    return concat_points(list(features_by_clock(data, geo, progress, chunk).values()))


def detect(
    by_clock: Mapping[int, FeaturePoints],
    config: PipelineConfig,
    progress: Progress | None = None,
    batch_s: float = 7 * DAY,
) -> StageOutput:
    """One detection stage per clock, fed in batches of ``batch_s`` of event time, as the
    workers' detection shards do: hourly series never wait for daily ones."""
    report = progress or (lambda _s, _f: None)
    out = StageOutput()
    total = sum(len(p.end_s) for p in by_clock.values()) or 1
    done = 0
    for points in by_clock.values():
        stage = DetectionStage(config)
        end = points.end_s
        if not len(end):
            continue
        edges = np.arange(float(end[0]), float(end[-1]) + batch_s, batch_s)
        cuts = [*np.searchsorted(end, edges, side="left").tolist(), len(end)]
        for i in range(len(cuts) - 1):
            a, b = cuts[i], cuts[i + 1]
            if b > a:
                out = out + stage.process(
                    FeaturePoints(points.key[a:b], points.end_s[a:b], points.value[a:b])
                )
            report("detecting", (done + b) / total)
        out = out + stage.flush()
        done += len(end)
    return out


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class Window:
    series: str
    kind: str
    onset: float
    end: float
    limit_crossed: float | None
    description: str = ""


@dataclass
class Labels:
    windows: list[Window]
    changes: list[MethodologyChange]
    start: float | None = None
    end: float | None = None
    scenario: str | None = None
    seed: int | None = None


def load_labels(path: Path | None = None, doc: Mapping[str, Any] | None = None) -> Labels:
    """A ``labels.json`` document (simulator layout) as :class:`Labels`."""
    if doc is None:
        if path is None:
            raise ValueError("need a path or a document")
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    wins = [
        Window(
            str(w["series"]),
            str(w.get("kind", "")),
            float(_epoch(w["onset"]) or 0.0),
            float(_epoch(w["end"]) or 0.0),
            _epoch(w.get("limit_crossed")),
            str(w.get("description", "")),
        )
        for w in doc.get("windows", [])
    ]
    return Labels(
        wins,
        MethodologyChange.from_labels(doc),
        _epoch(doc.get("start")),
        _epoch(doc.get("end")),
        doc.get("scenario"),
        doc.get("seed"),
    )


# --------------------------------------------------------------------------- scoring


def episodes_by_series(
    alerts: Iterable[AlertTransition],
    end_s: float,
    routes: Mapping[str, Sequence[str]] = SCORED_ROUTES,
    merge_gap_s: float = MERGE_GAP_S,
) -> dict[str, list[tuple[float, float]]]:
    """AlertTransition episodes (start, end) per series from firing/resolved transitions of the
    scored routes (warning severity); an alert still firing ends at ``end_s``."""
    open_: dict[str, float] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for a in sorted(alerts, key=lambda a: (a.ts, a.state != "resolved")):
        if a.severity != "warning" or a.detector not in routes.get(family_of(a.series), ()):
            continue
        if a.state == "firing":
            open_[a.key] = a.ts
        elif a.key in open_:
            spans.setdefault(a.series, []).append((open_.pop(a.key), a.ts))
    for key, t0 in open_.items():
        series = next(a.series for a in alerts if a.key == key)
        spans.setdefault(series, []).append((t0, end_s))
    out: dict[str, list[tuple[float, float]]] = {}
    for series, sp in spans.items():
        merged: list[list[float]] = []
        for a0, a1 in sorted(sp):
            if merged and a0 <= merged[-1][1] + merge_gap_s:
                merged[-1][1] = max(merged[-1][1], a1)
            else:
                merged.append([a0, a1])
        out[series] = [(m[0], m[1]) for m in merged]
    return out


@dataclass
class WindowResult:
    series: str
    kind: str
    onset: float
    end: float
    limit_crossed: float | None
    detected: bool
    first_warning: float | None
    lead_from_onset_days: float | None
    lead_to_limit_days: float | None
    observed: bool = True
    """False when the features never contained the series (not counted in recall)."""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("onset", "end", "limit_crossed", "first_warning"):
            d[k] = _iso(d[k])
        return d


def related_series(key: str, region_of: Mapping[str, str]) -> list[str]:
    """Series whose windows ``key`` inherits when it has none of its own."""
    parts = key.split("|")
    fam = parts[0]
    if len(parts) == 3:
        return [f"{fam}|{parts[1]}"]
    if len(parts) != 2:
        return []
    x = parts[1]
    if x in region_of:
        return [f"{fam}|{region_of[x]}"]
    return [f"{fam}|{p}" for p, r in sorted(region_of.items()) if r == x]


def windows_of(
    key: str, by_series: Mapping[str, list[Window]], region_of: Mapping[str, str]
) -> tuple[list[Window], str | None]:
    own = by_series.get(key)
    if own:
        return own, None
    for rel in related_series(key, region_of):
        if by_series.get(rel):
            return by_series[rel], rel
        for rel2 in related_series(rel, region_of):
            if rel2 != key and by_series.get(rel2):
                return by_series[rel2], rel2
    return [], None


@dataclass
class Metrics:
    windows: int
    """Labelled windows on series the features contain (``unobserved`` others)."""
    detected: int
    recall: float
    scored_series: int
    false_alarms: int
    days: float
    false_alarms_per_series_per_90d: float
    max_false_alarms_per_series_per_90d: float
    by_family: dict[str, dict[str, float]]
    median_lead_from_onset_days: float | None
    median_lead_to_limit_days: float | None
    unobserved: int = 0


def score_windows(
    windows: Sequence[Window],
    episodes: Mapping[str, list[tuple[float, float]]],
    scored: Sequence[str],
    start_s: float,
    end_s: float,
    region_of: Mapping[str, str] | None = None,
    tolerance_s: float = TOLERANCE_S,
    observed: Collection[str] | None = None,
) -> tuple[list[WindowResult], dict[str, int], Metrics]:
    """Detection, lead times and false alarms (see the module docstring).

    ``observed``: the series keys present in the features (default: every window's
    series); windows on other series are reported but left out of the recall.
    """
    region_of = region_of or {}
    by_series: dict[str, list[Window]] = {}
    for w in windows:
        by_series.setdefault(w.series, []).append(w)
    results = []
    for w in windows:
        eps = [
            e for e in episodes.get(w.series, []) if e[1] >= w.onset - tolerance_s and e[0] <= w.end
        ]
        first = min((e[0] for e in eps), default=None)
        results.append(
            WindowResult(
                w.series,
                w.kind,
                w.onset,
                w.end,
                w.limit_crossed,
                bool(eps),
                first,
                None if first is None else (first - w.onset) / DAY,
                None
                if first is None or w.limit_crossed is None
                else (w.limit_crossed - first) / DAY,
                observed is None or w.series in observed,
            )
        )
    all_results, results = results, [r for r in results if r.observed]
    false: dict[str, int] = {}
    for key in scored:
        wins, _ = windows_of(key, by_series, region_of)
        n = 0
        for e0, e1 in episodes.get(key, []):
            if not any(e1 >= w.onset - tolerance_s and e0 <= w.end + tolerance_s for w in wins):
                n += 1
        false[key] = n
    days = max((end_s - start_s) / DAY, 1e-9)
    per = {k: v / (days / 90.0) for k, v in false.items()}
    fams = sorted({family_of(k) for k in scored} | {family_of(w.series) for w in windows})
    by_family: dict[str, dict[str, float]] = {}
    for f in fams:
        rs = [r for r in results if family_of(r.series) == f]
        ks = [k for k in scored if family_of(k) == f]
        fa = sum(false[k] for k in ks)
        by_family[f] = {
            "windows": len(rs),
            "detected": sum(r.detected for r in rs),
            "recall": sum(r.detected for r in rs) / len(rs) if rs else math.nan,
            "series": len(ks),
            "false_alarms": fa,
            "false_alarms_per_series_per_90d": fa / (len(ks) * days / 90.0) if ks else math.nan,
        }
    leads = [r.lead_from_onset_days for r in results if r.lead_from_onset_days is not None]
    limit_leads = [r.lead_to_limit_days for r in results if r.lead_to_limit_days is not None]
    total_fa = sum(false.values())
    metrics = Metrics(
        windows=len(results),
        detected=sum(r.detected for r in results),
        recall=sum(r.detected for r in results) / len(results) if results else math.nan,
        scored_series=len(scored),
        false_alarms=total_fa,
        days=days,
        false_alarms_per_series_per_90d=total_fa / (len(scored) * days / 90.0)
        if scored
        else math.nan,
        max_false_alarms_per_series_per_90d=max(per.values(), default=0.0),
        by_family=by_family,
        median_lead_from_onset_days=float(np.median(leads)) if leads else None,
        median_lead_to_limit_days=float(np.median(limit_leads)) if limit_leads else None,
        unobserved=len(all_results) - len(results),
    )
    return all_results, false, metrics


@dataclass
class LevelLead:
    """First warning on ``series`` against the first time its value reaches ``level``."""

    series: str
    level: float
    reached: float | None
    first_warning: float | None
    lead_days: float | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reached"], d["first_warning"] = _iso(self.reached), _iso(self.first_warning)
        return d


def level_lead(
    points: FeaturePoints,
    series: str,
    level: float,
    episodes: Mapping[str, list[tuple[float, float]]],
    after: float | None = None,
) -> LevelLead:
    """Lead of the first warning (the first alert episode of ``series`` ending after
    ``after``) before the first interval whose value reaches ``level`` (the interval's
    end time; the first single point counts, the strictest reading of "passes")."""
    m = points.key == series.encode()
    t = points.end_s[m].astype(np.float64)
    v = points.value[m]
    hit = np.flatnonzero(v >= level)
    reached = float(t[hit[0]]) if hit.size else None
    starts = [e[0] for e in episodes.get(series, []) if after is None or e[1] >= after]
    if reached is not None:
        starts = [s for s in starts if s <= reached]
    first = min(starts, default=None)
    lead = None if first is None or reached is None else (reached - first) / DAY
    return LevelLead(series, level, reached, first, lead)


# --------------------------------------------------------------------------- the run


@dataclass
class BacktestResult:
    files: list[str]
    labels: Labels | None
    points: FeaturePoints
    output: StageOutput
    start_s: float
    end_s: float
    windows: list[WindowResult] = field(default_factory=list)
    false_alarms: dict[str, int] = field(default_factory=dict)
    metrics: Metrics | None = None
    episodes: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    level_leads: list[LevelLead] = field(default_factory=list)
    config: PipelineConfig = field(default_factory=PipelineConfig)
    timings: dict[str, float] = field(default_factory=dict)
    feed_rows: dict[str, int] = field(default_factory=dict)
    feed_rejected: dict[str, int] = field(default_factory=dict)
    feed_method: dict[str, str] = field(default_factory=dict)
    monthly: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        fires = [a for a in self.output.alerts if a.state == "firing"]
        by_route: dict[str, int] = {}
        for a in fires:
            by_route[a.detector] = by_route.get(a.detector, 0) + 1
        return {
            "files": self.files,
            "scenario": self.labels.scenario if self.labels else None,
            "seed": self.labels.seed if self.labels else None,
            "start": _iso(self.start_s),
            "end": _iso(self.end_s),
            "feature_points": len(self.points.key),
            "series": len(set(self.points.key.tolist())),
            "alerts_fired_by_route": by_route,
            "metrics": None if self.metrics is None else asdict(self.metrics),
            "windows": [w.as_dict() for w in self.windows],
            "false_alarms_by_series": {k: v for k, v in self.false_alarms.items() if v},
            "level_leads": [x.as_dict() for x in self.level_leads],
            "timings_seconds": {k: round(v, 2) for k, v in self.timings.items()},
            "feed_rows": self.feed_rows,
            "feed_rejected": self.feed_rejected,
            "feed_method": self.feed_method,
            "pipeline_config": json.loads(self.config.to_json()),
            "monthly": self.monthly,
        }


def geography_for(paths: Sequence[Path], explicit: Path | None = None) -> Geography:
    """The packaged geography, merged with ``explicit`` or a ``geography.yaml``
    next to the feeds (the ``random`` scenario writes one)."""
    if explicit is not None:
        return load_geography(explicit)
    for p in paths:
        cand = p.parent / "geography.yaml"
        if cand.exists():
            return load_geography(cand)
    return load_geography()


def run_backtest(
    paths: Sequence[Path],
    labels: Labels | None = None,
    *,
    geography: Geography | None = None,
    config: PipelineConfig | None = None,
    level_leads: Mapping[str, float] | None = None,
    progress: Progress | None = None,
    batch_s: float = 7 * DAY,
) -> BacktestResult:
    """Read, featurize, detect and score; everything in-process."""
    report = progress or (lambda _s, _f: None)
    timings: dict[str, float] = {}
    geo = geography or geography_for(paths)
    cfg = config or PipelineConfig.from_geography(geo)
    if labels is not None and labels.changes:
        cfg = cfg.with_changes(labels.changes)
    t0 = time.perf_counter()
    data = read_feeds(paths, lambda s, f: report(s, 0.3 * f))
    timings["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_clock = features_by_clock(data, geo, lambda s, f: report(s, 0.3 + 0.3 * f))
    points = concat_points(list(by_clock.values()))
    timings["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = detect(by_clock, cfg, lambda s, f: report(s, 0.6 + 0.38 * f), batch_s)
    end = points.end_s
    timings["detect"] = time.perf_counter() - t0
    start_s = float(labels.start) if labels and labels.start else float(end.min(initial=0))
    end_s = float(labels.end) if labels and labels.end else float(end.max(initial=0))
    res = BacktestResult(
        [p.name for p in paths],
        labels,
        points,
        out,
        start_s,
        end_s,
        config=cfg,
        timings=timings,
        feed_rows=data.rows,
        feed_rejected=data.rejected,
        feed_method=data.method,
    )
    res.episodes = episodes_by_series(out.alerts, end_s)
    if labels is not None:
        region_of = {p: rid for rid, r in geo.regions.items() for p in r.ports}
        fams = {family_of(w.series) for w in labels.windows}
        keys = sorted({k.decode() for k in np.unique(points.key)})
        scored = [k for k in keys if family_of(k) in SCORED_ROUTES and family_of(k) in fams]
        res.windows, res.false_alarms, res.metrics = score_windows(
            labels.windows, res.episodes, scored, start_s, end_s, region_of, observed=set(keys)
        )
    for series, level in (level_leads or {}).items():
        after = None
        if labels is not None:
            onsets = [w.onset for w in labels.windows if w.series == series]
            after = min(onsets) - TOLERANCE_S if onsets else None
        res.level_leads.append(level_lead(points, series, level, res.episodes, after))
    report("done", 1.0)
    return res


# --------------------------------------------------------------------------- monthly real data


#: monthly public series: name -> (relative path under the data folder, date column,
#: value column, date format)
MONTHLY_SERIES: dict[str, tuple[str, str, str, str]] = {
    "gscpi": ("gscpi/gscpi_data.csv", "Date", "GSCPI", "%d-%b-%Y"),
    "long-beach-loaded-inbound-teu": (
        "la-lb-teu/port_long_beach_teu.csv",
        "Actual Date",
        "Loaded Inbound",
        "%m/%d/%Y",
    ),
    "us-inventories-to-sales": (
        "fred-inventory/ISRATIO.csv",
        "observation_date",
        "ISRATIO",
        "%Y-%m-%d",
    ),
}


def read_monthly(path: Path, date_col: str, value_col: str, date_fmt: str) -> list[str]:
    """A public monthly CSV as ``timestamp,value`` lines (in memory, never written)."""
    import csv

    out = ["timestamp,value"]
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            d = (row.get(date_col) or "").strip()
            v = (row.get(value_col) or "").strip()
            if not d:
                continue
            ts = datetime.strptime(d, date_fmt).replace(tzinfo=UTC)
            out.append(f"{ts.strftime('%Y-%m-%dT%H:%M:%SZ')},{v}")
    return out


MONTH = 30.44 * DAY
#: detectors for monthly series, with explicit parameters (the detectors' defaults are
#: meant for hourly and daily feature points): a CUSUM for sustained shifts against a
#: two-year baseline, an EWMA control chart for single-month outliers against one year
MONTHLY_DETECTORS: dict[str, Callable[[], Any]] = {
    "cusum": lambda: CUSUM(halflife=24 * MONTH, warmup=24, k=1.0, h=8.0, rel_floor=0.01),
    "ewma": lambda: EWMA(halflife=12 * MONTH, warmup=24, z_alarm=3.0, rel_floor=0.01),
}


def monthly_series(lines: Sequence[str], detector: str) -> dict[str, Any]:
    """Score one monthly ``timestamp,value`` CSV (as lines) with a monthly detector.

    Times are read as ``berthwatch detect`` reads them (:func:`streams.times.parse_timestamp`);
    the alert policy fires on 2 of 3 months at score 0.8 and resolves after 2 below 0.5.
    """
    import csv

    rows = list(csv.DictReader(lines))
    ts = np.array([parse_timestamp(r["timestamp"]) for r in rows], dtype=np.float64)
    val = np.array([float(r["value"]) if r["value"].strip() else math.nan for r in rows])
    det = MONTHLY_DETECTORS[detector]()
    series = np.zeros(len(ts), dtype=np.int64)
    res = det.update(series, ts, val)
    policy = AlertPolicy(detector, severities=[Severity("warning", 0.8, 0.5)],
                         persistence=(2, 3), resolve_after=2, cooldown=0.0)  # fmt: skip
    decided = policy.evaluate(series, ts, res.score, keys=["s"], value=val, result=res)
    return {"ts": ts, "value": val, "score": res.score, "alert": decided.alert,
            "expected": res.expected, "transitions": decided.transitions}  # fmt: skip


def monthly_report(
    data_dir: Path, since: str = "2020-01-01", until: str = "2022-12-31"
) -> list[dict[str, Any]]:
    """Run the detectors on the public monthly series and list what fires in
    ``[since, until]`` and why (value against the baseline, score)."""
    lo, hi = parse_timestamp(since), parse_timestamp(until)
    out: list[dict[str, Any]] = []
    for name, (rel, dcol, vcol, dfmt) in MONTHLY_SERIES.items():
        path = data_dir / rel
        if not path.exists():
            continue
        lines = read_monthly(path, dcol, vcol, dfmt)
        for det in MONTHLY_DETECTORS:
            r = monthly_series(lines, det)
            fired = [
                {
                    "month": (_iso(tr.ts) or "")[:7],
                    "value": tr.value,
                    "expected": tr.expected,
                    "score": tr.score,
                    "why": f"{name}: value {tr.value:.4g} vs baseline {tr.expected:.4g} "
                    f"({det} score {tr.score:.2f})",
                }
                for tr in r["transitions"]
                if tr.state == "firing" and lo <= tr.ts <= hi
            ]
            inside = (r["ts"] >= lo) & (r["ts"] <= hi)
            out.append(
                {
                    "series": name,
                    "detector": det,
                    "fired": fired,
                    "points": len(r["ts"]),
                    "alert_months_in_range": int((r["alert"][inside] > 0).sum()),
                    "ts": r["ts"][inside].tolist(),
                    "value": r["value"][inside].tolist(),
                    "score": r["score"][inside].tolist(),
                }
            )
    return out


# --------------------------------------------------------------------------- outputs


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def write_json(result: BacktestResult, path: Path) -> None:
    doc = result.summary()
    doc["alerts"] = [a.as_dict() for a in result.output.alerts]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(doc), indent=1) + "\n", encoding="utf-8")


def _plot_series(result: BacktestResult, key: str) -> str:
    """One PNG (base64) of a series: value, band, limit, windows, alerts, projection, score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fam = family_of(key)
    routes = SCORED_ROUTES.get(fam, ())
    sc = result.output.scores
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )

    def dt(x: F64) -> F64:  # matplotlib date numbers: days since 1970-01-01
        return np.asarray(x, dtype=np.float64) / DAY

    drawn = False
    limit = math.nan
    colors = {"queue_level": "tab:green"}
    for route in routes:
        s = sc.series(key, route)
        if not len(s["ts"]):
            continue
        if not drawn:
            ax.plot(dt(s["ts"]), s["value"], lw=0.7, color="black", label="value")
            drawn = True
        ok = np.isfinite(s["lower"]) & np.isfinite(s["upper"])
        if ok.any():
            ax.fill_between(
                dt(s["ts"][ok]),
                s["lower"][ok],
                s["upper"][ok],
                alpha=0.15,
                color=colors.get(route, "tab:blue"),
                label=f"{route} band",
            )
        ax2.plot(dt(s["ts"]), s["score"], lw=0.7, color=colors.get(route, "tab:blue"), label=route)
        if route.endswith("trend"):
            limit = result.config.limit_of(route, key)
    if math.isfinite(limit):
        ax.axhline(limit, color="red", ls="--", lw=0.8, label=f"limit {limit:g}")
    for w in result.labels.windows if result.labels else []:
        if w.series == key:
            ax.axvspan(w.onset / DAY, w.end / DAY, color="gold", alpha=0.2)
            if w.limit_crossed:
                ax.axvline(w.limit_crossed / DAY, color="darkorange", lw=0.8)
    for ch in result.config.changes:
        if ch.matches(key):
            ax.axvline(ch.time_s / DAY, color="grey", ls=":", lw=1.0, label="methodology change")
    for e0, e1 in result.episodes.get(key, []):
        ax2.axvspan(e0 / DAY, e1 / DAY, color="red", alpha=0.2)
    for a in result.output.alerts:
        if (
            a.series == key
            and a.state == "firing"
            and math.isfinite(a.crossing_ts)
            and a.eta_seconds > 0
        ):
            lo = a.ts + a.eta_lower if math.isfinite(a.eta_lower) else a.crossing_ts
            hi = a.ts + a.eta_upper if math.isfinite(a.eta_upper) else a.crossing_ts
            c = a.crossing_ts / DAY
            ax.errorbar(
                [c],
                [a.limit],
                xerr=[[c - lo / DAY], [hi / DAY - c]],
                fmt="v",
                color="red",
                ms=6,
                capsize=3,
            )
            ax.annotate(
                "",
                xy=(c, a.limit),
                xytext=(a.ts / DAY, a.value),
                arrowprops={"arrowstyle": "->", "color": "red", "lw": 0.6},
            )
    ax.xaxis_date()
    ax2.xaxis_date()
    ax.set_title(key, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax2.set_ylim(0, 1.05)
    ax2.axhline(0.8, color="grey", lw=0.5, ls=":")
    ax2.set_ylabel("score", fontsize=7)
    ax2.legend(fontsize=6, loc="upper left")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plot_monthly(entry: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.5))
    t = [x / DAY for x in entry["ts"]]
    ax.plot(t, entry["value"], color="black", lw=0.8)
    ax.set_title(f"{entry['series']} ({entry['detector']})", fontsize=9)
    for f in entry["fired"]:
        month = datetime.strptime(f["month"], "%Y-%m").replace(tzinfo=UTC).timestamp()
        ax.axvline(month / DAY, color="red", lw=0.8)
    ax.xaxis_date()
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plotted_series(result: BacktestResult, limit: int = 24) -> list[str]:
    """Labelled series first, then other series with alert episodes."""
    keys = {k.decode() for k in np.unique(result.points.key)} if len(result.points.key) else set()
    labelled = sorted({w.series for w in (result.labels.windows if result.labels else [])} & keys)
    fams = [k for k in labelled if not k.startswith("days_of_supply")]
    inv = [k for k in labelled if k.startswith("days_of_supply")]
    others = sorted(k for k in result.episodes if k not in labelled and k in keys)
    return (fams + inv[:6] + others)[:limit]


def write_html(result: BacktestResult, path: Path, plots: int = 24) -> None:
    """A self-contained HTML report (PNG plots embedded as base64)."""
    s = result.summary()
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>berthwatch backtest</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
        "padding:2px 6px}th{background:#eee}.no{color:#b00}.yes{color:#070}</style>",
        "</head><body><h1>berthwatch backtest</h1>",
        f"<p>files: {e(', '.join(result.files))}; scenario {e(str(s['scenario']))}, "
        f"seed {e(str(s['seed']))}; {e(str(s['start']))} .. {e(str(s['end']))}; "
        f"{s['feature_points']:,} feature points in {s['series']:,} series.</p>",
    ]
    m = result.metrics
    if m is not None:
        parts.append(
            "<h2>Summary</h2><table><tr><th>windows</th><th>detected</th>"
            "<th>recall</th><th>scored series</th><th>false alarms</th>"
            "<th>false alarms / series / 90 d</th><th>median lead from onset (d)</th>"
            "<th>median lead to limit (d)</th></tr>"
        )
        parts.append(
            f"<tr><td>{m.windows}</td><td>{m.detected}</td><td>{m.recall:.3f}</td>"
            f"<td>{m.scored_series}</td><td>{m.false_alarms}</td>"
            f"<td>{m.false_alarms_per_series_per_90d:.3f}</td>"
            f"<td>{_fmt(m.median_lead_from_onset_days)}</td>"
            f"<td>{_fmt(m.median_lead_to_limit_days)}</td></tr></table>"
        )
        parts.append(
            "<h3>By family</h3><table><tr><th>family</th><th>windows</th>"
            "<th>detected</th><th>series</th><th>false alarms</th>"
            "<th>per series per 90 d</th></tr>"
        )
        for fam, d in m.by_family.items():
            parts.append(
                f"<tr><td>{e(fam)}</td><td>{int(d['windows'])}</td><td>{int(d['detected'])}</td>"
                f"<td>{int(d['series'])}</td><td>{int(d['false_alarms'])}</td>"
                f"<td>{_fmt(d['false_alarms_per_series_per_90d'], 3)}</td></tr>"
            )
        parts.append("</table>")
    if result.level_leads:
        parts.append(
            "<h2>Warning before a level</h2><table><tr><th>series</th><th>level</th>"
            "<th>reached</th><th>first warning</th><th>lead (d)</th></tr>"
        )
        for x in result.level_leads:
            parts.append(
                f"<tr><td>{e(x.series)}</td><td>{x.level:g}</td>"
                f"<td>{_iso(x.reached)}</td><td>{_iso(x.first_warning)}</td>"
                f"<td>{_fmt(x.lead_days)}</td></tr>"
            )
        parts.append("</table>")
    if result.windows:
        parts.append(
            "<h2>Labelled windows</h2><table><tr><th>series</th><th>kind</th>"
            "<th>onset</th><th>end</th><th>limit crossed</th><th>detected</th>"
            "<th>first warning</th><th>lead from onset (d)</th>"
            "<th>lead to limit (d)</th></tr>"
        )
        for w in result.windows:
            cls = "yes" if w.detected else "no"
            if not w.observed:
                parts.append(
                    f"<tr><td>{e(w.series)}</td><td>{e(w.kind)}</td><td>{_iso(w.onset)}</td>"
                    f"<td>{_iso(w.end)}</td><td>{_iso(w.limit_crossed) or ''}</td>"
                    "<td colspan='4'>series not in the features: not scored</td></tr>"
                )
                continue
            parts.append(
                f"<tr><td>{e(w.series)}</td><td>{e(w.kind)}</td><td>{_iso(w.onset)}</td>"
                f"<td>{_iso(w.end)}</td><td>{_iso(w.limit_crossed) or ''}</td>"
                f"<td class='{cls}'>{'yes' if w.detected else 'no'}</td>"
                f"<td>{_iso(w.first_warning) or ''}</td><td>{_fmt(w.lead_from_onset_days)}</td>"
                f"<td>{_fmt(w.lead_to_limit_days)}</td></tr>"
            )
        parts.append("</table>")
    fa = {k: v for k, v in result.false_alarms.items() if v}
    if fa:
        parts.append(
            "<h3>False alarms by series</h3><table><tr><th>series</th>"
            "<th>episodes outside labelled windows</th></tr>"
        )
        for k, v in sorted(fa.items(), key=lambda kv: -kv[1])[:50]:
            parts.append(f"<tr><td>{e(k)}</td><td>{v}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Alerts</h2><p>First 200 firing transitions, with explanations.</p><ul>")
    fires = [a for a in result.output.alerts if a.state == "firing"]
    for a in fires[:200]:
        parts.append(f"<li><code>{e(a.key)}</code> {e(a.explanation)}</li>")
    parts.append(
        "</ul><h2>Series</h2><p>Value (black), baseline band (shaded), limit "
        "(red dashes), labelled windows (yellow), limit crossing of the label (orange "
        "line), methodology changes (grey dots), projected crossing at each warning "
        "(red triangle with interval); "
        "lower panel: scores and alert episodes (red).</p>"
    )
    for key in plotted_series(result, plots):
        parts.append(
            f"<h3>{e(key)}</h3><img src='data:image/png;base64,{_plot_series(result, key)}'>"
        )
    if result.monthly:
        parts.append(
            "<h2>Real monthly series, 2020-2022</h2><p>Public monthly series run "
            "through <code>berthwatch detect</code>'s scoring; months where an alert "
            "starts are listed (red lines).</p><table><tr><th>series</th>"
            "<th>detector</th><th>alert starts 2020-2022</th>"
            "<th>alert months</th></tr>"
        )
        for m_ in result.monthly:
            fired = ", ".join(
                f"{f['month']} (value {f['value']:.4g}, score {f['score']:.2f})"
                for f in m_["fired"]
            )
            parts.append(
                f"<tr><td>{e(m_['series'])}</td><td>{e(m_['detector'])}</td>"
                f"<td>{e(fired) or 'none'}</td>"
                f"<td>{m_['alert_months_in_range']}</td></tr>"
            )
        parts.append("</table>")
        for m_ in result.monthly:
            parts.append(f"<img src='data:image/png;base64,{_plot_monthly(m_)}'>")
    parts.append(
        f"<h2>Run</h2><pre>{e(json.dumps(s['timings_seconds']))}\n"
        f"{e(json.dumps(s['feed_method']))}</pre></body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return ""
    return f"{x:.{digits}f}"
