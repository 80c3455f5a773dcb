"""Alert policy: persistence, hysteresis, cool-down, warm-up, keys, batching."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import DampedTrend, SeriesRegistry
from detectors.policy import AlertPolicy, PolicyResult, Severity, alert_key

T0 = 1.633e9
SEVS = (Severity("warning", 0.8, 0.6), Severity("critical", 0.95, 0.85))


def run(policy: AlertPolicy, score: list[float], step: float = 600.0, row: int = 0) -> PolicyResult:
    n = len(score)
    return policy.evaluate(np.full(n, row), T0 + np.arange(n) * step, np.array(score))


def reference(
    events: list[tuple[int, float, float]],
    k: int,
    n: int,
    resolve_after: int,
    cooldown: float,
    warmup: int,
    values: list[float] | None = None,
    worse: float | None = None,
    rearm: tuple[float, int] | None = None,
    rearm_value: float | None = None,
) -> tuple[list[int], list[tuple[int, str, str]]]:
    """Per-event state machine written plainly, one dict per (series, severity); with
    ``worse``, a value at least that far above the last episode's highest fires in the
    quiet period."""
    state: dict[tuple[int, int], dict[str, Any]] = {}
    count: dict[int, int] = {}
    out: list[tuple[int, str, str]] = []
    alerts: list[int] = []
    for j, (row, ts, score) in enumerate(events):
        value = values[j] if values is not None else math.nan
        if math.isnan(score) or (values is not None and math.isnan(value)):
            alerts.append(0)
            continue
        warm = count.get(row, 0) >= warmup
        count[row] = count.get(row, 0) + 1
        level = 0
        for sv, sev in enumerate(SEVS):
            s = state.setdefault(
                (row, sv),
                {"on": False, "hist": [], "below": 0, "quiet": -math.inf, "peak": math.nan,
                 "calm": 0},
            )
            s["hist"] = ([*s["hist"], warm and score >= sev.fire])[-n:]
            if rearm is not None:
                good = score < rearm[0] if rearm_value is None else value <= rearm_value
                s["calm"] = s["calm"] + 1 if not s["on"] and good else 0
                if s["calm"] >= rearm[1]:
                    s["quiet"] = -math.inf
            if not s["on"]:
                clearly_worse = worse is not None and value >= s["peak"] + worse
                if sum(s["hist"]) >= k and (ts >= s["quiet"] or clearly_worse):
                    s["on"] = True
                    s["peak"] = value
                    out.append((j, sev.name, "firing"))
            else:
                if not math.isnan(value):
                    s["peak"] = value if math.isnan(s["peak"]) else max(s["peak"], value)
                s["below"] = s["below"] + 1 if score < sev.resolve else 0
                if s["below"] >= resolve_after:
                    s.update(on=False, below=0, hist=[], quiet=ts + cooldown)
                    out.append((j, sev.name, "resolved"))
            if s["on"]:
                level = sv + 1
        alerts.append(level)
    return alerts, out


def test_single_spike_does_not_fire_but_two_of_three_do() -> None:
    pol = AlertPolicy("ewma", SEVS, persistence=(2, 3))
    assert run(pol, [0.1, 0.99, 0.1, 0.1, 0.1]).transitions == []
    res = run(AlertPolicy("ewma", SEVS, persistence=(2, 3)), [0.1, 0.9, 0.1, 0.9])
    assert [(t.state, t.severity, t.ts) for t in res.transitions] == [
        ("firing", "warning", T0 + 3 * 600.0)
    ]


def test_hysteresis_keeps_alert_between_thresholds() -> None:
    pol = AlertPolicy("ewma", SEVS, persistence=(1, 1), resolve_after=1)
    res = run(pol, [0.9, 0.7, 0.65, 0.79, 0.61, 0.5])
    assert res.alert.tolist() == [1, 1, 1, 1, 1, 0]
    assert [t.state for t in res.transitions] == ["firing", "resolved"]
    assert res.transitions[1].since == T0 and res.transitions[1].ts == T0 + 5 * 600.0


def test_cooldown_is_event_time() -> None:
    pol = AlertPolicy("ewma", SEVS, persistence=(1, 1), resolve_after=1, cooldown=3600.0)
    # resolved at 1200 s; high again at 1800 s (blocked) and at 5400 s (allowed: 1200 + 3600)
    res = run(pol, [0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9], step=600.0)
    states = [(t.state, t.ts - T0) for t in res.transitions]
    assert states == [("firing", 0.0), ("resolved", 600.0), ("firing", 5400.0)]


def test_warmup_suppresses_and_severities_are_independent() -> None:
    pol = AlertPolicy("cusum", SEVS, persistence=(1, 1), warmup=3)
    res = run(pol, [0.99, 0.99, 0.99, 0.99, 0.9])
    assert [(t.severity, t.state, t.ts - T0) for t in res.transitions] == [
        ("warning", "firing", 1800.0),
        ("critical", "firing", 1800.0),
    ]
    assert res.alert.tolist() == [0, 0, 0, 2, 2]


def test_keys_are_stable_and_distinct() -> None:
    k = alert_key("USLAX/anchor", "trend", "warning")
    assert k == alert_key("USLAX/anchor", "trend", "warning") and len(k) == 16
    others = {
        alert_key("USLGB/anchor", "trend", "warning"),
        alert_key("USLAX/anchor", "ewma", "warning"),
        alert_key("USLAX/anchor", "trend", "critical"),
    }
    assert k not in others and len(others) == 3


def test_transition_explains_trend_alert() -> None:
    reg = SeriesRegistry(["USLAX/anchor_queue"])
    det = DampedTrend(limit=55.0, phi=1.0, warmup=3)
    days = np.arange(15.0)
    ts = T0 + days * 86400.0
    value = 20.0 + 2.5 * days
    res = det.update(np.zeros(15, dtype=np.int64), ts, value)
    pol = AlertPolicy("trend", SEVS, persistence=(2, 3))
    out = pol.evaluate(np.zeros(15), ts, res.score, keys=reg, value=value, result=res)
    fire = out.transitions[0]
    assert fire.series == "USLAX/anchor_queue" and fire.state == "firing"
    assert fire.key == alert_key("USLAX/anchor_queue", "trend", "warning")
    assert math.isfinite(fire.eta_seconds) and fire.eta_lower <= fire.eta_seconds <= fire.eta_upper
    assert fire.crossing_ts == pytest.approx(fire.ts + fire.eta_seconds)
    text = fire.explanation()
    assert "USLAX/anchor_queue" in text and "limit projected at" in text and "trend" in text
    assert fire.as_dict()["explanation"] == text


def test_nan_scores_are_skipped() -> None:
    pol = AlertPolicy("ewma", SEVS, persistence=(2, 2))
    res = run(pol, [0.9, math.nan, 0.9])
    assert [t.state for t in res.transitions] == ["firing"] and res.alert.tolist() == [0, 0, 1]


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from([0.0, 300.0, 3600.0]),
        st.one_of(st.floats(0.0, 1.0), st.just(math.nan), st.sampled_from([0.6, 0.8, 0.95])),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(
    events=EVENTS,
    cuts=st.lists(st.integers(1, 79), max_size=5),
    k=st.integers(1, 3),
    resolve_after=st.integers(1, 3),
    warmup=st.integers(0, 3),
    worse=st.sampled_from([None, 1.0, 3.0]),
    rearm=st.sampled_from([None, (0.3, 1), (0.5, 2)]),
    rearm_value=st.sampled_from([None, 1.0, 2.0]),
    seed=st.integers(0, 2**16),
)
def test_any_batching_equals_reference(
    events: list[tuple[int, float, float]],
    cuts: list[int],
    k: int,
    resolve_after: int,
    warmup: int,
    worse: float | None,
    rearm: tuple[float, int] | None,
    rearm_value: float | None,
    seed: int,
) -> None:
    rows = np.array([e[0] for e in events])
    ts = T0 + np.cumsum([e[1] for e in events])
    score = np.array([e[2] for e in events])
    value = np.random.default_rng(seed).integers(0, 6, len(rows)).astype(float)
    kw = {
        "persistence": (k, 3),
        "resolve_after": resolve_after,
        "cooldown": 1800.0,
        "warmup": warmup,
        "worse": worse,
        "rearm": rearm,
        "rearm_value": rearm_value,
    }
    pol = AlertPolicy("ewma", SEVS, **kw)  # type: ignore[arg-type]
    bounds = [0, *sorted({c for c in cuts if c < len(rows)}), len(rows)]
    alerts: list[int] = []
    trans = []
    for a, b in itertools.pairwise(bounds):
        if a == b:
            continue
        blob = pol.snapshot()  # a restart between batches changes nothing either
        pol = AlertPolicy("ewma", SEVS, **kw)  # type: ignore[arg-type]
        pol.restore(blob)
        out = pol.evaluate(rows[a:b], ts[a:b], score[a:b], value=value[a:b])
        alerts.extend(out.alert.tolist())
        trans.extend(out.transitions)
    events_ = list(zip(rows.tolist(), ts.tolist(), score.tolist(), strict=True))
    ref_alerts, ref_trans = reference(
        events_, k, 3, resolve_after, 1800.0, warmup, value.tolist(), worse, rearm, rearm_value
    )
    assert alerts == ref_alerts
    got = [(t.row, t.ts, t.severity, t.state) for t in trans]
    want = [(int(rows[j]), float(ts[j]), sev, state) for j, sev, state in ref_trans]
    assert got == want


def test_quiet_period_blocks_refiring_unless_clearly_worse() -> None:
    def fires(values: list[float], direction: float = 1.0) -> list[float]:
        pol = AlertPolicy(
            "trend", SEVS[:1], persistence=(1, 1), resolve_after=1, cooldown=30 * 86400.0,
            worse=0.5, direction=direction,
        )
        score = [0.9, 0.9, 0.1, 0.9, 0.1, 0.9]
        ts = T0 + np.arange(6) * 86400.0
        res = pol.evaluate(np.zeros(6, dtype=np.int64), ts, np.array(score), value=values)
        return [(t.ts - T0) / 86400.0 for t in res.transitions if t.state == "firing"]

    # episode 1 peaks at 1.2; 1.5 a day after it resolved is not clearly worse, 1.8 is
    assert fires([1.0, 1.2, 0.5, 1.5, 0.5, 1.6]) == [0.0]
    assert fires([1.0, 1.2, 0.5, 1.8, 0.5, 1.9]) == [0.0, 3.0]
    # lower is worse for a floor: days of supply falling
    assert fires([0.8, 0.6, 1.0, 0.3, 1.0, 0.2], direction=-1.0) == [0.0]
    assert fires([0.8, 0.6, 1.0, 0.05, 1.0, 0.0], direction=-1.0) == [0.0, 3.0]


def test_snapshot_rejects_other_parameters() -> None:
    pol = AlertPolicy("ewma", SEVS)
    run(pol, [0.9, 0.9])
    with pytest.raises(ValueError, match="snapshot"):
        AlertPolicy("cusum", SEVS).restore(pol.snapshot())


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Severity("x", 0.5, 0.7)
    with pytest.raises(ValueError):
        AlertPolicy("ewma", SEVS, persistence=(3, 2))
