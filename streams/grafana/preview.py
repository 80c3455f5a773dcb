"""The preview of every dashboard: each time-series panel planned from Prometheus and
drawn to PNG, each stat panel's values listed, on one index page."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from streams.grafana.clock import EventClock
from streams.grafana.marks import alert_marks
from streams.grafana.models import load_dashboards
from streams.grafana.prometheus import (
    HttpPrometheus,
    Prometheus,
    literal_regex,
    parse_duration,
    series_arrays,
)
from streams.grafana.render import Line, PanelPlot, format_value, legend, render_panel

EVENT_TIME_DASHBOARDS = ("port-overview", "detector-drilldown")
"""Dashboards drawn against event time with ``--event-time``; the pipeline's figures are
about the workers, in wall time."""


def _break_backwards(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop unmapped points and break the line where event time goes back (a new replay).

    >>> x, y = _break_backwards(np.array([1.0, 2.0, np.nan, 0.5, 1.5]), np.arange(5.0))
    >>> x.tolist(), y.tolist()
    ([1.0, 2.0, nan, 0.5, 1.5], [0.0, 1.0, nan, 3.0, 4.0])
    """
    keep = np.isfinite(x)
    x, y = x[keep], y[keep]
    back = np.flatnonzero(np.diff(x) < 0) + 1
    return np.insert(x, back, np.nan), np.insert(y, back, np.nan)


def plan_panel(prom: Prometheus, uid: str, panel: dict[str, Any], expand: Callable[[str], str],
               start: float, end: float, step: int, clock: EventClock | None,
               marks: list[tuple[float, str]]) -> PanelPlot:
    """Query a time-series panel's targets and map them to event time if ``clock``."""
    lines = []
    for target in panel.get("targets", []):
        for s in prom.range(expand(target["expr"]), start, end, step):
            ts, vals = series_arrays(s["values"])
            x, y = ts, vals
            if clock is not None:
                x, y = _break_backwards(clock.map(s["metric"], ts), vals)
            if x.size == 0:
                continue
            lines.append(Line(legend(target.get("legendFormat", ""), s["metric"]),
                              s["metric"], x, y))
    if clock is None:
        return PanelPlot(uid, panel, lines, marks, (start, end), False)
    xs = np.concatenate([line.x for line in lines] + [np.array([x for x, _ in marks])])
    xs = xs[np.isfinite(xs)]
    xlim = (float(xs.min()), float(xs.max())) if xs.size else (start, end)
    if xlim[0] == xlim[1]:
        xlim = (xlim[0] - 3600, xlim[1] + 3600)
    shown = [m for m in marks if xlim[0] <= m[0] <= xlim[1]]
    return PanelPlot(uid, panel, lines, shown, xlim, True)


def busiest_series(prom: Prometheus, variables: dict[str, str], seconds: int,
                   at: float) -> dict[str, str]:
    """The detector and series with the highest score in the window among those the
    variables allow (for the drill-down when ``--detector`` or ``--series`` is not
    given); empty when no detector scored."""
    from dashboards.common import series_of_port

    series = variables.get("series", series_of_port(variables.get("port", ".*"), ".*"))
    detector = variables.get("detector", ".*")
    expr = ("topk(1, max by (detector, series) (max_over_time(berthwatch_detector_score"
            f'{{detector=~"{detector}", series=~"{series}"}}[{seconds}s])))')
    for s in prom.instant(expr, at):
        labels = s["metric"]
        if labels.get("detector") and labels.get("series"):
            return {"detector": literal_regex(labels["detector"]),
                    "series": literal_regex(labels["series"])}
    return {}


