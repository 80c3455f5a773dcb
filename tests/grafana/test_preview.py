"""`dashboards preview` on a fake Prometheus: every panel rendered, event-time mapping,
alert marks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from dashboards import DASHBOARDS
from streams.commands.dashboards import dashboards as dashboards_cmd
from streams.grafana import preview
from streams.grafana.clock import EventClock
from streams.grafana.preview import preview_dashboards
from streams.grafana.prometheus import literal_regex
from streams.grafana.render import PanelPlot

pytestmark = pytest.mark.unit

END = 1_700_000_000.0  # wall time of the preview ("now")
START = END - 3600
REPLAY_FROM, REPLAY_TO = START + 600, END - 600  # the replay ran for 40 minutes of wall time
EVENT_FROM = datetime(2021, 1, 1, tzinfo=UTC).timestamp()
EVENT_TO = datetime(2021, 12, 31, tzinfo=UTC).timestamp()
ALERT_WALL = START + 1800  # wall time the detector alert rose
ALERT_EVENT = datetime(2021, 9, 15, tzinfo=UTC).timestamp()  # its event-time start
LABELS = {"port": "USLAX", "terminal": "all", "quantile": "0.9", "mode": "truck",
          "site": "S1", "topic": "berthwatch.positions", "stage": "detect",
          "reason": "bad_checksum", "instance": "w1", "severity": "warning",
          "state": "firing", "limit": "truck", "item": "I1", "le": "1"}


def event_of(wall: np.ndarray) -> np.ndarray:
    """The fake replay: event time runs through 2021 while the replay runs, then stops."""
    frac = np.clip((wall - REPLAY_FROM) / (REPLAY_TO - REPLAY_FROM), 0, 1)
    return EVENT_FROM + frac * (EVENT_TO - EVENT_FROM)


class FakePrometheus:
    """Answers every dashboard query with plausible series and records the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def range(self, expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        self.queries.append(expr)
        ts = np.arange(start, end + 1, step)
        if expr == "max by (port) (berthwatch_event_time_seconds)":
            live = ts >= REPLAY_FROM  # no event time before the worker read anything
            return [{"metric": {"port": p},
                     "values": [[t, str(v)] for t, v in zip(ts[live], event_of(ts[live]),
                                                            strict=True)]}
                    for p in ("USLAX", "USLGB")]
        alert = {"detector": "queue_trend", "series": "vessels_waiting|USLAX"}
        if "berthwatch_alert_since_timestamp_seconds" in expr:
            on = ts >= ALERT_WALL
            return [{"metric": alert, "values": [[t, str(ALERT_EVENT)] for t in ts[on]]}]
        if "berthwatch_alert_active" in expr:
            return [{"metric": alert,
                     "values": [[t, "1" if t >= ALERT_WALL else "0"] for t in ts]}]
        return [{"metric": {**LABELS, **alert},
                 "values": [[t, str(i % 60)] for i, t in enumerate(ts)]}]

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        self.queries.append(expr)
        if expr.startswith("topk(1"):
            return [{"metric": {"detector": "queue_trend", "series": "vessels_waiting|USLAX"},
                     "value": [at, "0.93"]}]
        return [{"metric": {**LABELS, "detector": "queue_trend"}, "value": [at, "1.6e12"]}]


def _record(monkeypatch: pytest.MonkeyPatch, draw: bool) -> list[PanelPlot]:
    seen: list[PanelPlot] = []
    render = preview.render_panel

    def record(plot: PanelPlot, path: Path, since: str) -> None:
        seen.append(plot)
        if draw:
            render(plot, path, since)

    monkeypatch.setattr(preview, "render_panel", record)
    return seen


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[PanelPlot]:
    """The plans of every panel, rendered to PNG with matplotlib."""
    return _record(monkeypatch, draw=True)


@pytest.fixture
def plots(monkeypatch: pytest.MonkeyPatch) -> list[PanelPlot]:
    """The plans of every panel, not drawn (fast)."""
    return _record(monkeypatch, draw=False)


def run_preview(tmp_path: Path, event_time: bool,
                values: dict[str, str] | None = None) -> tuple[Path, FakePrometheus]:
    prom = FakePrometheus()
    index = preview_dashboards("http://fake:9090", tmp_path, "1h", values or {"port": "USLAX"},
                                   now=END, event_time=event_time, prom=prom)
    return index, prom


@pytest.mark.parametrize("event_time", [False, True])
def test_every_time_series_panel_is_rendered_and_every_stat_listed(
        tmp_path: Path, event_time: bool, drawn: list[PanelPlot]) -> None:
    index, prom = run_preview(tmp_path, event_time)
    text = index.read_text()
    rendered = 0
    for uid, build in DASHBOARDS.items():
        for panel in build()["panels"]:
            png = tmp_path / f"{uid}-{panel['id']:02d}.png"
            if panel["type"] == "timeseries":
                assert png.read_bytes().startswith(b"\x89PNG"), png
                assert png.name in text
                rendered += 1
            else:
                assert not png.exists()
                assert f"<h3>{panel['title']}</h3>" in text
    assert rendered == len(drawn) > 25
    assert all(p.lines for p in drawn), [p.panel["title"] for p in drawn if not p.lines]
    # every variable was substituted before the query went out
    assert not [q for q in prom.queries if "$" in q]


def test_event_time_puts_the_port_panels_on_the_calendar(
        tmp_path: Path, plots: list[PanelPlot]) -> None:
    run_preview(tmp_path, event_time=True)
    by_uid: dict[str, list[PanelPlot]] = {}
    for plot in plots:
        by_uid.setdefault(plot.uid, []).append(plot)
    for plot in by_uid["port-overview"] + by_uid["detector-drilldown"]:
        assert plot.event_time, plot.panel["title"]
        lo, hi = plot.xlim
        assert EVENT_FROM <= lo < hi <= EVENT_TO, plot.panel["title"]
        for line in plot.lines:
            x = line.x[np.isfinite(line.x)]
            assert x.size and x.min() >= EVENT_FROM and x.max() <= EVENT_TO
    # the detector alert's event-time start is a vertical line on the port overview only
    for plot in by_uid["port-overview"]:
        assert plot.marks == [(ALERT_EVENT, "queue_trend")], plot.panel["title"]
    assert all(not p.marks for p in by_uid["detector-drilldown"])
    # the pipeline's figures stay on wall time
    for plot in by_uid["pipeline-health"]:
        assert not plot.event_time and plot.xlim == (START, END)


def test_wall_time_marks_where_the_alert_rose(tmp_path: Path,
                                              plots: list[PanelPlot]) -> None:
    run_preview(tmp_path, event_time=False)
    overview = [p for p in plots if p.uid == "port-overview"]
    step = 15
    for plot in overview:
        assert not plot.event_time and plot.xlim == (START, END)
        assert len(plot.marks) == 1
        x, detector = plot.marks[0]
        assert detector == "queue_trend" and ALERT_WALL <= x < ALERT_WALL + step


def test_drilldown_defaults_to_the_highest_scoring_series(
        tmp_path: Path, plots: list[PanelPlot]) -> None:
    index, prom = run_preview(tmp_path, event_time=False)
    drill = [q for q in prom.queries if "berthwatch_detector_expected" in q]
    assert drill == ['max by (series) (berthwatch_detector_expected{detector=~"queue_trend", '
                     'series=~"vessels_waiting\\\\|USLAX"})']
    assert "series=vessels_waiting" in index.read_text()


def test_given_series_is_literal(tmp_path: Path, plots: list[PanelPlot]) -> None:
    _, prom = run_preview(tmp_path, event_time=False,
                          values={"series": literal_regex("dwell_truck_p90|USLAX|APMT"),
                                  "detector": "dwell_truck_trend"})
    assert not [q for q in prom.queries if q.startswith("topk(1")]
    assert any('series=~"dwell_truck_p90\\\\|USLAX\\\\|APMT"' in q for q in prom.queries)


def test_event_clock_uses_the_series_port_or_the_newest() -> None:
    ts = np.array([0.0, 10.0, 20.0])
    clock = EventClock({"USLAX": (ts, np.array([100.0, 200.0, 300.0])),
                            "USLGB": (ts, np.array([150.0, 250.0, 250.0]))})
    at = np.array([5.0, 20.0])
    assert clock.map({"port": "USLGB"}, at).tolist() == [200.0, 250.0]
    assert clock.map({"series": "composite|USLAX"}, at).tolist() == [150.0, 300.0]
    # no port (a site, a topic): the newest event time of any port
    assert clock.map({"site": "S1"}, at).tolist() == [200.0, 300.0]
    assert np.isnan(EventClock().map({"port": "USLAX"}, at)).all()


def test_preview_step_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(dashboards_cmd, ["preview", "--since", "1d", "--step", "1s",
                                                 "--out", str(tmp_path)], obj={})
    assert result.exit_code == 2 and "--step" in result.output
    result = CliRunner().invoke(dashboards_cmd, ["preview", "--step", "soon",
                                                 "--out", str(tmp_path)], obj={})
    assert result.exit_code == 2 and "--step" in result.output
