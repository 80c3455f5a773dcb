"""Detection quality against labelled anomaly windows (the work of ``berthwatch evaluate``).

Everything here is plain Python and numpy, callable without click:

* :func:`find_series` and :func:`split_of` find the CSV files and assign every
  file to the *tuning* or the *held-out* half by a fixed rule (the labelled
  windows are read by :func:`streams.labels.load_benchmark_labels`);
* :func:`run_detector` scores one series with one detector through
  :func:`streams.offline.detect.score_rows`, the code path of
  ``berthwatch detect``; :func:`rolling_z` computes the two baselines;
* :func:`score_series` compares per-point alerts with the windows, and
  :func:`summarize` pools those counts into the scoreboard figures;
  :func:`nab_halves` scores the same alerts by the window scoring of public
  streaming benchmarks (:mod:`streams.offline.window_score`, NAB's three profiles);
* :func:`evaluate` does all of that for a folder and returns a :class:`Report`;
  :func:`plan_evaluation` checks a command's inputs first.

The scoreboard page, plots and JSON are :mod:`streams.reports.evaluation`.

The scoring rules (see ``docs/QUALITY.md``):

* an alert **episode** is a run of alerting points; runs separated by fewer
  than ``EPISODE_GAP_STEPS`` median steps are one episode, and it is counted
  at its **onset** (its first point);
* a window ``[start, end]`` (inclusive) is **detected** by the first onset in
  ``[start - tolerance, end]`` with ``tolerance = TOLERANCE_STEPS`` median
  steps; its **lateness** is ``max(0, onset - start) / (end - start + step)``
  (0 = at or before the start, towards 1 = at the very end), and it earns the
  earliness credit ``1 - lateness / 2`` (1 for an on-time alert, 0.5 for one
  at the last point);
* an onset inside no ``[start - tolerance, end]`` is a **false alarm**;
* pooled over a set of series with ``W`` windows, ``D`` of them detected with
  credits summing to ``C``, and ``F`` false alarms: earliness-weighted recall
  ``R = C / W``, precision ``P = D / (D + F)``, and the summary score is their
  harmonic mean ``2 P R / (P + R)``.

Beside that F-score, every entry carries the NAB scores of the same alert columns
(detections are alert onsets), normalised per half over the half's series. A
baseline's threshold is chosen twice on the tuning half: by the F-score for the
F-score figures (:attr:`Entry.threshold`) and by NAB standard for the NAB figures
(:attr:`Entry.nab_threshold`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors import DETECTORS
from streams.detection import PipelineConfig
from streams.labels import load_benchmark_labels
from streams.offline import InputError
from streams.offline import window_score as ws
from streams.offline.detect import check_detector, open_table, score_rows
from streams.times import DAY, parse_timestamp

F64 = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: onsets up to this many median steps before a window's start still detect it
TOLERANCE_STEPS = 3
#: alert runs closer than this many median steps form one episode
EPISODE_GAP_STEPS = 3
#: points in the trailing window of the two baselines (the current point is excluded)
BASELINE_WINDOW = 48
#: thresholds tried for each baseline on the tuning half
BASELINE_THRESHOLDS = tuple(float(x) for x in np.arange(2.0, 20.01, 0.5))
#: the two halves
TUNING, HELD_OUT = "tuning", "held-out"
#: the detector whose held-out score must beat the baselines
DEFAULT_DETECTOR = "changes"
#: the NAB profile that chooses a baseline's NAB threshold and the ratio against baselines
NAB_MAIN = ws.STANDARD.name
SECONDS_PER_WEEK = 7 * DAY


# --- data -------------------------------------------------------------------------
@dataclass
class Series:
    """One labelled series: ``name`` is its path relative to the folder, with ``/``."""

    name: str
    path: Path
    ts: F64
    value: F64
    windows: list[tuple[float, float]]

    @property
    def step(self) -> float:
        """Median time between points (seconds); 1 for fewer than two points."""
        if len(self.ts) < 2:
            return 1.0
        return float(np.median(np.diff(self.ts)))

    @property
    def weeks(self) -> float:
        """Span of the series in weeks, counting one step for the last point."""
        if len(self.ts) == 0:
            return 0.0
        return float(self.ts[-1] - self.ts[0] + self.step) / SECONDS_PER_WEEK


def find_series(folder: Path) -> list[str]:
    """Relative paths (``/``-separated, sorted) of every ``*.csv`` under ``folder``."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.csv") if p.is_file())


