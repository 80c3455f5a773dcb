"""Detector drill-down: one series, one detector: why it scored, where it is heading.

The series' value against the detector's baseline band and expected value, the
limit a trend detector projects towards, the score with its 0.8 warning, the alert
state, and the projected date the limit is crossed. The port overview's detector
panels link here with ``var-detector``, ``var-series`` and their time range.
Time series keep the ``series`` label (``max by (series)``, one series at a time)
so ``dashboards preview --event-time`` can map them to their port's event time.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import (
    DRILLDOWN_UID,
    SCORE_WARNING,
    alert_annotation,
    dashboard_link,
    finish,
    label_variable,
    query,
    series_of_port,
    stat,
    timeseries,
)

UID = DRILLDOWN_UID
ONE = 'detector=~"$detector", series=~"$series"'
"""The chosen detector on the chosen series."""
SERIES = 'series=~"$series"'
PORT_SERIES = f'series=~"{series_of_port(terminal=".*")}"'

_DASH = {"fill": "dash", "dash": [10, 10]}
_BAND = {
    "upper": [("custom.fillBelowTo", "lower"), ("custom.fillOpacity", 20),
              ("custom.lineWidth", 0), ("color", {"mode": "fixed", "fixedColor": "blue"})],
    "lower": [("custom.fillOpacity", 0), ("custom.lineWidth", 0),
              ("color", {"mode": "fixed", "fixedColor": "blue"})],
    "expected": [("custom.lineStyle", _DASH), ("custom.fillOpacity", 0),
                 ("color", {"mode": "fixed", "fixedColor": "blue"})],
    "limit": [("custom.lineStyle", _DASH), ("custom.fillOpacity", 0),
              ("color", {"mode": "fixed", "fixedColor": "red"})],
    "value": [("custom.lineWidth", 2), ("custom.fillOpacity", 0),
              ("color", {"mode": "fixed", "fixedColor": "green"})],
}
"""Display of the band panel's lines, by legend: the band filled from lower to upper."""


def build() -> dict[str, Any]:
    """The dashboard's JSON model."""
    board = (
        dash_b.Dashboard("berthwatch: detector drill-down").uid(UID)
        .description("One detector on one series: value, baseline band, expected value, "
                     "limit, score, alert state and projected crossing of the limit.")
        .tags(["berthwatch", "detectors"]).editable().timezone("utc").time("now-24h", "now")
        .refresh("1m").tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .link(dashboard_link("Port overview", "port-overview"))
        .link(dashboard_link("Pipeline health", "pipeline-health"))
        .with_variable(label_variable("port", "Port", "berthwatch_vessels_waiting"))
        .with_variable(label_variable("detector", "Detector", "berthwatch_detector_score",
                                      PORT_SERIES, multi=False))
        .with_variable(label_variable("series", "Series", "berthwatch_detector_score",
                                      f'detector=~"$detector", {PORT_SERIES}', multi=False))
        .with_panel(timeseries(
            "Series and baseline", "The series' latest value (in its own unit: ships, hours "
            "of waiting, days of dwell or supply), the detector's expected value and its "
            "baseline band (lower to upper), and the limit a trend detector projects "
            "towards (red, dashed).",
            [query(f"max by (series) (berthwatch_series_value{{{SERIES}}})", "value"),
             query(f"max by (series) (berthwatch_detector_expected{{{ONE}}})", "expected"),
             query(f"max by (series) (berthwatch_detector_lower{{{ONE}}})", "lower"),
             query(f"max by (series) (berthwatch_detector_upper{{{ONE}}})", "upper"),
             query(f"max by (series) (berthwatch_detector_limit{{{ONE}}})", "limit")],
            unit="none", width=24, height=10, min_value=None, overrides=_BAND))
        .with_panel(timeseries(
            "Detector score", "Score of every detector on the series (0 to 1; higher is more "
            f"anomalous). The dashed line is the {SCORE_WARNING} warning; the alert policy "
            "fires on persistence above it.",
            [query(f"max by (detector) (berthwatch_detector_score{{{SERIES}}})",
                   "{{detector}}")],
            unit="none", width=16, height=8, limit=SCORE_WARNING, max_value=1))
        .with_panel(stat(
            "Score now", f"The chosen detector's latest score; red from {SCORE_WARNING}.",
            [query(f"max(berthwatch_detector_score{{{ONE}}})", "score")],
            unit="none", width=8, height=8, limit=SCORE_WARNING))
        .with_panel(stat(
            "Projected crossing", "Date (event time) the trend detector projects the series "
            "to cross its limit; no value when no crossing is projected.",
            [query(f"max(berthwatch_detector_crossing_timestamp_seconds{{{ONE}}}) * 1000",
                   "crossing")],
            unit="dateTimeAsIso", width=6, height=5))
        .with_panel(stat(
            "Lead time", "Event time left until the projected crossing, from the newest event "
            "time of the feeds.",
            [query(f"max(berthwatch_detector_crossing_timestamp_seconds{{{ONE}}}) "
                   "- scalar(max(berthwatch_event_time_seconds))", "lead time")],
            unit="s", width=6, height=5))
        .with_panel(stat(
            "Limit", "The limit the trend detector projects towards, in the series' unit.",
            [query(f"max(berthwatch_detector_limit{{{ONE}}})", "limit")],
            unit="none", width=6, height=5))
        .with_panel(stat(
            "Alert firing since", "Event time the firing alert of the detector on the series "
            "started; no value while none fires.",
            [query(f"max(berthwatch_alert_since_timestamp_seconds{{{ONE}}} > 0) * 1000",
                   "since")],
            unit="dateTimeAsIso", width=6, height=5))
        .with_panel(timeseries(
            "Alert state", "1 while a detector's alert fires on the series, by detector and "
            "severity.",
            [query(f"max by (detector, severity) (berthwatch_alert_active{{{SERIES}}})",
                   "{{detector}} {{severity}}")],
            unit="none", width=12, max_value=1))
        .with_panel(timeseries(
            "Lead time to the projected crossing", "How far ahead (event time) the crossing "
            "is projected, as the feed advances: an early warning shows here first.",
            [query("max by (series) (berthwatch_detector_crossing_timestamp_seconds"
                   f"{{{ONE}}}) - scalar(max(berthwatch_event_time_seconds))", "lead time")],
            unit="s", width=12, min_value=None))
    )
    return finish(board, [
        alert_annotation("Detector alerts",
                         "max by (detector, series, severity) "
                         f"(berthwatch_alert_active{{{SERIES}}}) > 0", "yellow",
                         title="{{detector}}", text="{{severity}} {{series}}",
                         tags="detector,severity"),
    ])
