"""Port overview: the queue of ships at each port, how fresh its data is, and its alerts."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import (
    ANCHORAGE_LIMIT,
    alert_annotation,
    finish,
    label_variable,
    query,
    stat,
    timeseries,
)

UID = "port-overview"
PORT = 'port=~"$port"'


def build() -> dict[str, Any]:
    """The dashboard's JSON model."""
    board = (
        dash_b.Dashboard("berthwatch: port overview").uid(UID)
        .description("Queue of ships waiting for a berth per port, freshness of each "
                     "port's feed, and the alerts that fired.")
        .tags(["berthwatch", "ports"]).editable().timezone("utc").time("now-24h", "now")
        .refresh("1m").tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .with_variable(label_variable("port", "Port", "berthwatch_vessels_waiting"))
        .with_panel(timeseries(
            "Vessels waiting", "Ships at anchor or loitering offshore waiting for a berth, "
            f"at the latest event time. The dashed line is the {ANCHORAGE_LIMIT} anchorages "
            "of San Pedro Bay (alert BerthwatchAnchoragesFull).",
            [query(f"max by (port) (berthwatch_vessels_waiting{{{PORT}}})", "{{port}}")],
            unit="none", width=16, height=9, limit=ANCHORAGE_LIMIT))
        .with_panel(stat(
            "Vessels waiting now", "Latest queue per port; red above the anchorages.",
            [query(f"max by (port) (berthwatch_vessels_waiting{{{PORT}}})", "{{port}}")],
            unit="none", width=8, height=9, limit=ANCHORAGE_LIMIT))
        .with_panel(stat(
            "Latest event time", "Feed time of the newest record processed for the port "
            "(alert BerthwatchFeedStale when it stops moving for 30 minutes).",
            [query(f"max by (port) (berthwatch_event_time_seconds{{{PORT}}}) * 1000",
                   "{{port}}")],
            unit="dateTimeAsIso", width=8, height=8))
        .with_panel(timeseries(
            "Event time advance", "Event time gained per minute of wall time: about 60 s/min "
            "for a live feed, much more during a replay, zero when the feed is stale.",
            [query(f"max by (port) (deriv(berthwatch_event_time_seconds{{{PORT}}}"
                   "[$__rate_interval])) * 60", "{{port}}")],
            unit="s", width=16, height=8))
        .with_panel(timeseries(
            "Firing alerts", "Alerts Prometheus holds as firing (the ALERTS series), by "
            "alert name and port; pipeline alerts carry no port.",
            [query('count by (alertname, port) (ALERTS{alertstate="firing", '
                   f'{PORT}}}) or count by (alertname) (ALERTS{{alertstate="firing", '
                   'category="pipeline"})', "{{alertname}} {{port}}")],
            unit="none", width=24, height=7))
    )
    return finish(board, [
        alert_annotation("Congestion alerts",
                         f'ALERTS{{alertstate="firing", category="congestion", {PORT}}}',
                         "red"),
        alert_annotation("Pipeline alerts", 'ALERTS{alertstate="firing", category="pipeline"}',
                         "orange"),
    ])