def preview_dashboards(prom_url: str, out: Path, since: str, values: dict[str, str],
                       now: float | None = None, event_time: bool = False,
                       step: int | None = None, prom: Prometheus | None = None,
                       extra_marks: list[tuple[float, str]] | None = None) -> Path:
    """Draw every time-series panel of every dashboard to PNG and list every stat panel's
    values; return ``out/index.html``. ``values`` are the dashboards' variables (regex
    bodies); a missing ``detector`` or ``series`` is the window's highest-scoring one."""
    if prom is None:
        with httpx.Client(timeout=30) as client:
            return preview_dashboards(prom_url, out, since, values, now, event_time, step,
                                      HttpPrometheus(client, prom_url), extra_marks)
    seconds = parse_duration(since)
    end = time.time() if now is None else now
    start = end - seconds
    if step is None:
        step = max(5, math.ceil(seconds / 2000)) if event_time else \
            max(15, math.ceil(seconds / 300))
    variables = {"__interval": f"{step}s", "__rate_interval": f"{max(4 * step, 60)}s",
                 "__range": f"{seconds}s", "port": ".*", "terminal": ".*", "site": ".*",
                 "topic": ".*", "stage": ".*", **values}
    if "detector" not in variables or "series" not in variables:
        variables = {**busiest_series(prom, variables, seconds, end), **variables}
    variables.setdefault("detector", ".*")
    variables.setdefault("series", ".*")
    DASHBOARDS, substitute = load_dashboards()

    def expand(expr: str) -> str:
        return str(substitute(expr, variables))

    clock = None
    if event_time:
        clock = EventClock.from_matrix(
            prom.range("max by (port) (berthwatch_event_time_seconds)", start, end, step))
    marks = sorted({*alert_marks(prom, expand, start, end, step, event_time),
                    *(extra_marks or [])})
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for uid, build in sorted(DASHBOARDS.items()):
        model = build()
        on_event_time = clock if uid in EVENT_TIME_DASHBOARDS else None
        items = []
        for panel in model.get("panels", []):
            if panel.get("type") == "stat":
                items.append(_stat_html(prom, panel, expand, end))
            if panel.get("type") != "timeseries":
                continue
            plot = plan_panel(prom, uid, panel, expand, start, end, step, on_event_time,
                              marks if uid == "port-overview" else [])
            name = f"{uid}-{panel['id']:02d}.png"
            render_panel(plot, out / name, since)
            items.append(f'<figure><img src="{name}" alt="{html.escape(panel["title"])}">'
                         f"<figcaption>{html.escape(panel.get('description', ''))}"
                         "</figcaption></figure>")
        sections.append(f'<section id="{uid}"><h2>{html.escape(model["title"])}</h2>'
                        + "\n".join(items) + "</section>")
    index = out / "index.html"
    index.write_text(_index_page(prom_url, since, end, step, event_time, variables,
                                 sorted(DASHBOARDS), sections), encoding="utf-8")
    return index


def _index_page(prom_url: str, since: str, end: float, step: int, event_time: bool,
                variables: dict[str, str], uids: list[str], sections: list[str]) -> str:
    """The preview's ``index.html``: what was queried, links to each dashboard, and the
    dashboards' sections."""
    shown = {k: v for k, v in variables.items() if not k.startswith("__")}
    chosen = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    axis = "event time for the port panels" if event_time else "wall time"
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>berthwatch dashboards"
        "</title><style>body{font-family:sans-serif;margin:2em}figure{margin:1em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:90%}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{padding:.1em .8em;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>\n"
        f"<h1>berthwatch dashboards</h1><p>Prometheus {html.escape(prom_url)}, last "
        f"{html.escape(since)} to {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(end))}"
        f" (step {step} s), drawn against {axis}; variables: {html.escape(chosen)}.</p>\n<ul>"
        + "".join(f'<li><a href="#{uid}">{uid}</a></li>' for uid in uids)
        + "</ul>\n" + "\n".join(sections) + "\n</body></html>\n")


def _stat_html(prom: Prometheus, panel: dict[str, Any], expand: Callable[[str], str],
               at: float) -> str:
    """A stat panel as a small table of its series' values at ``at``."""
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    rows = []
    for target in panel.get("targets", []):
        for s in prom.instant(expand(target["expr"]), at):
            label = legend(target.get("legendFormat", ""), s["metric"])
            rows.append(f"<tr><td>{html.escape(label)}</td>"
                        f"<td>{html.escape(format_value(float(s['value'][1]), unit))}</td></tr>")
    body = "".join(rows) or '<tr><td colspan="2">no data</td></tr>'
    return (f'<div class="stat"><h3>{html.escape(panel["title"])}</h3><table>{body}</table>'
            f"<p><small>{html.escape(panel.get('description', ''))}</small></p></div>")