def read_series(folder: Path, name: str, windows: list[tuple[float, float]]) -> Series:
    """Read ``timestamp,value`` rows (sorted by time, as ``detect`` reads them)."""
    path = folder / name
    ts: list[float] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = fh.readline().strip().split(",")
        it, iv = header.index("timestamp"), header.index("value")
        for line in fh:
            parts = line.rstrip("\r\n").split(",")
            if len(parts) <= max(it, iv):
                continue
            ts.append(parse_timestamp(parts[it]))
            v = parts[iv].strip()
            values.append(float(v) if v and v.lower() not in ("nan", "na", "null") else math.nan)
    return Series(name, path, np.array(ts), np.array(values), windows)


def split_of(name: str, folder_members: Sequence[str]) -> str:
    """The half a series belongs to: within its folder, sorted by name, the 1st, 3rd, 5th, ...
    file is tuning and the 2nd, 4th, ... is held-out.

    >>> files = ["a/x1.csv", "a/x2.csv", "a/x3.csv", "b/y1.csv"]
    >>> [split_of(f, files) for f in files]
    ['tuning', 'held-out', 'tuning', 'tuning']
    """
    parent = name.rsplit("/", 1)[0] if "/" in name else ""
    same = sorted(f for f in folder_members if (f.rsplit("/", 1)[0] if "/" in f else "") == parent)
    return TUNING if same.index(name) % 2 == 0 else HELD_OUT


def split_all(names: Sequence[str]) -> dict[str, str]:
    """:func:`split_of` for every name."""
    return {n: split_of(n, names) for n in names}


