"""Detection quality against labelled anomaly windows (the logic behind ``berthwatch evaluate``).

Everything here is plain Python and numpy, callable without click:

* :func:`find_series`, :func:`load_labels`, :func:`split_of` find the CSV
  files, read the labelled windows and assign every file to the *tuning* or
  the *held-out* half by a fixed rule;
* :func:`run_detector` scores one series with one detector through
  :func:`streams.offline.detect.score_rows`, the code path of
  ``berthwatch detect``; :func:`rolling_z` computes the two baselines;
* :func:`score_series` compares per-point alerts with the windows, and
  :func:`summarize` pools those counts into the scoreboard figures;
* :func:`evaluate` does all of that for a folder and returns a :class:`Report`.

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
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.offline.detect import score_rows
from streams.times import parse_timestamp

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
DEFAULT_DETECTOR = "robust"
SECONDS_PER_WEEK = 7 * 86400.0


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


def load_labels(path: Path) -> dict[str, list[tuple[float, float]]]:
    """``{"relative/path.csv": [[start, end], ...]}`` with times as in the CSVs -> epoch seconds.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "labels.json"
    ...     _ = p.write_text('{"a/x.csv": [["1970-01-01 01:00:00", "1970-01-01 02:00:00"]]}')
    ...     load_labels(p)
    {'a/x.csv': [(3600.0, 7200.0)]}
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("labels must be a JSON object: file -> [[start, end], ...]")
    out: dict[str, list[tuple[float, float]]] = {}
    for name, wins in raw.items():
        pairs = []
        for w in wins:
            start, end = parse_timestamp(str(w[0])), parse_timestamp(str(w[1]))
            if end < start:
                raise ValueError(f"{name}: window ends before it starts: {w}")
            pairs.append((start, end))
        out[str(name)] = sorted(pairs)
    return out


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
    with series.path.open(newline="", encoding="utf-8-sig") as fh:
        scored = score_rows(fh, detector)
    score = np.fromiter((float(r["score"]) for r in scored.rows), np.float64, len(scored.rows))
    alert = np.fromiter((int(r["alert"]) > 0 for r in scored.rows), bool, len(scored.rows))
    return Scoring(score, alert)


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


# --- the whole run -------------------------------------------------------------------
@dataclass
class Entry:
    """One detector or baseline: per-series scores and the two halves' summaries."""

    name: str
    kind: str  # "detector" or "baseline"
    threshold: float | None  # baselines: the |z| threshold chosen on the tuning half
    per_series: dict[str, SeriesScore]
    halves: dict[str, Summary]


@dataclass
class Report:
    """Everything ``evaluate`` found; ``plots`` maps series -> scorings shown in the plot."""

    series: list[Series]
    split: dict[str, str]
    entries: dict[str, Entry]
    default: str
    seconds: float = 0.0
    scorings: dict[str, dict[str, Scoring]] = field(default_factory=dict)

    def ratio(self, half: str = HELD_OUT) -> float:
        """Default detector's score over the better baseline's, on ``half``."""
        best = max(e.halves[half].score for e in self.entries.values() if e.kind == "baseline")
        d = self.entries.get(self.default)
        if d is None:
            return math.nan
        return d.halves[half].score / best if best > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "rules": {
                "tolerance_steps": TOLERANCE_STEPS,
                "episode_gap_steps": EPISODE_GAP_STEPS,
                "baseline_window": BASELINE_WINDOW,
                "split": "per folder, sorted by name: 1st, 3rd, ... tuning; 2nd, 4th, ... held-out",
                "score": "2PR/(P+R), R = sum(1 - lateness/2) / windows, "
                "P = detected / (detected + false alarms)",
            },
            "default": self.default,
            "ratio_default_vs_best_baseline": {h: self.ratio(h) for h in (TUNING, HELD_OUT)},
            "seconds": self.seconds,
            "split": self.split,
            "entries": {
                name: {
                    "kind": e.kind,
                    "threshold": e.threshold,
                    "halves": {h: asdict(s) for h, s in e.halves.items()},
                    "per_series": {k: asdict(v) for k, v in e.per_series.items()},
                }
                for name, e in self.entries.items()
            },
        }


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

    for det in detectors:
        per: dict[str, SeriesScore] = {}
        for s in series:
            tick(f"{det}: {s.name}")
            sc = run_detector(s, det)
            per[s.name] = score_series(s.name, s.ts, sc.alert, s.windows, steps[s.name])
            if keep_scorings:
                scorings[s.name][det] = sc
        entries[det] = Entry(det, "detector", None, per, _halves(per, split))

    for base, fn in BASELINES.items():
        zs: dict[str, F64] = {}
        for s in series:
            tick(f"{base}: {s.name}")
            zs[s.name] = fn(s.value)
        tuning = [s for s in series if split[s.name] == TUNING]
        best_thr, best = BASELINE_THRESHOLDS[0], -1.0
        for thr in BASELINE_THRESHOLDS:
            got = summarize(
                [
                    score_series(s.name, s.ts, zs[s.name] >= thr, s.windows, steps[s.name])
                    for s in tuning
                ]
            ).score
            if got > best:
                best_thr, best = thr, got
        per = {
            s.name: score_series(s.name, s.ts, zs[s.name] >= best_thr, s.windows, steps[s.name])
            for s in series
        }
        entries[base] = Entry(base, "baseline", best_thr, per, _halves(per, split))
        if keep_scorings:
            for s in series:
                z = zs[s.name]
                scorings[s.name][base] = Scoring(z / best_thr, z >= best_thr)
    return Report(
        series, split, entries, default, time.monotonic() - t0, scorings if keep_scorings else {}
    )


