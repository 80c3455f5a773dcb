"""NAB window scoring of alert onsets against labelled anomaly runs (pure numpy).

The scoring of the Numenta Anomaly Benchmark, as published detectors are
compared on it, applied to labelled *runs* ``[start, end]``:

* **windows**: per series of ``n`` points with ``k`` labelled runs, each run
  is widened to ``int(window_fraction * n / k)`` points (NAB: 10% of the
  series shared by its anomalies), centred on the run and never shorter than
  it, clipped to the series; overlapping windows are merged. Points are
  counted by index, as NAB does;
* **probation**: the first ``min(floor(0.15 n), 750)`` points are not scored
  (NAB's probationary period): detections there are ignored and windows that
  start there are dropped;
* **detections** are alert onsets, the points where the alert turns on;
* the first detection inside a window earns ``A_TP * S(p) / S(-1)`` with
  ``p = -(right - i + 1) / width`` (``-1`` at the window's first point, just
  below 0 at its last) and NAB's scaled sigmoid ``S(p) = 2 / (1 + exp(5 p)) - 1``
  (``-1`` from ``p >= 3`` on); later detections in the same window count nothing;
* a detection outside every window costs ``A_FP`` before the first window, and
  ``-A_FP * S(p)`` with ``p = (i - right) / (width - 1)`` of the window before it
  otherwise, so a detection just after a window costs little and one a window's
  width later almost the whole ``A_FP``;
* a window without a detection costs ``A_FN``.

Over a set of series the raw sums are normalised so that a detector that
never fires scores 0 and one that fires at the first point of every window,
and nowhere else, scores 100: ``100 * (raw - null) / (perfect - null)`` with
``null = -A_FN * windows`` and ``perfect = A_TP * windows`` (sums over all
series first).

Two differences from NAB's code, both where it is ill-defined: overlapping
windows are merged transitively (NAB's loop can leave a third window
overlapping a merged pair), and a detection after a one-point window costs
the whole ``A_FP`` (NAB divides by ``width - 1 = 0``).

>>> t = np.arange(1000) * 3600.0
>>> runs = [(600 * 3600.0, 609 * 3600.0)]          # one run of 10 points
>>> alert = np.zeros(1000, dtype=bool)
>>> windows(t, runs)                                # 100 points centred on the run
[(555, 654)]
>>> alert[560:570] = True                           # one onset, early in the window
>>> alert[900] = True                               # a false positive far after it
>>> s = score_series(t, alert, runs, STANDARD)
>>> (s.hits, s.misses, s.false_positives), round(s.raw, 3)
((1, 0, 1), 0.886)
>>> round(normalized([s]), 1)
94.3
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

#: NAB's window size: the share of a series' points given to its anomaly windows
WINDOW_FRACTION = 0.10
#: NAB's probationary period: this share of the points, at most ``PROBATION_MAX`` points
PROBATION_FRACTION = 0.15
PROBATION_MAX = 750


@dataclass(frozen=True)
class Profile:
    """NAB's weights of a true positive, a false positive and a false negative."""

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