def fingerprint(names: Iterable[str]) -> str:
    """Short hash of a list of names, to tell two runs' series sets apart."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:12]


# --- alerts --------------------------------------------------------------------------
def episode_onsets(ts: F64, alert: BoolArray, gap: float) -> F64:
    """Times of alert-episode onsets: alerting points whose previous alerting point
    is ``gap`` seconds or more earlier (or that have none).

    >>> t = np.arange(10) * 60.0
    >>> a = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 1], dtype=bool)
    >>> episode_onsets(t, a, gap=180.0).tolist()
    [60.0, 480.0]
    """
    at = ts[np.asarray(alert, dtype=bool)]
    if len(at) == 0:
        return at
    new = np.ones(len(at), dtype=bool)
    new[1:] = np.diff(at) >= gap
    return at[new]


@dataclass
class SeriesScore:
    """Counts for one series and one detector."""

    series: str
    n_points: int
    weeks: float
    n_windows: int
    detected: int
    credit: float  # sum of earliness credits of detected windows
    false_alarms: int
    onsets: int
    lateness: list[float] = field(default_factory=list)  # per detected window, in [0, 1)
    first_alert: list[float | None] = field(default_factory=list)  # per window, epoch s


def score_series(
    name: str,
    ts: F64,
    alert: BoolArray,
    windows: Sequence[tuple[float, float]],
    step: float,
    tolerance_steps: float = TOLERANCE_STEPS,
    episode_gap_steps: float = EPISODE_GAP_STEPS,
) -> SeriesScore:
    """Compare one series' per-point alerts with its labelled windows (rules in the module doc).

    One window of four hourly points, hit at its second point; a false alarm
    far before it:

    >>> t = np.arange(20) * 3600.0
    >>> a = np.zeros(20, dtype=bool); a[[2, 11, 12]] = True
    >>> s = score_series("x", t, a, [(10 * 3600.0, 13 * 3600.0)], step=3600.0)
    >>> s.detected, s.lateness, s.credit, s.false_alarms
    (1, [0.25], 0.875, 1)
    """
    tol = tolerance_steps * step
    onsets = episode_onsets(ts, alert, episode_gap_steps * step)
    matched = np.zeros(len(onsets), dtype=bool)
    detected, credit = 0, 0.0
    lateness: list[float] = []
    first: list[float | None] = []
    for start, end in windows:
        inside = (onsets >= start - tol) & (onsets <= end)
        matched |= inside
        if not inside.any():
            first.append(None)
            continue
        t0 = float(onsets[np.argmax(inside)])
        late = max(0.0, t0 - start) / (end - start + step)
        detected += 1
        credit += 1.0 - late / 2.0
        lateness.append(late)
        first.append(t0)
    return SeriesScore(
        series=name,
        n_points=len(ts),
        weeks=float(ts[-1] - ts[0] + step) / SECONDS_PER_WEEK if len(ts) else 0.0,
        n_windows=len(windows),
        detected=detected,
        credit=credit,
        false_alarms=int((~matched).sum()),
        onsets=len(onsets),
        lateness=lateness,
        first_alert=first,
    )


@dataclass
class Summary:
    """Pooled figures for one detector over a set of series."""

    n_series: int
    n_points: int
    weeks: float
    windows: int
    detected: int
    false_alarms: int
    recall: float  # detected / windows
    mean_lateness: float  # over detected windows (NaN if none)
    weighted_recall: float  # sum of earliness credits / windows
    precision: float  # detected / (detected + false alarms)
    false_per_1k_points: float
    false_per_series_week: float
    score: float  # harmonic mean of weighted_recall and precision


def summarize(scores: Sequence[SeriesScore]) -> Summary:
    """Pool per-series counts (sums first, then ratios).

    >>> a = SeriesScore("a", 1000, 1.0, 2, 1, 0.75, 1, 2, [0.5])
    >>> b = SeriesScore("b", 1000, 1.0, 2, 2, 2.0, 0, 2, [0.0, 0.0])
    >>> s = summarize([a, b])
    >>> s.weighted_recall, s.precision, round(s.score, 4), s.false_per_1k_points
    (0.6875, 0.75, 0.7174, 0.5)
    """
    n_points = sum(s.n_points for s in scores)
    weeks = sum(s.weeks for s in scores)
    windows = sum(s.n_windows for s in scores)
    detected = sum(s.detected for s in scores)
    false = sum(s.false_alarms for s in scores)
    credit = sum(s.credit for s in scores)
    late = [x for s in scores for x in s.lateness]
    recall = detected / windows if windows else 0.0
    wrecall = credit / windows if windows else 0.0
    precision = detected / (detected + false) if detected + false else 0.0
    score = 2 * precision * wrecall / (precision + wrecall) if precision + wrecall > 0 else 0.0
    return Summary(
        n_series=len(scores),
        n_points=n_points,
        weeks=weeks,
        windows=windows,
        detected=detected,
        false_alarms=false,
        recall=recall,
        mean_lateness=float(np.mean(late)) if late else math.nan,
        weighted_recall=wrecall,
        precision=precision,
        false_per_1k_points=1000.0 * false / n_points if n_points else 0.0,
        false_per_series_week=false / weeks if weeks else 0.0,
        score=score,
    )


# --- scoring the series --------------------------------------------------------------
@dataclass
class Scoring:
    """Per-point score and alert of one detector (or baseline) on one series."""

    score: F64
    alert: BoolArray


def run_detector(series: Series, detector: str) -> Scoring:
    """Score a series with ``detector`` exactly as ``berthwatch detect FILE --detector NAME``."""
    with open_table(series.path) as fh:
        scored = score_rows(fh, detector)
    score = np.fromiter((float(r["score"]) for r in scored.rows), np.float64, len(scored.rows))
    alert = np.fromiter((int(r["alert"]) > 0 for r in scored.rows), bool, len(scored.rows))
    return Scoring(score, alert)


#: the entry of the service's own detection: its ``changes`` route as the streaming
#: pipeline runs it on a port's queue, waits and dwell (day scale, the route's policy with
#: its 30-day quiet period; every kind of change counts, the series having no family)
SERVICE = "service"


def run_service(series: Series, config: PipelineConfig | None = None) -> Scoring:
    """Score a series with the pipeline's ``changes`` route: its detector and its policy
    from :class:`~streams.detection.PipelineConfig` (the defaults the workers run)."""
    cfg = config or PipelineConfig()
    det = cfg.change_detector()
    policy = cfg.policies["changes"].build("changes")
    rows = np.zeros(len(series.ts), dtype=np.int64)
    res = det.update(rows, series.ts, series.value)
    decided = policy.evaluate(rows, series.ts, res.score, value=series.value, result=res)
    return Scoring(res.score, decided.alert > 0)


def rolling_z(value: F64, window: int = BASELINE_WINDOW, robust: bool = False) -> F64:
    """``|x - centre| / scale`` against the previous ``window`` points (0 before that).

    ``centre, scale`` are mean and standard deviation, or (``robust``) median and
    ``1.4826 * MAD``; the scale is floored at ``max(1e-6, 0.01 * |centre|)`` as in the
    detectors, so flat stretches do not turn rounding into alarms. NaN values give 0.

    >>> v = np.array([1.0, 2.0, 1.0, 2.0, 9.0])
    >>> rolling_z(v, window=4).round(3).tolist()
    [0.0, 0.0, 0.0, 0.0, 15.0]
    >>> rolling_z(v, window=4, robust=True).round(3).tolist()
    [0.0, 0.0, 0.0, 0.0, 10.117]
    """
    n = len(value)
    z = np.zeros(n)
    if n <= window:
        return z
    past = np.lib.stride_tricks.sliding_window_view(value[:-1], window)  # rows: points window..n-1
    with np.errstate(all="ignore"):
        if robust:
            centre = np.nanmedian(past, axis=1)
            scale = 1.4826 * np.nanmedian(np.abs(past - centre[:, None]), axis=1)
        else:
            centre = np.nanmean(past, axis=1)
            scale = np.nanstd(past, axis=1)
        floor = np.maximum(1e-6, 0.01 * np.abs(centre))
        zz = np.abs(value[window:] - centre) / np.maximum(scale, floor)
    z[window:] = np.where(np.isfinite(zz), zz, 0.0)
    return z


BASELINES: dict[str, Callable[[F64], F64]] = {
    "baseline-zscore": lambda v: rolling_z(v, BASELINE_WINDOW, robust=False),
    "baseline-mad": lambda v: rolling_z(v, BASELINE_WINDOW, robust=True),
}


# --- window scoring (NAB) ----------------------------------------------------------
def nab_scores(
    series: Sequence[Series], alerts: dict[str, BoolArray], profiles: Sequence[ws.Profile]
) -> dict[str, float]:
    """Normalised NAB score per profile of ``alerts`` (series name -> per-point alert)
    on ``series``, summed over them first (:func:`window_score.score_profiles`)."""
    return ws.score_profiles([(s.ts, alerts[s.name], s.windows) for s in series], profiles)


def nab_halves(
    series: Sequence[Series], alerts: dict[str, BoolArray], split: dict[str, str]
) -> dict[str, dict[str, float]]:
    """NAB score of every profile on each half: half -> profile -> score."""
    profiles = tuple(ws.PROFILES.values())
    return {
        h: nab_scores([s for s in series if split[s.name] == h], alerts, profiles)
        for h in (TUNING, HELD_OUT)
    }


def choose_threshold(
    scores: dict[str, F64],
    thresholds: Sequence[float],
    objective: Callable[[dict[str, BoolArray]], float],
) -> float:
    """The first of ``thresholds`` whose alerts ``scores >= threshold`` maximise
    ``objective`` (NaN never wins; the first threshold if nothing is finite).

    >>> z = {"a": np.array([1.0, 5.0, 9.0])}
    >>> choose_threshold(z, [2.0, 6.0, 10.0], lambda a: -abs(int(a["a"].sum()) - 1))
    6.0
    """
    best_thr, best = thresholds[0], -math.inf
    for thr in thresholds:
        got = objective({n: z >= thr for n, z in scores.items()})
        if got > best:
            best_thr, best = thr, got
    return best_thr


# --- the whole run -------------------------------------------------------------------
@dataclass
class Entry:
    """One detector or baseline: per-series scores and the two halves' summaries."""

    name: str
    kind: str  # "detector" or "baseline"
    threshold: float | None  # baselines: the |z| threshold chosen on the tuning half (F-score)
    per_series: dict[str, SeriesScore]
    halves: dict[str, Summary]
    #: half -> NAB profile -> normalised score (0 never alerting, 100 perfect)
    nab: dict[str, dict[str, float]] = field(default_factory=dict)
    #: baselines: the |z| threshold of the NAB figures, chosen on the tuning half by NAB standard
    nab_threshold: float | None = None


