"""Batched updates == one-by-one updates == the per-event reference, for any batching."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detectors._segments as segments
from detectors import DETECTORS, CompositeIndex
from detectors.reference import REFERENCES

# Parameters chosen so short streams exercise warm-up, scoring and decay.
PARAMS: dict[str, dict[str, Any]] = {
    "ewma": {"halflife": 7200.0, "warmup": 2},
    "cusum": {"halflife": 7200.0, "warmup": 2, "h": 2.0},
    "seasonal": {"n_slots": 4, "slot_seconds": 3600.0, "warmup": 2},
    # the limit sits far from the values so no point lands exactly on it
    "trend": {"limit": 1e6, "step": 3600.0, "warmup": 2, "max_horizon": 1e12},
    "staleness": {"warmup": 2, "max_age": 20000.0},
    "composite": {"halflife": 7200.0, "warmup": 2, "index_alarm": 1.0},
    "robust": {"halflife": 7200.0, "level_halflife": 1800.0, "warmup": 2, "clip": 2.0},
    # short half-lives and low alarms, so short streams reach every component and kind
    "changes": {
        "warmup": 2,
        "u_alarm": 2.0,
        "level_halflife": 1800.0,
        "spread_halflife": 7200.0,
        "short_halflife": 3600.0,
        "base_halflife": 7200.0,
        "ramp_halflife": 3600.0,
        "var_halflife": 3600.0,
        "calib_halflife": 7200.0,
        "clip": 2.0,
    },
}
COMPARED = {
    "ewma": ["expected", "z"],
    "cusum": ["expected", "s_hi", "s_lo"],
    "seasonal": ["expected", "z"],
    "trend": ["expected", "level", "trend", "eta_seconds", "eta_lower", "eta_upper"],
    "staleness": ["gap_seconds", "typical_seconds"],
    "composite": ["index", "contribution"],
    "robust": ["expected", "z"],
    "changes": ["expected", "z", "kind"],
}
# composite membership used in both implementations: rows 0-2 in group 0, 3-4 in group 1
MEMBERS = {0: (0, 1.0, 1.0), 1: (0, 2.0, -1.0), 2: (0, 0.5, 1.0), 3: (1, 1.0, 1.0), 4: (1, 1.0, -1)}

STEPS = st.sampled_from([0.0, 1.0, 600.0, 3600.0, 5400.0, 86400.0 * 3, -1800.0])
VALUES = st.one_of(
    st.floats(-1000.0, 1000.0, allow_nan=False),
    st.just(math.nan),
    st.sampled_from([0.0, 1.0, 55.0]),
)
EVENTS = st.lists(st.tuples(st.integers(0, 4), STEPS, VALUES), min_size=1, max_size=60)


def make(name: str) -> Any:
    det = DETECTORS[name](**PARAMS[name])
    if isinstance(det, CompositeIndex):
        rows = sorted(MEMBERS)
        det.set_components(
            rows,
            group=[MEMBERS[r][0] for r in rows],
            weight=[MEMBERS[r][1] for r in rows],
            direction=[MEMBERS[r][2] for r in rows],
        )
    return det


def make_ref(name: str) -> Any:
    kw = dict(PARAMS[name])
    if name == "composite":
        kw["members"] = MEMBERS
    return REFERENCES[name](**kw)


def arrays(events: list[tuple[int, float, float]]) -> tuple[np.ndarray, ...]:
    rows = np.array([e[0] for e in events], dtype=np.int64)
    ts = 1.7e9 + np.cumsum([e[1] for e in events])
    value = np.array([e[2] for e in events], dtype=np.float64)
    return rows, ts, value


def run_batched(
    name: str, rows: np.ndarray, ts: np.ndarray, value: np.ndarray, cuts: list[int]
) -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    det = make(name)
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(rows))), len(rows)]
    parts = [det.update(rows[a:b], ts[a:b], value[a:b]) for a, b in itertools.pairwise(bounds)]
    score = np.concatenate([p.score for p in parts])
    extras = {k: np.concatenate([p.extras[k] for p in parts]) for k in COMPARED[name]}
    return det, score, extras


def close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=what)


@pytest.mark.parametrize("scan", ["sequential", "doubling"])
@pytest.mark.parametrize("name", sorted(DETECTORS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS, cuts=st.lists(st.integers(0, 60), max_size=6))
def test_batch_equals_one_by_one_equals_reference(
    name: str, scan: str, events: list[tuple[int, float, float]], cuts: list[int]
) -> None:
    """``scan="doubling"`` forces the skewed-batch path for every segment."""
    saved = segments.SEQUENTIAL_MAXLEN
    segments.SEQUENTIAL_MAXLEN = saved if scan == "sequential" else 1
    try:
        check_equivalence(name, events, cuts)
    finally:
        segments.SEQUENTIAL_MAXLEN = saved


def check_equivalence(name: str, events: list[tuple[int, float, float]], cuts: list[int]) -> None:
    rows, ts, value = arrays(events)
    det_b, score_b, extras_b = run_batched(name, rows, ts, value, cuts)
    det_1, score_1, extras_1 = run_batched(name, rows, ts, value, list(range(len(rows))))
    ref = make_ref(name)
    out = [ref.update(int(r), float(t), float(v)) for r, t, v in zip(rows, ts, value, strict=True)]
    score_r = np.array([o[0] for o in out])
    close(score_b, score_1, "batched vs one-by-one score")
    close(score_b, score_r, "batched vs reference score")
    for k in COMPARED[name]:
        close(extras_b[k], extras_1[k], f"batched vs one-by-one {k}")
        close(extras_b[k], np.array([o[1][k] for o in out]), f"batched vs reference {k}")
    for k in det_b.state:
        n = det_b.n_series
        close(det_b.state[k][:n].astype(float), det_1.state[k][:n].astype(float), f"state {k}")
    assert np.all((score_b >= 0) & (score_b <= 1))


@settings(max_examples=30, deadline=None)
@given(events=EVENTS, now_step=st.floats(0.0, 1e6))
def test_staleness_check_matches_reference(
    events: list[tuple[int, float, float]], now_step: float
) -> None:
    rows, ts, value = arrays(events)
    det, _, _ = run_batched("staleness", rows, ts, value, [len(rows) // 2])
    ref = make_ref("staleness")
    for r, t, v in zip(rows, ts, value, strict=True):
        ref.update(int(r), float(t), float(v))
    now = float(ts.max()) + now_step
    report = det.check(now)
    expected = ref.check(now)
    for row, stale in expected.items():
        assert bool(report.stale[row]) == stale


def test_skewed_batch_matches_reference() -> None:
    """A Zipf-skewed batch (one series holds most points) through the doubling scan."""
    rng = np.random.default_rng(11)
    n = 3000
    rows = np.minimum(rng.zipf(1.5, n) - 1, 40)
    ts = 1.7e9 + np.cumsum(rng.exponential(600.0, n))
    value = rng.normal(20.0, 3.0, n) + np.where(np.arange(n) > 2000, 8.0, 0.0)
    value[rng.random(n) < 0.05] = np.nan
    for name in sorted(DETECTORS):
        det = make(name)
        score = det.update(rows, ts, value).score
        ref = make_ref(name)
        score_r = [
            ref.update(int(r), float(t), float(v))[0]
            for r, t, v in zip(rows, ts, value, strict=True)
        ]
        close(score, np.array(score_r), name)
