"""NAB window scoring on small series, with the answers worked out by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from streams.offline.window_score import (
    PROFILES,
    REWARD_LOW_FN,
    REWARD_LOW_FP,
    STANDARD,
    normalized,
    onsets,
    probation_length,
    scaled_sigmoid,
    score_profiles,
    score_series,
    windows,
)

N = 1000  # probation: the first 150 points
T = np.arange(N, dtype=np.float64) * 3600.0
RUN = (600 * 3600.0, 609 * 3600.0)  # ten points; widened to 100: window 555..654


def alert(*points: int) -> np.ndarray:
    a = np.zeros(N, dtype=bool)
    a[list(points)] = True
    return a


def test_window_is_centred_on_the_run_and_never_shorter() -> None:
    assert windows(T, [RUN]) == [(555, 654)]
    # two runs share the 10%: 50 points each
    assert windows(T, [RUN, (800 * 3600.0, 801 * 3600.0)]) == [(580, 629), (776, 825)]
    # a run longer than its share keeps its own length
    long_run = (300 * 3600.0, 499 * 3600.0)
    assert windows(T, [long_run]) == [(300, 499)]


def test_windows_clip_merge_and_skip_probation() -> None:
    # at the end of the series the window is clipped
    assert windows(T, [(998 * 3600.0, 999 * 3600.0)]) == [(949, 999)]
    # overlapping windows merge, three in a chain into one
    runs = [
        (600 * 3600.0, 600 * 3600.0),
        (620 * 3600.0, 620 * 3600.0),
        (640 * 3600.0, 640 * 3600.0),
    ]
    assert windows(T, runs) == [(584, 656)]
    # a window starting in the probation period is dropped; runs between points are ignored
    assert windows(T, [(100 * 3600.0, 101 * 3600.0), (600.5 * 3600.0, 600.7 * 3600.0)]) == []
    assert probation_length(N) == 150


def test_perfect_detector_scores_100_and_silent_one_0() -> None:
    perfect = score_series(T, alert(555), [RUN])
    silent = score_series(T, alert(), [RUN])
    assert (perfect.hits, perfect.misses, perfect.false_positives) == (1, 0, 0)
    assert normalized([perfect]) == pytest.approx(100.0)
    assert normalized([silent]) == pytest.approx(0.0)
    assert (silent.raw, silent.null, silent.perfect) == (-1.0, -1.0, 1.0)


def test_earlier_detection_scores_more() -> None:
    raws = [score_series(T, alert(i), [RUN]).raw for i in (555, 580, 605, 630, 654)]
    assert all(a > b for a, b in itertools.pairwise(raws))
    assert raws[-1] > 0.0  # even the last point of a window beats a miss
    # hand computed: detection at 605 is p = -(654 - 605 + 1) / 100 = -0.5
    assert raws[2] == pytest.approx(scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0))


def test_only_the_first_detection_in_a_window_counts() -> None:
    one = score_series(T, alert(580), [RUN])
    more = score_series(T, alert(580, 600, 620), [RUN])
    assert more.raw == one.raw and more.false_positives == 0


def test_false_positives_cost_and_less_right_after_a_window() -> None:
    base = score_series(T, alert(555), [RUN]).raw
    before = score_series(T, alert(555, 300), [RUN])
    assert before.false_positives == 1
    assert before.raw == pytest.approx(base - STANDARD.a_fp)  # before any window: full cost
    # right after the window: p = (656 - 654) / 99, cost a_fp * |S(p)|
    near = score_series(T, alert(555, 656), [RUN]).raw
    assert near == pytest.approx(base + STANDARD.a_fp * scaled_sigmoid(2 / 99))
    assert base - STANDARD.a_fp < near < base
    far = score_series(T, alert(555, 999), [RUN]).raw  # more than 3 widths later: full cost
    assert far == pytest.approx(base - STANDARD.a_fp)
    # probation: detections in the first 150 points are ignored
    assert score_series(T, alert(555, 10), [RUN]).raw == base


def test_onsets_not_points() -> None:
    # a false alarm ten points long is one detection
    s = score_series(T, alert(555, *range(300, 310)), [RUN])
    assert s.false_positives == 1
    assert onsets(alert(3, 4, 5, 9)).tolist() == [3, 9]


def test_profiles_differ_as_their_weights_say() -> None:
    a = alert(580, 300)  # a hit and a false positive
    got = score_profiles([(T, a, [RUN])])
    hit = scaled_sigmoid(-(654 - 580 + 1) / 100) / scaled_sigmoid(-1.0)
    for p in (STANDARD, REWARD_LOW_FP, REWARD_LOW_FN):
        want = 100 * (hit - p.a_fp + p.a_fn) / (p.a_tp + p.a_fn)
        assert got[p.name] == pytest.approx(want)
    assert got["reward_low_FP"] < got["standard"] < got["reward_low_FN"]
    # a miss costs twice as much under reward_low_FN
    miss = score_profiles([(T, alert(300), [RUN])])
    assert miss["reward_low_FN"] > miss["standard"] > miss["reward_low_FP"]
    assert set(got) == set(PROFILES)


def test_normalised_over_series_sums_first() -> None:
    good = score_series(T, alert(555), [RUN])
    bad = score_series(T, alert(), [RUN, (800 * 3600.0, 801 * 3600.0)])
    assert normalized([good, bad]) == pytest.approx(100 * (1 - 2 + 3) / (3 + 3))
    assert math.isnan(normalized([score_series(T, alert(300), [])]))
