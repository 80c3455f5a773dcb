"""AlertTransition transitions for the alerts topic and for Alertmanager."""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import fields, replace

import pytest

from streams.alerting import labels_of
from streams.detection import AlertTransition
from streams.kafka.records import decode_alert, encode_alert
from streams.worker.alerts import DAY, dashboard_link, to_alertmanager

NAN = math.nan
T = 1_637_000_000.0
GRAFANA = "http://grafana:3000/"


def _alert(series: str, detector: str, state: str = "firing", **kw: object) -> AlertTransition:
    base = AlertTransition(
        key="0123456789abcdef", state=state, series=series, detector=detector,
        severity="warning", ts=T, since=T - 6 * 3600, value=41.0, expected=30.0, score=0.93,
        limit=55.0, eta_seconds=4 * DAY, eta_lower=2 * DAY, eta_upper=9 * DAY,
        crossing_ts=T + 4 * DAY, explanation=f"{series}: something is building",
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("series", "detector", "expected"),
    [
        ("vessels_waiting|USLAX", "queue_trend", {"port": "USLAX"}),
        ("vessels_waiting|san-pedro-bay", "changes", {"port": "san-pedro-bay"}),
        ("composite|USLGB", "composite", {"port": "USLGB"}),
        ("dwell_truck_p90|USLAX|APM", "dwell_truck_trend", {"port": "USLAX", "terminal": "APM"}),
        ("days_of_supply_p10|AUS-FAB2", "staleness", {"site": "AUS-FAB2"}),
        ("below_limit|AUS-FAB2", "staleness", {"site": "AUS-FAB2"}),
        ("days_of_supply|AUS-FAB2|MCU-32", "supply_trend", {"site": "AUS-FAB2", "item": "MCU-32"}),
        ("drawdown|AUS-FAB2|MCU-32", "staleness", {"site": "AUS-FAB2", "item": "MCU-32"}),
    ],
)
def test_labels_come_from_the_series_key(
    series: str, detector: str, expected: dict[str, str]
) -> None:
    category = {"supply_trend": "supply", "staleness": "pipeline"}.get(detector, "congestion")
    assert labels_of(_alert(series, detector)) == {
        "series": series,
        "detector": detector,
        "category": category,
        **expected,
    }


def test_unknown_detector_gets_a_generic_name_and_congestion() -> None:
    a = _alert("vessels_waiting|USLAX", "brand_new_detector")
    am = to_alertmanager(a, GRAFANA)
    assert am.name == "BerthwatchDetector"
    assert am.labels["category"] == "congestion"
    assert json.loads(encode_alert(a))["name"] == "BerthwatchDetector"


def test_firing_alert_for_alertmanager() -> None:
    a = _alert("dwell_truck_p90|USLAX|APM", "dwell_truck_trend")
    am = to_alertmanager(a, GRAFANA)
    assert am.firing and am.ends_at is None
    assert (am.key, am.name, am.severity) == (a.key, "BerthwatchTruckDwellRising", "warning")
    assert am.starts_at == a.since
    assert am.labels == labels_of(a)
    assert am.description == a.explanation
    assert am.summary.startswith("dwell_truck_p90|USLAX|APM: ") and "projected" in am.summary
    assert am.annotations["value"] == "41"
    assert am.annotations["projected_crossing"] == "2021-11-19T18:13:20Z"
    assert am.annotations["dashboard_url"] == dashboard_link(GRAFANA, a)
    payload = am.to_alertmanager()
    assert "endsAt" not in payload
    assert payload["labels"]["alertname"] == "BerthwatchTruckDwellRising"
    assert payload["labels"]["terminal"] == "APM"


def test_resolved_alert_ends_at_its_event_time() -> None:
    a = _alert("vessels_waiting|USLAX", "queue_trend", state="resolved")
    am = to_alertmanager(a, GRAFANA)
    assert not am.firing
    assert am.ends_at == a.ts
    assert am.starts_at <= am.ends_at
    assert am.summary == "vessels_waiting|USLAX: back to normal"
    assert am.to_alertmanager()["endsAt"] == "2021-11-15T18:13:20Z"
    # a since after the transition (clock skew between stages) still gives a valid interval
    odd = to_alertmanager(replace(a, since=a.ts + 600), GRAFANA)
    assert odd.ends_at is not None and odd.starts_at <= odd.ends_at


def test_no_projected_crossing_when_already_crossed_or_unknown() -> None:
    crossed = _alert(
        "vessels_waiting|USLAX", "queue_trend", eta_seconds=-3600.0, crossing_ts=T - 3600
    )
    assert "projected_crossing" not in to_alertmanager(crossed, GRAFANA).annotations
    unknown = _alert("vessels_waiting|USLAX", "changes", eta_seconds=NAN, crossing_ts=NAN)
    assert "projected_crossing" not in to_alertmanager(unknown, GRAFANA).annotations


def test_dashboard_link_opens_the_series_around_the_event() -> None:
    a = _alert("vessels_waiting|USLAX", "queue_trend")
    link = dashboard_link("http://g:3000/", a)
    url = urllib.parse.urlsplit(link)
    assert (url.scheme, url.netloc, url.path) == ("http", "g:3000", "/d/detector-drilldown")
    q = dict(urllib.parse.parse_qsl(url.query))
    assert q == {
        "var-series": "vessels_waiting|USLAX",
        "var-detector": "queue_trend",
        "from": str(int((T - 30 * DAY) * 1000)),
        "to": str(int((T + 7 * DAY) * 1000)),
    }


def _same(a: AlertTransition, b: AlertTransition) -> None:
    for f in fields(AlertTransition):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f.name
        else:
            assert x == y, f.name


def test_record_round_trip_with_missing_values_and_components() -> None:
    a = _alert(
        "composite|USLAX",
        "composite",
        value=5.2,
        expected=NAN,
        score=0.97,
        limit=NAN,
        eta_seconds=NAN,
        eta_lower=NAN,
        eta_upper=NAN,
        crossing_ts=NAN,
        components=(("vessels_waiting|USLAX", 3.1, 0.6), ("dwell_truck_p90|USLAX", 2.1, 0.4)),
    )
    data = encode_alert(a)
    doc = json.loads(data, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["expected"] is None and doc["crossing_ts"] is None
    assert doc["name"] == "BerthwatchDisruption" and doc["labels"] == labels_of(a)
    back = decode_alert(data)
    _same(back, a)
    assert back.components == a.components
    assert to_alertmanager(back, GRAFANA) == to_alertmanager(a, GRAFANA)


def test_record_round_trip_of_a_resolved_item_alert() -> None:
    a = _alert(
        "days_of_supply|AUS-FAB2|MCU-32",
        "supply_trend",
        state="resolved",
        severity="critical",
        value=3.25,
        limit=5.0,
        eta_seconds=-DAY,
    )
    back = decode_alert(encode_alert(a))
    _same(back, a)
    assert back.components == ()
    assert to_alertmanager(back, GRAFANA) == to_alertmanager(a, GRAFANA)


def test_runbook_link_is_absolute_under_docs_url_and_names_the_section() -> None:
    a = _alert("dwell_rail_p90|USLAX|APM", "dwell_rail_trend")
    am = to_alertmanager(a, GRAFANA, "https://docs.example/berthwatch/docs/")
    assert am.annotations["runbook_url"] == "https://docs.example/berthwatch/docs/RUNBOOK.md#dwell"
    assert am.annotations["dashboard_url"].startswith("http://grafana:3000/d/")
    assert to_alertmanager(a, GRAFANA).annotations["runbook_url"] == "docs/RUNBOOK.md#dwell"