@dataclass
class Report:
    """Everything ``evaluate`` found; ``scorings`` maps series -> entry -> its per-point
    scores and alerts (for the plots)."""

    series: list[Series]
    split: dict[str, str]
    entries: dict[str, Entry]
    default: str
    seconds: float = 0.0
    scorings: dict[str, dict[str, Scoring]] = field(default_factory=dict)

    def best_baseline(self, half: str = TUNING) -> Entry:
        """The baseline with the higher score on ``half``."""
        baselines = (e for e in self.entries.values() if e.kind == "baseline")
        return max(baselines, key=lambda e: e.halves[half].score)

    def ratio(self, half: str = HELD_OUT) -> float:
        """Default detector's score over the better baseline's, on ``half``."""
        best = self.best_baseline(half).halves[half].score
        d = self.entries.get(self.default)
        if d is None:
            return math.nan
        return d.halves[half].score / best if best > 0 else math.inf

    def best_nab_baseline(self, half: str = TUNING, profile: str = NAB_MAIN) -> Entry:
        """The baseline with the higher NAB ``profile`` score on ``half`` (NaN loses)."""
        baselines = (e for e in self.entries.values() if e.kind == "baseline")
        return max(baselines, key=lambda e: _or_low(e.nab[half][profile]))

    def nab_ratio(self, half: str = HELD_OUT, profile: str = NAB_MAIN) -> float:
        """Default detector's NAB ``profile`` score over the better baseline's, on ``half``
        (NaN without windows, infinite when the better baseline is not above 0)."""
        best = self.best_nab_baseline(half, profile).nab[half][profile]
        d = self.entries.get(self.default)
        if d is None or math.isnan(best):
            return math.nan
        return d.nab[half][profile] / best if best > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "rules": {
                "tolerance_steps": TOLERANCE_STEPS,
                "episode_gap_steps": EPISODE_GAP_STEPS,
                "baseline_window": BASELINE_WINDOW,
                "split": "per folder, sorted by name: 1st, 3rd, ... tuning; 2nd, 4th, ... held-out",
                "score": "2PR/(P+R), R = sum(1 - lateness/2) / windows, "
                "P = detected / (detected + false alarms)",
                "nab": "NAB window scoring of alert onsets, 100 (raw - null) / (perfect - null) "
                "summed over a half's series; profiles "
                + ", ".join(
                    f"{p.name} (A_TP {p.a_tp:g}, A_FP {p.a_fp:g}, A_FN {p.a_fn:g})"
                    for p in ws.PROFILES.values()
                )
                + f"; baselines' NAB threshold chosen on the tuning half by {NAB_MAIN}",
            },
            "default": self.default,
            "ratio_default_vs_best_baseline": {h: self.ratio(h) for h in (TUNING, HELD_OUT)},
            "nab_ratio_default_vs_best_baseline": {
                h: self.nab_ratio(h) for h in (TUNING, HELD_OUT)
            },
            "seconds": self.seconds,
            "split": self.split,
            "entries": {
                name: {
                    "kind": e.kind,
                    "threshold": e.threshold,
                    "halves": {h: asdict(s) for h, s in e.halves.items()},
                    "nab_threshold": e.nab_threshold,
                    "nab": e.nab,
                    "per_series": {k: asdict(v) for k, v in e.per_series.items()},
                }
                for name, e in self.entries.items()
            },
        }


