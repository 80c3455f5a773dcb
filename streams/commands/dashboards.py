"""``berthwatch dashboards``: preview the dashboards from live Prometheus, push them to Grafana.

``preview`` draws every time-series panel of every dashboard with matplotlib from
Prometheus's range queries, and lists the stat panels' values as text, so the
dashboards can be checked without a Grafana server. With ``--event-time`` the
port panels are drawn against event time: each sample's wall time is mapped to
``berthwatch_event_time_seconds`` of its port, so a replay that pushed a year
through in minutes shows on a calendar axis, with the detector alerts' starts as
vertical lines. ``push`` uploads the generated models into the ``berthwatch``
folder of a Grafana with grafana-client (the ``[grafana]`` extra) and adds one
annotation per replay run recorded in ``<stack_dir>/replays.jsonl``.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import click
import httpx
import numpy as np

from streams.commands.common import settings_from
from streams.settings import Settings

FOLDER = "berthwatch"
TOKEN_ENV = "BERTHWATCH_GRAFANA_TOKEN"
REPLAYS_FILE = "replays.jsonl"
REPLAY_TAGS = ["berthwatch", "replay"]
"""Tags of the replay annotations; the dashboards' "Replays" annotation shows them
(``dashboards.common.REPLAY_TAGS``, kept equal by a test)."""
EVENT_TIME_DASHBOARDS = ("port-overview", "detector-drilldown")
"""Dashboards drawn against event time with ``--event-time``; the pipeline's figures are
about the workers, in wall time."""
MAX_POINTS = 11_000
"""Prometheus refuses range queries of more points per series than this."""
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _dashboards() -> tuple[dict[str, Any], Any]:
    """The dashboards as code (they need the Grafana SDK of the ``[grafana]`` extra)."""
    try:
        from dashboards import DASHBOARDS, substitute
    except ImportError as e:
        raise click.ClickException(
            f"{e.name} is missing: pip install 'berthwatch[grafana]'"
        ) from None
    return dict(DASHBOARDS), substitute


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as ``90m`` or ``1h``.

    >>> parse_duration("1h"), parse_duration("15s")
    (3600, 15)
    """
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 2d")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def _legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend with the series' labels."""
    if not template or template == "__auto":
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return f"{labels.get('__name__', '')}{{{inner}}}"
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return " ".join(text.split()) or "value"


def literal_regex(value: str) -> str:
    r"""A literal label value as the body of a PromQL ``=~"..."`` regex, as Grafana
    formats a variable: regex metacharacters escaped, backslashes doubled for the string.

    >>> print(literal_regex("vessels_waiting|USLAX"))
    vessels_waiting\\|USLAX
    """
    return re.escape(value).replace("\\", "\\\\")


# --------------------------------------------------------------------------- Prometheus