STANDARD = Profile("standard", 1.0, 0.11, 1.0)
REWARD_LOW_FP = Profile("reward_low_FP", 1.0, 0.22, 1.0)
REWARD_LOW_FN = Profile("reward_low_FN", 1.0, 0.11, 2.0)
PROFILES: dict[str, Profile] = {p.name: p for p in (STANDARD, REWARD_LOW_FP, REWARD_LOW_FN)}


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: ``2 / (1 + exp(5 p)) - 1``, and ``-1`` from ``p >= 3`` on.

    >>> [round(scaled_sigmoid(p), 5) for p in (-1.0, -0.5, 0.0, 1.0, 3.0)]
    [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probation_length(n: int) -> int:
    """Points at the start of a series of ``n`` points that are not scored.

    >>> probation_length(1000), probation_length(100_000)
    (150, 750)
    """
    return int(min(math.floor(PROBATION_FRACTION * n), PROBATION_FRACTION * 5000))


def windows(
    ts: F64, runs: Sequence[tuple[float, float]], window_fraction: float = WINDOW_FRACTION
) -> list[tuple[int, int]]:
    """Scored windows as inclusive index pairs: widened, centred, merged, past probation.

    Runs are ``(start, end)`` times; a run with no point of ``ts`` in it is ignored.

    >>> t = np.arange(200.0)
    >>> # 5-point windows; the first starts in the 30 points of probation, the next two overlap
    >>> windows(t, [(10.0, 12.0), (50.0, 52.0), (55.0, 55.0), (150.0, 199.0)])
    [(49, 57), (150, 199)]
    """
    n = len(ts)
    idx = []
    for start, end in runs:
        i0 = int(np.searchsorted(ts, start, "left"))
        i1 = int(np.searchsorted(ts, end, "right")) - 1
        if i0 <= i1:
            idx.append((i0, i1))
    if not idx:
        return []
    length = int(window_fraction * n / len(idx))
    wide = []
    for i0, i1 in sorted(idx):
        pad = max(length - (i1 - i0 + 1), 0) // 2
        wide.append((max(i0 - pad, 0), min(i1 + pad, n - 1)))
    merged: list[tuple[int, int]] = []
    for f, b in wide:
        if merged and f <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((f, b))
    first = probation_length(n)
    return [w for w in merged if w[0] >= first]


def onsets(alert: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Indices where the alert turns on.

    >>> onsets(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)).tolist()
    [0, 3, 6]
    """
    a = np.asarray(alert, dtype=bool)
    on = a.copy()
    on[1:] &= ~a[:-1]
    return np.flatnonzero(on)


@dataclass(frozen=True)
class SeriesWindowScore:
    """One series under one profile: counts and the raw, null and perfect sums."""

    windows: int
    hits: int
    misses: int
    false_positives: int
    raw: float
    null: float
    perfect: float


def score_series(
    ts: F64,
    alert: NDArray[np.bool_],
    runs: Sequence[tuple[float, float]],
    profile: Profile = STANDARD,
    window_fraction: float = WINDOW_FRACTION,
) -> SeriesWindowScore:
    """Score one series' per-point alerts (rules in the module doc).

    Earlier is better, a false positive costs, a miss costs more:

    >>> t = np.arange(1000.0)
    >>> runs = [(600.0, 609.0)]                      # window 555..654
    >>> def raw(*points: int) -> float:
    ...     a = np.zeros(1000, dtype=bool); a[list(points)] = True
    ...     return round(score_series(t, a, runs).raw, 4)
    >>> raw(555), raw(600), raw(654), raw(), raw(300), raw(600, 300)
    (1.0, 0.8918, 0.0253, -1.0, -1.11, 0.7818)
    """
    wins = windows(ts, runs, window_fraction)
    first = probation_length(len(ts))
    det = onsets(alert)
    det = det[det >= first]
    best = [-profile.a_fn] * len(wins)
    hit = [False] * len(wins)
    fp_cost, n_fp = 0.0, 0
    rights = np.array([b for _, b in wins], dtype=np.int64)
    for i in det.tolist():
        j = int(np.searchsorted(rights, i, "left"))  # first window ending at or after i
        if j < len(wins) and wins[j][0] <= i:
            f, b = wins[j]
            pos = -(b - i + 1) / (b - f + 1)
            best[j] = max(best[j], profile.a_tp * scaled_sigmoid(pos) / MAX_TP)
            hit[j] = True
            continue
        n_fp += 1
        if j == 0:
            fp_cost -= profile.a_fp
        else:
            f, b = wins[j - 1]
            pos = (i - b) / (b - f) if b > f else 3.0
            fp_cost += profile.a_fp * scaled_sigmoid(pos)
    n_hit = sum(hit)
    return SeriesWindowScore(
        windows=len(wins),
        hits=n_hit,
        misses=len(wins) - n_hit,
        false_positives=n_fp,
        raw=sum(best) + fp_cost,
        null=-profile.a_fn * len(wins),
        perfect=profile.a_tp * len(wins),
    )


def normalized(scores: Sequence[SeriesWindowScore]) -> float:
    """``100 * (raw - null) / (perfect - null)`` over a set of series (sums first);
    NaN when the set has no window."""
    raw = sum(s.raw for s in scores)
    null = sum(s.null for s in scores)
    perfect = sum(s.perfect for s in scores)
    return 100.0 * (raw - null) / (perfect - null) if perfect > null else math.nan


def score_profiles(
    series: Sequence[tuple[F64, NDArray[np.bool_], Sequence[tuple[float, float]]]],
    profiles: Sequence[Profile] = tuple(PROFILES.values()),
) -> dict[str, float]:
    """Normalised score per profile of ``(ts, alert, runs)`` triples.

    >>> t = np.arange(1000.0)
    >>> a = np.zeros(1000, dtype=bool); a[[555, 300]] = True
    >>> {k: round(v, 2) for k, v in score_profiles([(t, a, [(600.0, 609.0)])]).items()}
    {'standard': 94.5, 'reward_low_FP': 89.0, 'reward_low_FN': 96.33}
    """
    return {p.name: normalized([score_series(t, a, r, p) for t, a, r in series]) for p in profiles}
