"""Where detector alerts started, as vertical marks on the port overview's time axis."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from streams.grafana.prometheus import Prometheus, series_arrays
from streams.series import SeriesKey
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.detection import AlertTransition


def rising_edges(ts: np.ndarray, values: np.ndarray, step: float) -> list[float]:
    """Wall times where a 0/1 series rises to 1: from 0, or after a gap of more than a
    step (a range query omits missing samples). A series already at 1 at the first
    sample rose before the window: not an edge.

    >>> rising_edges(np.array([0, 60, 120, 180, 420]), np.array([0, 1, 1, 0, 1]), 60)
    [60.0, 420.0]
    """
    edges = []
    for i in range(1, len(ts)):
        if values[i] >= 1 and (values[i - 1] < 1 or ts[i] - ts[i - 1] > 1.5 * step):
            edges.append(float(ts[i]))
    return edges


def since_marks(matrix: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """Event times (x, detector) alerts started, from ``berthwatch_alert_since_timestamp_seconds``
    samples: every distinct non-zero value of each series, once per detector and time.

    >>> m = [{"metric": {"detector": "queue_trend", "series": "vessels_waiting|USLAX"},
    ...       "values": [[1, "1.6e9"], [2, "1.6e9"], [3, "1.7e9"]]}]
    >>> since_marks(m)
    [(1600000000.0, 'queue_trend'), (1700000000.0, 'queue_trend')]
    """
    marks = set()
    for s in matrix:
        _, vals = series_arrays(s["values"])
        for v in np.unique(vals[np.isfinite(vals) & (vals > 0)]):
            marks.add((float(v), s["metric"].get("detector", "alert")))
    return sorted(marks)


#: detectors whose firing transitions mark the port overview's panels
PORT_DETECTORS = ("queue_trend", "changes", "composite")


def firing_marks(transitions: Iterable[AlertTransition], port: str) -> list[tuple[float, str]]:
    """Event times of the port-level congestion alerts that fired, from alerts-topic records.

    >>> from streams.detection import AlertTransition as A
    >>> def t(state: str, detector: str, ts: float, series: str) -> A:
    ...     return A("k", state, series, detector, "warning", ts, ts, 1, 1, 1, 1, 1, 1, 1, 1, "")
    >>> firing_marks([t("firing", "queue_trend", 5.0, "vessels_waiting|USLAX"),
    ...               t("resolved", "queue_trend", 9.0, "vessels_waiting|USLAX"),
    ...               t("firing", "supply_trend", 7.0, "days_of_supply|S|I")], "USLAX|USLGB")
    [(5.0, 'queue_trend')]
    """
    pattern = re.compile(f"^(?:{port})$")
    out = set()
    for t in transitions:
        key = SeriesKey.parse(t.series)
        if (t.state == "firing" and t.detector in PORT_DETECTORS
                and len(key.fields) == 1 and pattern.match(key.fields[0])):
            out.add((t.ts, t.detector))
    return sorted(out)


def topic_marks(settings: Settings, port: str) -> list[tuple[float, str]]:
    """:func:`firing_marks` of the alerts topic; none (with a note) when Kafka is away."""
    from aiokafka.errors import KafkaError

    from streams.tools.demo import alert_history

    try:
        return firing_marks(alert_history(settings), port)
    except (KafkaError, OSError) as e:
        click.echo(f"alerts topic not readable ({e}); marks from Prometheus only", err=True)
        return []


def alert_marks(prom: Prometheus, expand: Callable[[str], str], start: float, end: float,
                step: int, event_time: bool) -> list[tuple[float, str]]:
    """The port overview's detector alert starts: event times (from
    ``berthwatch_alert_since_timestamp_seconds``) or wall times (rises of
    ``berthwatch_alert_active`` to 1)."""
    from dashboards import port_overview

    if event_time:
        return since_marks(prom.range(expand(port_overview.ALERT_SINCE), start, end, step))
    marks = set()
    for s in prom.range(expand(port_overview.ALERT_ACTIVE), start, end, step):
        ts, vals = series_arrays(s["values"])
        for x in rising_edges(ts, vals, step):
            marks.add((x, s["metric"].get("detector", "alert")))
    return sorted(marks)
