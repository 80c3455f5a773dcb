"""Tuning sees the tuning half only; the scenarios it checks are what the tests check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streams.offline import tuning
from streams.offline.evaluation import HELD_OUT, TUNING, split_of


def test_tuning_refuses_held_out_series() -> None:
    names = ["a/1.csv", "a/2.csv", "a/3.csv", "b/1.csv"]
    corpus = tuning.Corpus(Path("."), names, {})
    assert corpus.half(TUNING) == ["a/1.csv", "a/3.csv", "b/1.csv"]
    assert corpus.half(HELD_OUT) == ["a/2.csv"]
    with pytest.raises(ValueError, match=r"held-out series given to tuning: a/2\.csv"):
        tuning.tuning_score(corpus, ["a/1.csv", "a/2.csv"], {})
    assert [split_of(n, names) for n in corpus.half(TUNING)] == [TUNING] * 3


def test_configured_detector_is_what_score_rows_runs() -> None:
    import detectors

    base = detectors.DETECTORS["changes"]
    with tuning.configured("changes", u_alarm=7.0):
        made = detectors.DETECTORS["changes"]()
        assert made.u_alarm == 7.0 and made.warmup == base().warmup
    assert detectors.DETECTORS["changes"] is base


def test_scenarios_have_one_change_each() -> None:
    for case in tuning.SCENARIOS:
        v = tuning.scenario(case, 0)
        before = v[: tuning.BEFORE]
        assert len(v) == tuning.BEFORE + tuning.AFTER and np.all(np.isfinite(v))
        assert not np.array_equal(v[tuning.BEFORE :], before[: tuning.AFTER])
    with pytest.raises(ValueError):
        tuning.scenario("meteor", 0)