def _or_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _halves(scores: dict[str, SeriesScore], split: dict[str, str]) -> dict[str, Summary]:
    return {
        h: summarize([s for n, s in scores.items() if split[n] == h]) for h in (TUNING, HELD_OUT)
    }


def evaluate(
    folder: Path,
    labels: dict[str, list[tuple[float, float]]],
    detectors: Sequence[str],
    default: str = DEFAULT_DETECTOR,
    progress: Callable[[str], None] | None = None,
    keep_scorings: bool = True,
    only: Sequence[str] | None = None,
) -> Report:
    """Run ``detectors`` and the baselines over every CSV under ``folder``.

    Series without an entry in ``labels`` count as anomaly-free. ``progress`` is
    called once per (detector or baseline, series) step with a short description.
    ``only`` restricts the run to some relative paths; the split is still decided
    on the whole folder, so a series is in the same half either way.
    """
    import time

    t0 = time.monotonic()
    everything = find_series(folder)
    split = split_all(everything)
    names = everything if only is None else [n for n in everything if n in set(only)]
    if not names:
        raise ValueError(f"no CSV files under {folder}")
    split = {n: split[n] for n in names}
    series = [read_series(folder, n, labels.get(n, [])) for n in names]
    steps = {s.name: s.step for s in series}
    entries: dict[str, Entry] = {}
    scorings: dict[str, dict[str, Scoring]] = {s.name: {} for s in series}

    def tick(text: str) -> None:
        if progress is not None:
            progress(text)

    def scored(alerts: dict[str, BoolArray]) -> dict[str, SeriesScore]:
        return {
            s.name: score_series(s.name, s.ts, alerts[s.name], s.windows, steps[s.name])
            for s in series
        }

    for det in [*detectors, SERVICE]:
        alerts: dict[str, BoolArray] = {}
        for s in series:
            tick(f"{det}: {s.name}")
            sc = run_service(s) if det == SERVICE else run_detector(s, det)
            alerts[s.name] = sc.alert
            if keep_scorings:
                scorings[s.name][det] = sc
        per = scored(alerts)
        entries[det] = Entry(
            det, "detector", None, per, _halves(per, split), nab_halves(series, alerts, split)
        )

    tuning = [s for s in series if split[s.name] == TUNING]

    def f_score(alerts: dict[str, BoolArray]) -> float:
        return summarize(
            [score_series(s.name, s.ts, alerts[s.name], s.windows, steps[s.name]) for s in tuning]
        ).score

    def nab_main(alerts: dict[str, BoolArray]) -> float:
        return nab_scores(tuning, alerts, [ws.PROFILES[NAB_MAIN]])[NAB_MAIN]

    for base, fn in BASELINES.items():
        zs: dict[str, F64] = {}
        for s in series:
            tick(f"{base}: {s.name}")
            zs[s.name] = fn(s.value)
        tuning_z = {s.name: zs[s.name] for s in tuning}
        best_thr = choose_threshold(tuning_z, BASELINE_THRESHOLDS, f_score)
        nab_thr = choose_threshold(tuning_z, BASELINE_THRESHOLDS, nab_main)
        per = scored({n: z >= best_thr for n, z in zs.items()})
        nab = nab_halves(series, {n: z >= nab_thr for n, z in zs.items()}, split)
        entries[base] = Entry(
            base, "baseline", best_thr, per, _halves(per, split), nab, nab_threshold=nab_thr
        )
        if keep_scorings:
            for s in series:
                z = zs[s.name]
                scorings[s.name][base] = Scoring(z / best_thr, z >= best_thr)
    return Report(
        series, split, entries, default, time.monotonic() - t0, scorings if keep_scorings else {}
    )


