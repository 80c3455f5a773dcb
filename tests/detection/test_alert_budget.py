"""The alert budget of the detection stage: one firing per series per quiet period, limits
in force from their date, supply items alerted per site, kinds stable over an alert."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from streams.detection import AlertTransition, DetectionStage, PipelineConfig
from streams.detection.budget import AlertBudget
from streams.features import FeaturePoints
from streams.geo import GeographyError, geography_from_dict, geography_to_dict, load_geography

DAY = 86400.0
T0 = 1_609_459_200  # 2021-01-01T00:00:00Z
NAN = math.nan


def tr(key: str, state: str, ts: float, series: str = "q|P", route: str = "r") -> AlertTransition:
    return AlertTransition(key, state, series, route, "warning", ts, ts, 1.0, NAN, 0.9,
                           NAN, NAN, NAN, NAN, NAN, "")  # fmt: skip


def test_budget_holds_a_second_route_and_drops_it_if_it_resolves_first() -> None:
    b = AlertBudget(quiet_s=30 * DAY)
    assert [a.key for a in b.admit(0.0, [tr("a", "firing", 0.0)])] == ["a"]
    assert b.admit(DAY, [tr("b", "firing", DAY)]) == []
    assert b.admit(2 * DAY, [tr("b", "resolved", 2 * DAY)]) == []  # never said, never unsaid
    assert [a.state for a in b.admit(3 * DAY, [tr("a", "resolved", 3 * DAY)])] == ["resolved"]
    # another series is not held, a staleness alert of the same series is not either
    out = b.admit(4 * DAY, [tr("c", "firing", 4 * DAY, series="q|Q"),
                            tr("d", "firing", 4 * DAY, route="staleness")])
    assert [a.key for a in out] == ["c", "d"]


def test_budget_publishes_a_held_firing_when_the_period_ends_and_restores() -> None:
    b = AlertBudget(quiet_s=30 * DAY)
    b.admit(0.0, [tr("a", "firing", 0.0)])
    b.admit(5 * DAY, [tr("b", "firing", 5 * DAY)])
    copy = AlertBudget(quiet_s=30 * DAY)
    copy.restore(b.to_dict())
    for budget in (b, copy):
        assert budget.admit(29 * DAY, []) == []
        (late,) = budget.admit(30 * DAY, [])
        assert (late.key, late.ts, late.since) == ("b", 30 * DAY, 5 * DAY)
        # its resolution is published: the series was told it is in trouble
        assert [a.key for a in budget.admit(31 * DAY, [tr("b", "resolved", 31 * DAY)])] == ["b"]


def test_budget_rearms_after_calm_when_asked() -> None:
    b = AlertBudget(quiet_s=30 * DAY, rearm_s=3 * DAY)
    b.admit(0.0, [tr("a", "firing", 0.0)])
    b.admit(DAY, [tr("a", "resolved", DAY)])
    assert b.admit(2 * DAY, [tr("b", "firing", 2 * DAY)]) == []  # calm for 1 day only
    assert [a.key for a in b.admit(4 * DAY, [])] == ["b"]  # calm for 3 days: a new event


def _points(series: dict[str, np.ndarray], step: float) -> FeaturePoints:
    keys, ends, vals = [], [], []
    n = max(len(v) for v in series.values())
    for i in range(n):
        for k in sorted(series):
            if i < len(series[k]):
                keys.append(k.encode())
                ends.append(T0 + (i + 1) * int(step))
                vals.append(series[k][i])
    return FeaturePoints(np.array(keys), np.array(ends, dtype=np.int64), np.array(vals))


def test_a_limit_says_nothing_before_it_takes_effect_then_one_state_alert() -> None:
    # rail dwell well past its 3-day limit from the start; the limit takes effect on day 20
    n = 40 * 24
    dwell = 8.0 + np.random.default_rng(1).normal(0, 0.3, n)
    key = "dwell_rail_p90|P"
    cfg = PipelineConfig(limits={key: 3.0}, limits_from={key: T0 + 20 * DAY})
    stage = DetectionStage(cfg)
    out = stage.process(_points({key: dwell}, 3600)) + stage.flush()
    fired = [a for a in out.alerts if a.detector == "dwell_rail_trend"]
    assert [(a.state, a.kind) for a in fired] == [("firing", "past_limit")]
    assert T0 + 20 * DAY <= fired[0].ts <= T0 + 21 * DAY
    # without the date, the same series alerts from its warm-up
    early = DetectionStage(PipelineConfig(limits={key: 3.0}))
    out = early.process(_points({key: dwell}, 3600)) + early.flush()
    assert min(a.ts for a in out.alerts if a.detector == "dwell_rail_trend") < T0 + 5 * DAY


def test_a_terminal_is_scored_but_its_port_speaks_for_it() -> None:
    n = 30 * 24
    hours = np.arange(n)
    dwell = 3.0 + np.clip((hours - 5 * 24) / 24.0, 0, None) * 0.4
    series = {"dwell_truck_p90|P": dwell, "dwell_truck_p90|P|T": dwell * 1.1}
    stage = DetectionStage(PipelineConfig(limits={"dwell_truck_p90|P": 9.0}))
    out = stage.process(_points(series, 3600)) + stage.flush()
    trend = [a for a in out.alerts if a.detector == "dwell_truck_trend"]
    assert trend and {a.series for a in trend} == {"dwell_truck_p90|P"}
    scores = out.scores.series("dwell_truck_p90|P|T", "dwell_truck_trend")
    assert np.nanmax(scores["score"]) > 0.8  # the terminal's own score is there to draw
    alerted = DetectionStage(PipelineConfig(limits={"dwell_truck_p90|P": 9.0}, alert_parts=True))
    out = alerted.process(_points(series, 3600)) + alerted.flush()
    assert "dwell_truck_p90|P|T" in {a.series for a in out.alerts}


def _drawdown(start: int, days: int = 120, rate: float = 0.8) -> np.ndarray:
    d = np.arange(days, dtype=float)
    return np.where(d < start, 30.0, np.maximum(30.0 - (d - start) * rate, 1.0))


def test_items_of_one_shortage_are_one_site_alert_naming_the_worst() -> None:
    # two items of site S run low ten days apart, a third stays healthy; site Z is fine
    items = {
        "days_of_supply|S|A": _drawdown(20),
        "days_of_supply|S|B": _drawdown(30),
        "days_of_supply|S|C": np.full(120, 30.0),
        "days_of_supply|Z|A": np.full(120, 30.0),
    }
    stage = DetectionStage(PipelineConfig(limits={"days_of_supply": 5.0}))
    out = stage.process(_points(items, DAY)) + stage.flush()
    supply = [a for a in out.alerts if a.detector == "supply_trend"]
    assert [a.state for a in supply] == ["firing"]  # both stay low to the end: still on
    (site,) = supply
    assert site.series == "days_of_supply|S" and site.kind in ("trend", "past_limit")
    assert "worst: A" in site.explanation and "of 3 items at risk" in site.explanation
    assert site.components[0][0] == "days_of_supply|S|A"


def test_a_site_recovers_then_a_new_shortage_is_a_new_alert() -> None:
    d = np.arange(150, dtype=float)
    first = np.where((d >= 10) & (d < 40), np.maximum(30 - (d - 10) * 1.2, 1.0), 30.0)
    later = np.where(d >= 90, np.maximum(30 - (d - 90) * 1.2, 1.0), 30.0)
    items = {"days_of_supply|S|A": first, "days_of_supply|S|B": later}
    stage = DetectionStage(PipelineConfig(limits={"days_of_supply": 5.0}))
    out = stage.process(_points(items, DAY)) + stage.flush()
    site = [a for a in out.alerts if a.series == "days_of_supply|S"]
    supply = [(a.state, round((a.ts - T0) / DAY)) for a in site]
    assert [s for s, _ in supply] == ["firing", "resolved", "firing"]
    fired = [day for s, day in supply if s == "firing"]
    assert fired[1] - fired[0] >= 30
    # the resolution waited for two calm weeks after item A recovered (day 40)
    assert supply[1][1] >= 40 + 14


def test_an_alert_keeps_the_kind_it_fired_with() -> None:
    rng = np.random.default_rng(4)
    n = 60 * 24
    hours = np.arange(n)
    queue = np.round(5 + np.clip((hours - 20 * 24) / 24.0, 0, 10) * 1.5 + rng.normal(0, 1.0, n))
    stage = DetectionStage(PipelineConfig(limits={"vessels_waiting|P": 200.0}))
    out = stage.process(_points({"vessels_waiting|P": queue}, 3600)) + stage.flush()
    by_key: dict[str, set[str]] = {}
    for a in out.alerts:
        by_key.setdefault(a.key, set()).add(a.kind)
    assert by_key and all(len(k) == 1 and "" not in k for k in by_key.values())
    firing = [a for a in out.alerts if a.state == "firing"]
    assert all(b.ts - a.ts >= 30 * DAY for a, b in itertools.pairwise(firing))


def test_geography_limits_take_effect_on_their_date() -> None:
    geo = load_geography()
    lim = geo.port("USLAX").limits
    assert str(lim.effective_from["rail_dwell_days"]) == "2021-10-25"
    doc = geography_to_dict(geo)
    doc["regions"]["san-pedro-bay"]["limits"]["effective_from"] = {"berths": "2021-01-01"}
    with pytest.raises(GeographyError, match=r"effective_from\.berths"):
        geography_from_dict(doc)
    doc["regions"]["san-pedro-bay"]["limits"]["effective_from"] = {"anchorages": "soon"}
    with pytest.raises(GeographyError, match=r"effective_from\.anchorages"):
        geography_from_dict(doc)
    cfg = PipelineConfig.from_geography(geo)
    assert cfg.limit_from("dwell_rail_trend", "dwell_rail_p90|USLAX|APM") == 1_635_120_000.0
    assert cfg.limit_from("queue_trend", "vessels_waiting|USLAX") == -math.inf
