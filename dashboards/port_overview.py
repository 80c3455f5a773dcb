"""Port overview: queue, waiting times, arrivals, terminals, supply, disruption and alerts.

Every figure is the latest closed interval of the port's feeds at scrape time, so
the x axis is wall time; during a replay a year of event time passes in minutes
(``berthwatch dashboards preview --event-time`` draws it on the calendar instead).
Detector alerts link to the detector drill-down at the same time range.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import (
    ANCHORAGE_LIMIT,
    DISRUPTION_INDEX_ALARM,
    DRILLDOWN_UID,
    SCORE_WARNING,
    SUPPLY_LIMIT_DAYS,
    TRUCK_DWELL_LIMIT_S,
    alert_annotation,
    dashboard_link,
    data_link,
    drilldown_url,
    finish,
    label_variable,
    query,
    series_of_port,
    stat,
    timeseries,
)

UID = "port-overview"
PORT = 'port=~"$port"'
TERMINAL = 'terminal=~"$terminal"'
SITE = 'site=~"$site"'
DETECTOR = 'detector=~"$detector"'
SERIES = f'series=~"{series_of_port()}"'
"""The detector series of the chosen ports and terminals (keys ``family|PORT[|TERMINAL]``)."""
ALERT_ACTIVE = f"max by (detector, series) (berthwatch_alert_active{{{DETECTOR}, {SERIES}}})"
"""1 while a detector alert fires on a series of the port (the preview marks its rises)."""
ALERT_SINCE = ("max by (detector, series) (berthwatch_alert_since_timestamp_seconds"
               f"{{{DETECTOR}, {SERIES}}} > 0)")
"""Event time each firing detector alert of the port started (the preview's event-time marks)."""


def _drilldown(detector: str | None = None, family: str | None = None) -> list[Any]:
    """A link to the drill-down of the clicked series, or of ``family|port`` for a port."""
    if detector is None or family is None:
        return [data_link("Open in detector drill-down", drilldown_url())]
    return [data_link(f"Open {detector} in detector drill-down",
                      drilldown_url(detector, f"{family}%7C${{__field.labels.port}}"))]


def build() -> dict[str, Any]:
    """The dashboard's JSON model."""
    board = (
        dash_b.Dashboard("berthwatch: port overview").uid(UID)
        .description("Queue of ships waiting for a berth, waiting times, arrivals, terminal "
                     "dwell, days of supply and the disruption index per port, with the "
                     "detector alerts and links to their drill-down.")
        .tags(["berthwatch", "ports"]).editable().timezone("utc").time("now-24h", "now")
        .refresh("1m").tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .link(dashboard_link("Detector drill-down", DRILLDOWN_UID))
        .link(dashboard_link("Pipeline health", "pipeline-health"))
        .with_variable(label_variable("port", "Port", "berthwatch_vessels_waiting"))
        .with_variable(label_variable("terminal", "Terminal", "berthwatch_boxes_on_terminal",
                                      PORT))
        .with_variable(label_variable("site", "Site", "berthwatch_days_of_supply"))
        .with_variable(label_variable("detector", "Detector", "berthwatch_detector_score"))
        # --- ships
        .with_panel(timeseries(
            "Vessels waiting", "Ships at anchor or loitering offshore waiting for a berth, "
            f"at the latest event time. The dashed line is the {ANCHORAGE_LIMIT} anchorages "
            "of San Pedro Bay (alert BerthwatchAnchoragesFull).",
            [query(f"max by (port) (berthwatch_vessels_waiting{{{PORT}}})", "{{port}}")],
            unit="none", width=16, height=9, limit=ANCHORAGE_LIMIT,
            links=_drilldown("queue_trend", "vessels_waiting")))
        .with_panel(stat(
            "Vessels waiting now", "Latest queue per port; red above the anchorages.",
            [query(f"max by (port) (berthwatch_vessels_waiting{{{PORT}}})", "{{port}}")],
            unit="none", width=8, height=9, limit=ANCHORAGE_LIMIT))
        .with_panel(timeseries(
            "Waiting time", "Waiting time (median and 90th percentile) of the ships that "
            "reached a berth in the latest interval; no value in an interval without arrivals.",
            [query(f"max by (port, quantile) (berthwatch_vessel_wait_seconds{{{PORT}}})",
                   "{{port}} p{{quantile}}")],
            unit="s", width=12))
        .with_panel(timeseries(
            "Arrivals and departures", "Ships reaching a berth and ships leaving one, per "
            "interval (an hour by default).",
            [query(f"max by (port) (berthwatch_vessel_arrivals{{{PORT}}})",
                   "arrivals {{port}}"),
             query(f"max by (port) (berthwatch_vessel_departures{{{PORT}}})",
                   "departures {{port}}")],
            unit="none", width=12))
        # --- terminals
        .with_panel(timeseries(
            "Boxes on terminal", "Containers discharged and not yet gone, by terminal; "
            'terminal "all" is the whole port.',
            [query(f"max by (port, terminal) (berthwatch_boxes_on_terminal{{{PORT}, "
                   f"{TERMINAL}}})", "{{port}} {{terminal}}")],
            unit="none", width=12))
        .with_panel(timeseries(
            "Boxes past dwell limits", "Containers on terminal aged past the truck (9 days) "
            "or rail (3 days) excess-dwell limit, by terminal (alert "
            "BerthwatchBoxesPastTruckLimit above 20% of a port's boxes).",
            [query(f"max by (port, terminal, limit) (berthwatch_boxes_past_limit{{{PORT}, "
                   f"{TERMINAL}}})", "{{port}} {{terminal}} past {{limit}}")],
            unit="none", width=12))
        .with_panel(timeseries(
            "Dwell p90 by terminal", "90th percentile dwell of the boxes that left in the "
            "latest interval, by truck and by rail. The dashed line is the 9-day truck limit "
            "(alert BerthwatchTruckDwellHigh); rail's is 3 days.",
            [query("max by (port, terminal, mode) (berthwatch_container_dwell_seconds"
                   f'{{{PORT}, {TERMINAL}, mode=~"truck|rail", quantile="0.9"}})',
                   "{{port}} {{terminal}} {{mode}}")],
            unit="s", width=12, limit=TRUCK_DWELL_LIMIT_S))
        # --- supply
        .with_panel(timeseries(
            "Days of supply", "Days of supply over each site's items (10th percentile and "
            "median) and of the most anomalous items. The dashed line is the 5-day limit "
            "(alert BerthwatchDaysOfSupplyLow on the 10th percentile).",
            [query(f"min by (site, quantile) (berthwatch_days_of_supply{{{SITE}}})",
                   "{{site}} p{{quantile}}"),
             query(f"min by (site, item) (berthwatch_item_days_of_supply{{{SITE}}})",
                   "{{site}} {{item}}")],
            unit="none", width=12, limit=SUPPLY_LIMIT_DAYS))
        .with_panel(stat(
            "Items under 5 days of supply", "Items of each site with fewer days of supply "
            "than the limit, now.",
            [query(f"max by (site) (berthwatch_items_below_supply_limit{{{SITE}}})",
                   "{{site}}")],
            unit="none", width=6, height=8, limit=1))
        .with_panel(timeseries(
            "Disruption index", "Composite disruption index of the port or region from its "
            "standardized queue, waiting time, dwell and boxes (0 is normal; the dashed line "
            "is the alarm at 3).",
            [query(f"max by (port) (berthwatch_disruption_index{{{PORT}}})", "{{port}}")],
            unit="none", width=6, height=8, limit=DISRUPTION_INDEX_ALARM, min_value=None,
            links=_drilldown("composite", "composite")))
        # --- detectors
        .with_panel(timeseries(
            "Detector scores", "Latest score of each detector on the port's series (and its "
            "terminals'); the dashed line is the 0.8 warning. Click a line to open it in the "
            "detector drill-down.",
            [query(f"max by (detector, series) (berthwatch_detector_score{{{DETECTOR}, "
                   f"{SERIES}}})", "{{detector}} {{series}}")],
            unit="none", width=12, limit=SCORE_WARNING, max_value=1, links=_drilldown()))
        .with_panel(timeseries(
            "Detector alerts", "1 while a berthwatch detector alert fires on a series of the "
            "port (berthwatch_alert_active). Click to open the drill-down.",
            [query(ALERT_ACTIVE, "{{detector}} {{series}}")],
            unit="none", width=12, max_value=1, links=_drilldown()))
        .with_panel(stat(
            "Detector alerts firing since", "Event time each firing detector alert started "
            "(berthwatch_alert_since_timestamp_seconds). Click to open the drill-down.",
            [query(f"{ALERT_SINCE} * 1000", "{{detector}} {{series}}")],
            unit="dateTimeAsIso", width=12, height=8, links=_drilldown()))
        .with_panel(stat(
            "Latest event time", "Feed time of the newest closed interval for the port "
            "(alert BerthwatchFeedStale when it stops moving for 30 minutes).",
            [query(f"max by (port) (berthwatch_event_time_seconds{{{PORT}}}) * 1000",
                   "{{port}}")],
            unit="dateTimeAsIso", width=8, height=7))
        .with_panel(timeseries(
            "Event time advance", "Event time gained per minute of wall time: about 60 s/min "
            "for a live feed, much more during a replay, zero when the feed is stale.",
            [query(f"max by (port) (deriv(berthwatch_event_time_seconds{{{PORT}}}"
                   "[$__rate_interval])) * 60", "{{port}}")],
            unit="s", width=16, height=7))
        .with_panel(timeseries(
            "Firing alerts", "Alerts Prometheus holds as firing (the ALERTS series): the "
            "port's congestion alerts, the sites' supply alerts and the pipeline's.",
            [query('count by (alertname, port) (ALERTS{alertstate="firing", '
                   f'{PORT}}}) or count by (alertname, site) (ALERTS{{alertstate="firing", '
                   f'category="supply", {SITE}}}) or count by (alertname) '
                   '(ALERTS{alertstate="firing", category="pipeline"})',
                   "{{alertname}} {{port}}{{site}}")],
            unit="none", width=24, height=7))
    )
    return finish(board, [
        alert_annotation("Detector alerts",
                         "max by (detector, series, severity) (berthwatch_alert_active"
                         f"{{{DETECTOR}, {SERIES}}}) > 0", "yellow",
                         title="{{detector}}", text="{{severity}} {{series}}",
                         tags="detector,severity"),
        alert_annotation("Congestion alerts",
                         f'ALERTS{{alertstate="firing", category="congestion", {PORT}}}',
                         "red"),
        alert_annotation("Supply alerts",
                         f'ALERTS{{alertstate="firing", category="supply", {SITE}}}',
                         "red", text="{{severity}} {{site}}"),
        alert_annotation("Pipeline alerts", 'ALERTS{alertstate="firing", category="pipeline"}',
                         "orange"),
    ])