# --- outputs ------------------------------------------------------------------------
def write_json(report: Report, path: Path) -> None:
    """The whole report as JSON (NaN written as null)."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    path.write_text(json.dumps(clean(report.as_dict()), indent=1, sort_keys=True), "utf-8")


def plot_series(report: Report, s: Series, path: Path, shown: Sequence[str]) -> None:
    """One PNG: values with labelled windows shaded and alert onsets marked (top, one row
    of markers per entry), and the scores of ``shown`` (bottom; baselines as
    ``|z| / threshold`` capped at 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = (s.ts - s.ts[0]) / 86400.0 if len(s.ts) else s.ts
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True, height_ratios=[3, 2])
    ax.plot(days, s.value, lw=0.6, color="#333333")
    for start, end in s.windows:
        for a in (ax, bx):
            a.axvspan(
                (start - s.ts[0]) / 86400.0,
                (end - s.ts[0]) / 86400.0,
                color="#f4a261",
                alpha=0.35,
                lw=0,
            )
    colors = ["#d62828", "#1d3557", "#2a9d8f", "#9b5de5"]
    scorings = report.scorings.get(s.name, {})
    for j, name in enumerate(shown):
        sc = scorings.get(name)
        if sc is None:
            continue
        c = colors[j % len(colors)]
        onsets = episode_onsets(s.ts, sc.alert, EPISODE_GAP_STEPS * s.step)
        x = (onsets - s.ts[0]) / 86400.0
        # one row of markers per entry along the top, so coinciding onsets stay visible
        ax.plot(
            x,
            np.full(len(x), 0.96 - 0.07 * j),
            "v",
            ms=5,
            color=c,
            transform=ax.get_xaxis_transform(),
            label=f"{name} alert onsets",
        )
        bx.plot(days, np.minimum(sc.score, 1.0), lw=0.6, color=c, label=name)
    bx.axhline(0.8, color="#999999", lw=0.5, ls="--")
    ax.set_title(f"{s.name} ({report.split[s.name]})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.86))
    bx.legend(fontsize=7, loc="upper left")
    bx.set_xlabel("days since first point")
    bx.set_ylim(0, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if isinstance(x, float) and math.isnan(x) else f"{x:.{digits}f}"


def scoreboard_rows(report: Report) -> list[list[str]]:
    """Rows of the scoreboard: entry, threshold, then per half score / R_e / P / hits /
    false alarms per 1k points and per series-week / mean lateness."""
    rows = []
    for name, e in report.entries.items():
        row = [name + (" (default)" if name == report.default else ""), e.kind]
        row.append("-" if e.threshold is None else f"{e.threshold:g}")
        for h in (TUNING, HELD_OUT):
            s = e.halves[h]
            row += [
                _fmt(s.score),
                _fmt(s.weighted_recall),
                _fmt(s.precision),
                f"{s.detected}/{s.windows}",
                _fmt(s.false_per_1k_points, 2),
                _fmt(s.false_per_series_week, 2),
                _fmt(s.mean_lateness, 2),
            ]
        rows.append(row)
    return rows


def console_rows(report: Report) -> list[list[str]]:
    """A narrower scoreboard for the terminal: both halves' scores, then held-out details."""
    rows = []
    for name, e in report.entries.items():
        t, h = e.halves[TUNING], e.halves[HELD_OUT]
        rows.append(
            [
                name + (" *" if name == report.default else ""),
                "-" if e.threshold is None else f"{e.threshold:g}",
                _fmt(t.score),
                _fmt(h.score),
                _fmt(h.weighted_recall),
                _fmt(h.precision),
                f"{h.detected}/{h.windows}",
                _fmt(h.false_per_1k_points, 2),
                _fmt(h.false_per_series_week, 2),
                _fmt(h.mean_lateness, 2),
            ]
        )
    return rows


CONSOLE_HEADER = ["entry", "thr", "tuning", "held-out", "R_e", "P", "hit", "FA/1k", "FA/wk", "late"]

SCOREBOARD_HEADER = ["entry", "kind", "thr"] + [
    f"{h} {c}"
    for h in (TUNING, HELD_OUT)
    for c in ("score", "R_e", "P", "hit", "FA/1k", "FA/wk", "late")
]


def write_html(report: Report, folder: Path, shown: Sequence[str]) -> Path:
    """``index.html`` with the scoreboard and one linked PNG per series under ``plots/``."""
    import html

    plots = folder / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>berthwatch evaluation</title>",
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}"
        "img{max-width:100%}</style>",
        "<h1>Detection quality</h1>",
        f"<p>Default: <b>{html.escape(report.default)}</b>; held-out score over the better "
        f"baseline's: <b>{_fmt(report.ratio(HELD_OUT), 2)}</b> (tuning "
        f"{_fmt(report.ratio(TUNING), 2)}). {len(report.series)} series, "
        f"evaluation took {report.seconds:.0f} s.</p>",
        "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in SCOREBOARD_HEADER) + "</tr>",
    ]
    for row in scoreboard_rows(report):
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    parts.append("</table><h2>Series</h2>")
    for s in report.series:
        png = s.name.replace("/", "__").removesuffix(".csv") + ".png"
        plot_series(report, s, plots / png, shown)
        parts.append(f"<h3>{html.escape(s.name)}</h3><img src='plots/{html.escape(png)}'>")
    out = folder / "index.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
