"""In-process backtest: feed files -> features -> detection stage -> scored against labels.

No broker: the files are read with :mod:`streams.feeds.files`, turned into feature
points by the :mod:`streams.features` engines (one set of points per clock: hourly,
daily) and scored by the same :class:`~streams.detection.DetectionStage` the
streaming workers run, one stage per clock. The alerts are scored against the
labelled windows by :mod:`streams.offline.scoring`; :func:`backtest_feeds` is what
``berthwatch backtest`` runs, and :mod:`streams.reports.backtest` writes its page,
tables and JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.detection import DetectionStage, MethodologyChange, PipelineConfig, StageOutput
from streams.features import (
    FeaturePoints,
    Partials,
    concat_points,
    engine_for,
    merge_partials,
)
from streams.feeds import DTYPES, Kind
from streams.feeds.files import detect_format, read_arrays
from streams.geo import Geography, load_geography
from streams.kafka.topics import FEED_TOPICS, KIND_OF_TOPIC
from streams.labels import Labels, load_labels
from streams.offline import InputError
from streams.offline.monthly import monthly_report
from streams.offline.scoring import (
    TOLERANCE_S,
    AlertLoad,
    LevelLead,
    Metrics,
    WindowResult,
    alert_load,
    episodes_by_series,
    level_lead,
    score_windows,
    scored_series,
)
from streams.times import DAY, iso_or_none

Progress = Callable[[str, float], None]
"""Called with a step description and the fraction done (0..1)."""

#: the feed files a simulated scenario gives the backtest
FEED_FILES = ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz")
#: the level the San Pedro Bay region's queue is watched against by default (FACTS.md:
#: 40 container ships at anchor on 2021-02-01, FreightWaves)
SPB_LEVEL = ("vessels_waiting|san-pedro-bay", 40.0)

__all__ = [
    "FEED_FILES",
    "SPB_LEVEL",
    "BacktestResult",
    "FeedData",
    "backtest_feeds",
    "compute_features",
    "detect",
    "features_by_clock",
    "geography_for",
    "parse_levels",
    "read_feeds",
    "run_backtest",
    "simulate_feeds",
]


@dataclass
class FeedData:
    """Canonical arrays of every feed read, with counts."""

    arrays: dict[Kind, list[NDArray[Any]]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def of(self, kind: Kind, dtype: np.dtype[Any]) -> NDArray[Any]:
        """Every array of ``kind`` read, in one (empty, of ``dtype``, if none)."""
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
    engines: list[tuple[str, Any, NDArray[Any]]] = [  # the feeds the workers read
        (name, engine_for(KIND_OF_TOPIC[name], geo),
         data.of(KIND_OF_TOPIC[name], DTYPES[KIND_OF_TOPIC[name]]))
        for name in FEED_TOPICS
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


@dataclass
class BacktestResult:
    """Everything a backtest found: the feature points, the detection stage's output, and
    (with labels) the windows scored, the false alarms and the metrics."""

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

    def alert_load(self) -> AlertLoad:
        """Firings per series per 90 days over the run and the worst flappers
        (:func:`streams.offline.scoring.alert_load`)."""
        return alert_load(self.output.alerts, self.start_s, self.end_s)

    def summary(self) -> dict[str, Any]:
        """The figures of the run as a JSON-ready document (every alert aside)."""
        fires = [a for a in self.output.alerts if a.state == "firing"]
        by_route: dict[str, int] = {}
        for a in fires:
            by_route[a.detector] = by_route.get(a.detector, 0) + 1
        return {
            "files": self.files,
            "scenario": self.labels.scenario if self.labels else None,
            "seed": self.labels.seed if self.labels else None,
            "start": iso_or_none(self.start_s),
            "end": iso_or_none(self.end_s),
            "feature_points": len(self.points.key),
            "series": len(set(self.points.key.tolist())),
            "alerts_fired_by_route": by_route,
            "alert_load": self.alert_load().as_dict(),
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
        cfg = cfg.with_changes(MethodologyChange.from_labels(labels))
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
        keys = sorted({k.decode() for k in np.unique(points.key)})
        scored = scored_series(keys, labels.windows)
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


def parse_levels(values: Sequence[str]) -> dict[str, float]:
    """``SERIES=LEVEL`` texts (``--lead-level``) as ``{series: level}``; an
    :class:`~streams.offline.InputError` for any other text.

    >>> parse_levels(["vessels_waiting|P=40", "dwell_truck_p90|P=9.5"])
    {'vessels_waiting|P': 40.0, 'dwell_truck_p90|P': 9.5}
    """
    out: dict[str, float] = {}
    for v in values:
        series, sep, level = v.rpartition("=")
        try:
            out[series] = float(level)
        except ValueError:
            raise InputError(f"{v!r}: want SERIES=LEVEL", "--lead-level") from None
        if not sep or not series:
            raise InputError(f"{v!r}: want SERIES=LEVEL", "--lead-level")
    return out


def simulate_feeds(
    out: Path,
    scenario: str,
    seed: int = 0,
    start: str | None = None,
    end: str | None = None,
    ports: int = 5,
) -> list[Path]:
    """Simulate ``scenario`` into ``out`` (labels.json and, for ``random``, geography.yaml
    beside the feeds) and return its feed files; ``ValueError`` for an unknown scenario
    or bad option."""
    from streams.tools.simulator import ScenarioOptions, simulate

    simulate(out, scenario, ScenarioOptions(seed=seed, start=start, end=end, ports=ports))
    return [out / f for f in FEED_FILES if (out / f).exists()]


def backtest_feeds(
    paths: Sequence[Path],
    labels_path: Path | None = None,
    geography: Path | None = None,
    levels: Mapping[str, float] | None = None,
    monthly_data: Path | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """What ``berthwatch backtest FEED...`` runs: labels from ``labels_path`` or a
    ``labels.json`` beside the first feed, the geography from :func:`geography_for`,
    leads before ``levels`` (for the San Pedro Bay scenario, :data:`SPB_LEVEL` unless
    given), and the monthly real-data report when ``monthly_data`` is given."""
    if labels_path is None:
        cand = paths[0].parent / "labels.json"
        labels_path = cand if cand.exists() else None
    labels = load_labels(labels_path) if labels_path is not None else None
    if labels is not None and labels.scenario == "san-pedro-bay-2021" and not levels:
        levels = {SPB_LEVEL[0]: SPB_LEVEL[1]}
    geo = geography_for(paths, geography)
    result = run_backtest(
        paths,
        labels,
        geography=geo,
        config=PipelineConfig.from_geography(geo),
        level_leads=levels,
        progress=progress,
    )
    if monthly_data is not None:
        result.monthly = monthly_report(monthly_data)
    return result
