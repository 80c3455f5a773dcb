"""Detector alert transitions as Alertmanager receives them: summary, runbook, links.

A :class:`~streams.detection.AlertTransition` (what the detection stage decided) becomes
an Alertmanager alert (:func:`to_alertmanager`) named after what is happening, with
labels from bounded sets (``port``, ``terminal``, ``site``, ``series``, ``detector``,
``severity``, ``category``: :func:`streams.alerting.labels_of`) so the routes and
inhibitions of ``deploy/alertmanager/alertmanager.yml`` apply, the explanation as
description, a link that opens the detector drill-down dashboard on the series
around the transition's event time (``grafana_url``) and one to its runbook section
(``docs_url``). (The alerts topic's record of the same transition
is :func:`streams.kafka.records.encode_alert`.)

>>> from streams.detection import AlertTransition as A
>>> a = A("k1", "firing", "vessels_waiting|USLAX", "queue_trend", "warning", 1.6e9, 1.6e9,
...       40.0, 30.0, 0.9, 55.0, 9e5, 6e5, 1.2e6, 1.6009e9, "queue building")
>>> am = to_alertmanager(a, "http://grafana:3000")
>>> am.name, am.labels["port"], am.labels["category"], am.firing
('BerthwatchQueueBuilding', 'USLAX', 'congestion', True)
"""

from __future__ import annotations

import math
import urllib.parse

from streams import alerting
from streams.alerting import GENERIC_NAME, NAMES, labels_of
from streams.detection import AlertTransition
from streams.times import DAY, iso

#: detector route -> section of docs/RUNBOOK.md
RUNBOOK: dict[str, str] = {
    "queue_trend": "queue", "changes": "build-up", "dwell_truck_trend": "dwell",
    "dwell_rail_trend": "dwell", "supply_trend": "supply", "composite": "disruption",
    "staleness": "series-stale",
}  # fmt: skip
DRILLDOWN_UID = "detector-drilldown"


def dashboard_link(grafana_url: str, a: AlertTransition) -> str:
    """The drill-down dashboard on the series, 30 days before to 7 days after the event."""
    q = urllib.parse.urlencode({
        "var-series": a.series, "var-detector": a.detector,
        "from": int((a.ts - 30 * DAY) * 1000), "to": int((a.ts + 7 * DAY) * 1000),
    })  # fmt: skip
    return f"{grafana_url.rstrip('/')}/d/{DRILLDOWN_UID}?{q}"


def runbook_link(docs_url: str | None, detector: str) -> str:
    """The runbook section of a detector's alerts: absolute under ``docs_url`` (where the
    docs are published), else the repository path.

    >>> runbook_link("https://docs.example/berthwatch/docs/", "dwell_rail_trend")
    'https://docs.example/berthwatch/docs/RUNBOOK.md#dwell'
    >>> runbook_link(None, "queue_trend")
    'docs/RUNBOOK.md#queue'
    """
    section = RUNBOOK.get(detector, "queue")
    if docs_url:
        return f"{docs_url.rstrip('/')}/RUNBOOK.md#{section}"
    return f"docs/RUNBOOK.md#{section}"


def to_alertmanager(a: AlertTransition, grafana_url: str,
                    docs_url: str | None = None) -> alerting.AlertmanagerAlert:
    """The Alertmanager alert of a transition, its links under ``grafana_url`` (the
    drill-down dashboard) and ``docs_url`` (the runbook)."""
    name, _, meaning = NAMES.get(a.detector, (GENERIC_NAME, "congestion", a.detector))
    firing = a.state == "firing"
    summary = f"{a.series}: {meaning}" if firing else f"{a.series}: back to normal"
    annotations = {"dashboard_url": dashboard_link(grafana_url, a),
                   "runbook_url": runbook_link(docs_url, a.detector),
                   "value": f"{a.value:.4g}"}
    if math.isfinite(a.crossing_ts) and a.eta_seconds > 0:
        annotations["projected_crossing"] = iso(a.crossing_ts)
    return alerting.AlertmanagerAlert(
        key=a.key,
        name=name,
        severity=a.severity,
        labels=labels_of(a),
        summary=summary,
        description=a.explanation,
        starts_at=min(a.since, a.ts),
        ends_at=None if firing else a.ts,
        annotations=annotations,
    )
