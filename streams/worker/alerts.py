"""Detector alert transitions as an operator receives them: names, labels, links.

A :class:`~streams.detection.AlertTransition` (what the detection stage decided) becomes

* a record of the compacted alerts topic, keyed by the alert key: the whole
  transition as JSON (:func:`to_record`), read back by :func:`from_record`;
* an Alertmanager alert (:func:`to_alertmanager`) named after what is
  happening, with labels from bounded sets (``port``, ``terminal``, ``site``,
  ``series``, ``detector``, ``severity``, ``category``) so the routes and
  inhibitions of ``deploy/alertmanager/alertmanager.yml`` apply, the
  explanation as description, and a link that opens the detector drill-down
  dashboard on the series around the transition's event time.

>>> from streams.detection import AlertTransition as A
>>> a = A("k1", "firing", "vessels_waiting|USLAX", "queue_trend", "warning", 1.6e9, 1.6e9,
...       40.0, 30.0, 0.9, 55.0, 9e5, 6e5, 1.2e6, 1.6009e9, "queue building")
>>> am = to_alertmanager(a, "http://grafana:3000")
>>> am.name, am.labels["port"], am.labels["category"], am.firing
('BerthwatchQueueBuilding', 'USLAX', 'congestion', True)
>>> from_record(to_record(a)).ts == a.ts
True
"""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any

from streams import alerting
from streams.detection import AlertTransition
from streams.times import iso

#: detector route -> (Alertmanager alert name, category, what it means)
NAMES: dict[str, tuple[str, str, str]] = {
    "queue_trend": ("BerthwatchQueueBuilding", "congestion",
                    "the queue of ships waiting is projected to reach the anchorage limit"),
    "queue_level": ("BerthwatchQueueAboveBaseline", "congestion",
                    "more ships are waiting than the port's recent baseline"),
    "dwell_truck_trend": ("BerthwatchTruckDwellRising", "congestion",
                          "truck dwell of import boxes is projected to pass its limit"),
    "dwell_rail_trend": ("BerthwatchRailDwellRising", "congestion",
                         "rail dwell of import boxes is projected to pass its limit"),
    "supply_trend": ("BerthwatchSupplyRunningLow", "supply",
                     "days of supply are projected to fall below the limit"),
    "composite": ("BerthwatchDisruption", "congestion",
                  "several congestion signals of the port or region are abnormal together"),
    "staleness": ("BerthwatchSeriesStale", "pipeline",
                  "a series stopped updating: its feed may be stale"),
}
#: detector route -> section of docs/RUNBOOK.md
RUNBOOK: dict[str, str] = {
    "queue_trend": "queue", "queue_level": "queue", "dwell_truck_trend": "dwell",
    "dwell_rail_trend": "dwell", "supply_trend": "supply", "composite": "disruption",
    "staleness": "series-stale",
}  # fmt: skip
DRILLDOWN_UID = "detector-drilldown"
DAY = 86400.0


def labels_of(a: AlertTransition) -> dict[str, str]:
    """Bounded labels of a transition, from its series key."""
    parts = a.series.split("|")
    _, category, _ = NAMES.get(a.detector, ("", "congestion", ""))
    labels = {"series": a.series, "detector": a.detector, "category": category}
    if parts[0] in ("days_of_supply", "drawdown", "days_of_supply_p10", "days_of_supply_p50",
                    "below_limit"):
        labels["site"] = parts[1] if len(parts) > 1 else ""
        if len(parts) > 2:
            labels["item"] = parts[2]
    elif len(parts) > 1:
        labels["port"] = parts[1]
        if len(parts) > 2:
            labels["terminal"] = parts[2]
    return labels


def dashboard_link(grafana_url: str, a: AlertTransition) -> str:
    """The drill-down dashboard on the series, 30 days before to 7 days after the event."""
    q = urllib.parse.urlencode({
        "var-series": a.series, "var-detector": a.detector,
        "from": int((a.ts - 30 * DAY) * 1000), "to": int((a.ts + 7 * DAY) * 1000),
    })  # fmt: skip
    return f"{grafana_url.rstrip('/')}/d/{DRILLDOWN_UID}?{q}"


def to_alertmanager(a: AlertTransition, grafana_url: str) -> alerting.AlertmanagerAlert:
    name, _, meaning = NAMES.get(a.detector, ("BerthwatchDetector", "congestion", a.detector))
    firing = a.state == "firing"
    summary = f"{a.series}: {meaning}" if firing else f"{a.series}: back to normal"
    annotations = {"dashboard_url": dashboard_link(grafana_url, a),
                   "runbook_url": f"docs/RUNBOOK.md#{RUNBOOK.get(a.detector, 'queue')}",
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


def to_record(a: AlertTransition) -> bytes:
    """The alerts topic's value: the transition with its name and labels."""
    body = a.as_dict()
    name = NAMES.get(a.detector, ("BerthwatchDetector", "", ""))[0]
    body.update({"name": name, "labels": labels_of(a)})
    return json.dumps(body, sort_keys=True).encode()


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def from_record(data: bytes) -> AlertTransition:
    """Read an alerts-topic value back into the transition."""
    d = json.loads(data)
    return AlertTransition(
        key=d["key"], state=d["state"], series=d["series"], detector=d["detector"],
        severity=d["severity"], ts=float(d["ts"]), since=float(d["since"]),
        value=_num(d["value"]), expected=_num(d["expected"]), score=_num(d["score"]),
        limit=_num(d["limit"]), eta_seconds=_num(d["eta_seconds"]),
        eta_lower=_num(d["eta_lower"]), eta_upper=_num(d["eta_upper"]),
        crossing_ts=_num(d["crossing_ts"]), explanation=d["explanation"],
        components=tuple((str(c[0]), float(c[1]), float(c[2])) for c in d["components"]),
    )  # fmt: skip