class Prometheus(Protocol):
    """The two queries the preview makes (a fake in tests, HTTP otherwise)."""

    def range(self, expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        """The matrix of a range query."""

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        """The vector of an instant query."""


class HttpPrometheus:
    """Prometheus's HTTP API; an error is one line (``click.ClickException``)."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url = client, url.rstrip("/")

    def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            resp = self.client.get(f"{self.url}{path}", params=params)
        except httpx.HTTPError as e:
            raise click.ClickException(f"Prometheus at {self.url} is unreachable ({e}); "
                                       "is the stack up? `berthwatch stack up`") from None
        ctype = resp.headers.get("content-type", "")
        body = resp.json() if ctype.startswith("application/json") else {}
        if body.get("status") != "success":
            raise click.ClickException(f"Prometheus rejected {params['query']!r}: "
                                       f"{body.get('error', resp.text[:200])}")
        return body["data"]["result"]

    def range(self, expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            "/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                    "end": f"{end:.3f}", "step": str(step)})
        return result

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/query",
                                                 {"query": expr, "time": f"{at:.3f}"})
        return result


def query_range(client: httpx.Client, prom_url: str, expr: str, start: float, end: float,
                step: int) -> list[dict[str, Any]]:
    """The matrix of a range query; a Prometheus error raises ``click.ClickException``."""
    return HttpPrometheus(client, prom_url).range(expr, start, end, step)


# --------------------------------------------------------------------------- event time


def port_of(labels: dict[str, str]) -> str | None:
    """The port (or region) a series is about: its ``port`` label, else the second field
    of its ``series`` key (``family|PORT[|TERMINAL]``), else None.

    >>> port_of({"port": "USLAX"}), port_of({"series": "dwell_truck_p90|USLGB|LBCT"})
    ('USLAX', 'USLGB')
    >>> port_of({"topic": "berthwatch.positions"}) is None
    True
    """
    if labels.get("port"):
        return labels["port"]
    parts = labels.get("series", "").split("|")
    return parts[1] if len(parts) > 1 and parts[1] else None


def to_event_time(ts: np.ndarray, clock_ts: np.ndarray, clock_event: np.ndarray) -> np.ndarray:
    """Event time of each wall time ``ts``, interpolated linearly between the clock's
    samples (wall time ``clock_ts`` -> event time ``clock_event``); NaN outside the clock.

    >>> to_event_time(np.array([5.0, 15.0, 30.0]), np.array([10.0, 20.0]),
    ...               np.array([1000.0, 2000.0])).tolist()
    [nan, 1500.0, nan]
    """
    out = np.full(ts.shape, np.nan)
    ok = np.isfinite(clock_event) & (clock_event > 0)
    if ok.sum() == 0:
        return out
    cts, cev = clock_ts[ok], clock_event[ok]
    inside = (ts >= cts[0]) & (ts <= cts[-1])
    out[inside] = np.interp(ts[inside], cts, cev)
    return out


@dataclass
class EventClock:
    """Wall time -> event time per port, from ``berthwatch_event_time_seconds`` samples."""

    ports: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_matrix(cls, matrix: list[dict[str, Any]]) -> EventClock:
        """From a range query of ``max by (port) (berthwatch_event_time_seconds)``."""
        ports = {}
        for s in matrix:
            port = s["metric"].get("port")
            if port:
                ts, vals = _arrays(s["values"])
                ports[port] = (ts, vals)
        return cls(ports)

    def newest(self) -> tuple[np.ndarray, np.ndarray]:
        """The newest event time of any port at each wall time (for series of no port)."""
        if not self.ports:
            return np.array([]), np.array([])
        ts = np.unique(np.concatenate([t for t, _ in self.ports.values()]))
        ev = np.full(ts.shape, -np.inf)
        for t, v in self.ports.values():
            ev[np.searchsorted(ts, t)] = np.maximum(ev[np.searchsorted(ts, t)], v)
        return ts, np.where(np.isfinite(ev), ev, np.nan)

    def map(self, labels: dict[str, str], ts: np.ndarray) -> np.ndarray:
        """Event time of the wall times ``ts`` of a series with ``labels``."""
        port = port_of(labels)
        clock = self.ports[port] if port in self.ports else self.newest()
        return to_event_time(ts, *clock)


def _arrays(values: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    ts = np.asarray([float(t) for t, _ in values], dtype=float)
    vals = np.asarray([float(v) for _, v in values], dtype=float)
    return ts, vals


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
        _, vals = _arrays(s["values"])
        for v in np.unique(vals[np.isfinite(vals) & (vals > 0)]):
            marks.add((float(v), s["metric"].get("detector", "alert")))
    return sorted(marks)


# --------------------------------------------------------------------------- rendering


@dataclass
class Line:
    """One series of a panel: its legend, labels and points (x in seconds, wall or event)."""

    label: str
    labels: dict[str, str]
    x: np.ndarray
    y: np.ndarray


@dataclass
class PanelPlot:
    """What one time-series panel draws."""

    uid: str
    panel: dict[str, Any]
    lines: list[Line]
    marks: list[tuple[float, str]]
    xlim: tuple[float, float]
    event_time: bool


def format_value(value: float, unit: str) -> str:
    """A stat panel's value as Grafana would show it, roughly.

    >>> format_value(1.6348608e12, "dateTimeAsIso"), format_value(90061, "s")
    ('2021-10-22 00:00:00', '1d 1h 1m')
    >>> format_value(0.25, "percentunit"), format_value(42.0, "none")
    ('25.0%', '42')
    """
    if not math.isfinite(value):
        return "-"
    if unit.startswith("dateTime"):
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if unit == "s":
        sign, rest = ("-" if value < 0 else ""), abs(round(float(value)))
        parts = [(rest // 86400, "d"), (rest % 86400 // 3600, "h"), (rest % 3600 // 60, "m")]
        text = " ".join(f"{n}{u}" for n, u in parts if n) or f"{rest}s"
        return sign + text
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _render(plot: PanelPlot, path: Path, since: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def when(seconds: np.ndarray) -> np.ndarray:
        # a date matplotlib can draw (years 1..9999), or NaT
        ok = np.isfinite(seconds) & (np.abs(seconds) < 253_402_300_800)
        ms = np.where(ok, np.round(seconds * 1000), 0).astype("int64")
        return np.where(ok, ms.astype("datetime64[ms]"), np.datetime64("NaT"))

    panel = plot.panel
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit", "")
    date_values = unit.startswith("dateTime")
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    try:
        drawn = {}
        for line in plot.lines:
            y = when(line.y / 1000) if date_values else line.y
            (drawn[line.label],) = ax.plot(when(line.x), y, label=line.label, linewidth=1.2)
        _fill_bands(ax, panel, plot.lines, when)
        if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off") != "off":
            for step in defaults.get("thresholds", {}).get("steps", []):
                if step.get("value") is not None:
                    ax.axhline(step["value"], color=step.get("color", "red"),
                               linestyle="--", linewidth=1)
        colors: dict[str, Any] = {}
        for x, detector in plot.marks:
            first = detector not in colors
            colors.setdefault(detector, plt.get_cmap("tab10")(len(colors) % 10))
            ax.axvline(when(np.array([x]))[0], color=colors[detector], linestyle=":",
                       linewidth=1, label=f"alert {detector}" if first else None)
        axis = "event time" if plot.event_time else "wall time"
        ax.set_title(f"{panel['title']} ({axis}, last {since} of wall time)", fontsize=11)
        if unit and unit not in ("none", "short") and not date_values:
            ax.set_ylabel(unit)
        ax.set_xlim(*when(np.array(plot.xlim)))
        locator = mdates.AutoDateLocator(tz=UTC)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
        ax.set_xlabel(f"{axis} (UTC)")
        if defaults.get("min") is not None and not date_values:
            ax.set_ylim(bottom=defaults["min"])
        ax.grid(alpha=0.3)
        if plot.lines or plot.marks:
            ax.legend(fontsize=8, loc="upper left")
        if not plot.lines:
            ax.text(0.5, 0.9, "no data", transform=ax.transAxes, ha="center", va="center",
                    color="grey")
        with warnings.catch_warnings():  # a long legend can leave no room: draw anyway
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _fill_bands(ax: Any, panel: dict[str, Any], lines: list[Line],
                when: Callable[[np.ndarray], np.ndarray]) -> None:
    """Grafana's ``custom.fillBelowTo`` overrides: fill between two series by legend."""
    by_label = {line.label: line for line in lines}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        upper = by_label.get(matcher.get("options")) if matcher.get("id") == "byName" else None
        for prop in override.get("properties", []):
            if upper is None or prop.get("id") != "custom.fillBelowTo":
                continue
            lower = by_label.get(prop.get("value"))
            if lower is None or upper.x.size < 2 or lower.x.size < 2:
                continue
            order = np.argsort(lower.x)
            under = np.interp(upper.x, lower.x[order], lower.y[order], left=np.nan,
                              right=np.nan)
            ax.fill_between(when(upper.x), under, upper.y, alpha=0.2, linewidth=0)


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
            ts, vals = _arrays(s["values"])
            x, y = ts, vals
            if clock is not None:
                x, y = _break_backwards(clock.map(s["metric"], ts), vals)
            if x.size == 0:
                continue
            lines.append(Line(_legend(target.get("legendFormat", ""), s["metric"]),
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


#: detectors whose firing transitions mark the port overview's panels
PORT_DETECTORS = ("queue_trend", "queue_level", "composite")


def firing_marks(transitions: list[dict[str, Any]], port: str) -> list[tuple[float, str]]:
    """Event times of the port-level congestion alerts that fired, from alerts-topic records.

    >>> firing_marks([{"state": "firing", "detector": "queue_trend", "ts": 5.0,
    ...                "series": "vessels_waiting|USLAX"},
    ...               {"state": "resolved", "detector": "queue_trend", "ts": 9.0,
    ...                "series": "vessels_waiting|USLAX"},
    ...               {"state": "firing", "detector": "supply_trend", "ts": 7.0,
    ...                "series": "days_of_supply|S|I"}], "USLAX|USLGB")
    [(5.0, 'queue_trend')]
    """
    pattern = re.compile(f"^(?:{port})$")
    out = set()
    for t in transitions:
        parts = str(t.get("series", "")).split("|")
        if (t.get("state") == "firing" and t.get("detector") in PORT_DETECTORS
                and len(parts) == 2 and pattern.match(parts[1])):
            out.add((float(t["ts"]), str(t["detector"])))
    return sorted(out)


def topic_marks(settings: Settings, port: str) -> list[tuple[float, str]]:
    """:func:`firing_marks` of the alerts topic; none (with a note) when Kafka is away."""
    from kafka.errors import KafkaError

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
        ts, vals = _arrays(s["values"])
        for x in rising_edges(ts, vals, step):
            marks.add((x, s["metric"].get("detector", "alert")))
    return sorted(marks)


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
    DASHBOARDS, substitute = _dashboards()

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
            _render(plot, out / name, since)
            items.append(f'<figure><img src="{name}" alt="{html.escape(panel["title"])}">'
                         f"<figcaption>{html.escape(panel.get('description', ''))}"
                         "</figcaption></figure>")
        sections.append(f'<section id="{uid}"><h2>{html.escape(model["title"])}</h2>'
                        + "\n".join(items) + "</section>")
    shown = {k: v for k, v in variables.items() if not k.startswith("__")}
    chosen = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    axis = "event time for the port panels" if event_time else "wall time"
    index = out / "index.html"
    index.write_text(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>berthwatch dashboards"
        "</title><style>body{font-family:sans-serif;margin:2em}figure{margin:1em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:90%}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{padding:.1em .8em;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>\n"
        f"<h1>berthwatch dashboards</h1><p>Prometheus {html.escape(prom_url)}, last "
        f"{html.escape(since)} to {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(end))}"
        f" (step {step} s), drawn against {axis}; variables: {html.escape(chosen)}.</p>\n<ul>"
        + "".join(f'<li><a href="#{uid}">{uid}</a></li>' for uid in sorted(DASHBOARDS))
        + "</ul>\n" + "\n".join(sections) + "\n</body></html>\n", encoding="utf-8")
    return index


def _stat_html(prom: Prometheus, panel: dict[str, Any], expand: Callable[[str], str],
               at: float) -> str:
    """A stat panel as a small table of its series' values at ``at``."""
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    rows = []
    for target in panel.get("targets", []):
        for s in prom.instant(expand(target["expr"]), at):
            label = _legend(target.get("legendFormat", ""), s["metric"])
            rows.append(f"<tr><td>{html.escape(label)}</td>"
                        f"<td>{html.escape(format_value(float(s['value'][1]), unit))}</td></tr>")
    body = "".join(rows) or '<tr><td colspan="2">no data</td></tr>'
    return (f'<div class="stat"><h3>{html.escape(panel["title"])}</h3><table>{body}</table>'
            f"<p><small>{html.escape(panel.get('description', ''))}</small></p></div>")


# --------------------------------------------------------------------------- replay runs


def replay_annotations(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Grafana annotation payloads, one per replay run of a ``replays.jsonl`` text, and
    the problems of the lines that were skipped.

    Each payload has the keyword arguments of grafana-client's
    ``annotations.add_annotation``: the run's wall-time span in milliseconds (when
    Prometheus saw its data), the tags (``berthwatch``, ``replay`` and one naming the
    run, to find it again) and a text with the files, records and event-time span.

    >>> line = ('{"started": 1700000000, "finished": 1700000240, "files": ["feed/a.csv.gz"],'
    ...         ' "records": 1234567, "event_from": 1577836800, "event_to": 1672444800}')
    >>> payloads, problems = replay_annotations(line + "\\nnot json\\n")
    >>> payloads[0]["time_from"], payloads[0]["time_to"], payloads[0]["tags"]
    (1700000000000, 1700000240000, ['berthwatch', 'replay', 'replay-1700000000'])
    >>> import textwrap
    >>> print(textwrap.fill(payloads[0]["text"], 80))
    Replay of a.csv.gz: 1,234,567 records, event time 2020-01-01 00:00 to 2022-12-31
    00:00 UTC, in 4m 0s of wall time.
    >>> problems
    ['line 2: not JSON']
    """
    payloads, problems = [], []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            run = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"line {n}: not JSON")
            continue
        try:
            payloads.append(_replay_payload(run))
        except (KeyError, TypeError, ValueError) as e:
            problems.append(f"line {n}: {e}")
    return payloads, problems


def _replay_payload(run: Any) -> dict[str, Any]:
    if not isinstance(run, dict):
        raise TypeError("not an object")
    started, finished = float(run["started"]), float(run["finished"])
    if not (math.isfinite(started) and math.isfinite(finished)) or finished < started:
        raise ValueError(f"finished {finished} before started {started}")
    files = [Path(str(f)).name for f in run.get("files", [])]
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    parts = [f"Replay of {shown or 'no files'}"]
    if run.get("records") is not None:
        parts.append(f": {int(run['records']):,} records")
    if run.get("event_from") is not None and run.get("event_to") is not None:
        span = " to ".join(datetime.fromtimestamp(float(run[k]), UTC).strftime("%Y-%m-%d %H:%M")
                           for k in ("event_from", "event_to"))
        parts.append(f", event time {span} UTC")
    wall = round(finished - started)
    parts.append(f", in {wall // 60}m {wall % 60}s of wall time.")
    return {"time_from": round(started * 1000), "time_to": round(finished * 1000),
            "tags": [*REPLAY_TAGS, f"replay-{started:.0f}"], "text": "".join(parts)}


def annotate_replays(api: Any, payloads: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Add the payloads' annotations that Grafana does not have yet (by their run tag);
    return (added, already there)."""
    todo = list(payloads)
    if not todo:
        return 0, 0
    found = api.annotations.find_annotations(
        time_from=min(p["time_from"] for p in todo), time_to=max(p["time_to"] for p in todo),
        tags=REPLAY_TAGS, ann_type="annotation", limit=10_000)
    known = {tag for a in found or [] for tag in a.get("tags", [])}
    added = 0
    for payload in todo:
        if payload["tags"][-1] in known:
            continue
        api.annotations.add_annotation(**payload)
        added += 1
    return added, len(todo) - added


# --------------------------------------------------------------------------- commands


@click.group("dashboards")
def dashboards() -> None:
    """Preview berthwatch's Grafana dashboards from live Prometheus, or push them to Grafana."""


@dashboards.command("preview")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("dashboards-preview"), show_default=True,
              help="Folder for the PNGs and index.html.")
@click.option("--since", default="1h", show_default=True,
              help="Time range back from now (30m, 6h, 2d...).")
@click.option("--port", "port_value", default=".*", show_default=True,
              help="Value of the $port variable (a UN/LOCODE, a region id or a regex).")
@click.option("--terminal", "terminal_value", default=".*", show_default=True,
              help="Value of the $terminal variable (a terminal code or a regex).")
@click.option("--site", "site_value", default=".*", show_default=True,
              help="Value of the $site variable (an inventory site or a regex).")
@click.option("--topic", "topic_value", default=".*", show_default=True,
              help="Value of the $topic variable (a topic name or a regex).")
@click.option("--detector", "detector_value", default=None,
              help="Detector of the drill-down (a name; default: the highest-scoring one).")
@click.option("--series", "series_value", default=None,
              help="Series key of the drill-down, e.g. 'vessels_waiting|USLAX' "
                   "(default: the highest-scoring one).")
@click.option("--event-time", is_flag=True,
              help="Draw the port overview and drill-down against event time (each "
                   "sample's wall time mapped to the port's berthwatch_event_time_seconds) "
                   "with detector alert starts as vertical lines.")
@click.option("--step", default=None,
              help="Query resolution (15s, 1m...); default: the range / 300, or / 2000 "
                   "with --event-time (a replay's year passes in minutes).")
@click.option("--alerts-topic/--no-alerts-topic", default=True, show_default=True,
              help="With --event-time, also mark the port's queue and disruption alerts "
                   "read from the alerts topic: a replay raises and resolves many between "
                   "two scrapes, and the topic holds every transition.")
@click.pass_context
def preview(ctx: click.Context, out: Path, since: str, port_value: str, terminal_value: str,
            site_value: str, topic_value: str, detector_value: str | None,
            series_value: str | None, event_time: bool, step: str | None,
            alerts_topic: bool) -> None:
    """Render every time-series panel to PNG from Prometheus, with an index.html that also
    lists the stat panels' values."""
    try:
        seconds = parse_duration(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    step_s = None
    if step is not None:
        try:
            step_s = parse_duration(step)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--step") from None
        if seconds / step_s > MAX_POINTS:
            raise click.BadParameter(f"{since} in steps of {step} is more than {MAX_POINTS} "
                                     "points: use a longer step", param_hint="--step")
    values = {"port": port_value, "terminal": terminal_value, "site": site_value,
              "topic": topic_value}
    if detector_value is not None:
        values["detector"] = literal_regex(detector_value)
    if series_value is not None:
        values["series"] = literal_regex(series_value)
    settings = settings_from(ctx)
    extra = topic_marks(settings, port_value) if event_time and alerts_topic else []
    index = preview_dashboards(settings.prom_url, out, since, values, event_time=event_time,
                               step=step_s, extra_marks=extra)
    click.echo(f"preview: {index}")


@dashboards.command("push")
@click.option("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000.")
@click.option("--replays", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Replay runs to annotate (default: {REPLAYS_FILE} in the stack folder; "
                   "a missing file adds none).")
@click.pass_context
def push(ctx: click.Context, url: str, replays: Path | None) -> None:
    """Upload every dashboard into the Grafana folder "berthwatch" (token from
    BERTHWATCH_GRAFANA_TOKEN) and add one annotation per replay run."""
    settings = settings_from(ctx)
    secret = settings.grafana_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        raise click.ClickException(f"no Grafana token: set {TOKEN_ENV} "
                                   "(a service account token with dashboard write access)")
    path = replays if replays is not None else settings.stack_dir / REPLAYS_FILE
    payloads, problems = replay_annotations(path.read_text(encoding="utf-8")) \
        if path.is_file() else ([], [])
    try:
        from grafana_client import GrafanaApi
        from grafana_client.client import GrafanaException, GrafanaTimeoutError
    except ImportError:
        raise click.ClickException("grafana-client is missing: "
                                   "pip install 'berthwatch[grafana]'") from None
    api = GrafanaApi.from_url(url, credential=token, timeout=10)
    DASHBOARDS, _ = _dashboards()
    try:
        folder_uid = _folder(api)
        for uid, build in sorted(DASHBOARDS.items()):
            api.dashboard.update_dashboard({"dashboard": build(), "folderUid": folder_uid,
                                            "overwrite": True,
                                            "message": "berthwatch dashboards push"})
            click.echo(f"pushed {uid} to {url.rstrip('/')}/d/{uid}")
        added, known = annotate_replays(api, payloads)
    except GrafanaTimeoutError:
        raise click.ClickException(f"Grafana at {url} did not answer in time") from None
    except GrafanaException as e:
        raise click.ClickException(f"Grafana at {url} refused: "
                                   f"{e.status_code} {json.dumps(e.message)}") from None
    except OSError as e:  # connection refused, DNS, TLS, timeout (niquests/requests errors)
        raise click.ClickException(f"Grafana at {url} is unreachable: "
                                   f"{type(e).__name__}") from None
    if payloads or problems:
        click.echo(f"annotated {added} replay runs from {path} ({known} already there"
                   + (f"; skipped {'; '.join(problems)}" if problems else "") + ")")


def _folder(api: Any) -> str:
    """Uid of the ``berthwatch`` folder, created if missing."""
    for folder in api.folder.get_all_folders():
        if folder.get("title") == FOLDER:
            return str(folder["uid"])
    created = api.folder.create_folder(FOLDER, uid=FOLDER)
    return str(created["uid"])