@dataclass
class EvaluationPlan:
    """A checked ``berthwatch evaluate`` run: its inputs and the steps it will report."""

    folder: Path
    labels: dict[str, list[tuple[float, float]]]
    detectors: list[str]
    default: str
    n_series: int

    @property
    def steps(self) -> int:
        """Calls of ``progress``: one per (detector or baseline, series)."""
        return self.n_series * (len(self.detectors) + 1 + len(BASELINES))

    def run(self, progress: Callable[[str], None] | None = None) -> Report:
        return evaluate(
            self.folder, self.labels, self.detectors, default=self.default, progress=progress
        )


def plan_evaluation(
    folder: Path, labels_path: Path, detectors: Sequence[str] = ()
) -> EvaluationPlan:
    """Check the inputs of an evaluation: known detectors (default: all), readable labels,
    CSV files in ``folder``; :class:`~streams.offline.InputError` naming the option at
    fault otherwise. The default detector is :data:`DEFAULT_DETECTOR` if it runs, else
    the first one."""
    for name in detectors:
        check_detector(name)
    try:
        labels = load_benchmark_labels(labels_path)
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise InputError(f"cannot read labels: {e}", "--labels") from None
    dets = list(detectors) or sorted(DETECTORS)
    default = DEFAULT_DETECTOR if DEFAULT_DETECTOR in dets else dets[0]
    n_series = len(find_series(folder))
    if n_series == 0:
        raise InputError(f"no CSV files under {folder}", "SERIES_DIR")
    return EvaluationPlan(folder, labels, dets, default, n_series)
