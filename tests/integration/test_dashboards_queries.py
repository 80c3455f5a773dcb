"""Every dashboard query runs on the real Prometheus of the test stack, and the preview
renders from it.

Only "Prometheus accepts the query" is required here: the series fill in once workers
replay a scenario into the stack.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards import DASHBOARDS, expressions, substitute
from streams.commands.dashboards import dashboards as dashboards_cmd
from streams.settings import Settings
from tests.integration.conftest import http_json

VALUES = {"port": "USLAX", "topic": ".*", "terminal": ".*", "site": ".*", "stage": ".*",
          "detector": ".*", "series": ".*", "__rate_interval": "1m", "__interval": "15s",
          "__range": "1h"}
# Grafana's label_values(metric, label) or label_values(metric{selector}, label)
LABEL_VALUES = re.compile(r"^label_values\((\w+(?:\{.*\})?), (\w+)\)$")

CASES = [
    pytest.param(uid, where, expr, id=f"{uid}:{where}")
    for uid, build in sorted(DASHBOARDS.items())
    for where, expr in expressions(build())
]


@pytest.mark.parametrize(("uid", "where", "expr"), CASES)
def test_query_is_accepted_by_prometheus(stack: Settings, uid: str, where: str,
                                         expr: str) -> None:
    query = substitute(expr, VALUES)
    body = http_json(f"{stack.prom_url}/api/v1/query", {"query": query})
    assert body["status"] == "success", f"{uid} {where}: {query}\n{body}"
    assert body["data"]["resultType"] == "vector"


def test_variable_queries_are_accepted(stack: Settings) -> None:
    for build in DASHBOARDS.values():
        for var in build()["templating"]["list"]:
            # label_values(...) is Grafana's; Prometheus answers it as the label values API
            match = LABEL_VALUES.match(var["query"])
            assert match, var["query"]
            metric, label = match.groups()
            body = http_json(f"{stack.prom_url}/api/v1/label/{label}/values",
                             {"match[]": substitute(metric, VALUES)})
            assert body["status"] == "success", body


def test_preview_renders_every_time_series_panel(stack: Settings, tmp_path: Path) -> None:
    out = tmp_path / "preview"
    result = CliRunner().invoke(dashboards_cmd, ["preview", "--out", str(out), "--since",
                                                 "30m", "--port", "USLAX"], obj={})
    assert result.exit_code == 0, result.output
    assert "preview:" in result.output
    assert stack.prom_url.endswith(":19090")  # the test stack's Prometheus, not a demo one
    index = (out / "index.html").read_text()
    for uid, build in DASHBOARDS.items():
        for panel in build()["panels"]:
            png = out / f"{uid}-{panel['id']:02d}.png"
            if panel["type"] == "timeseries":
                assert png.read_bytes().startswith(b"\x89PNG"), png
                assert png.name in index
            else:  # stat panels are listed as text in the index
                assert not png.exists()
                assert f"<h3>{panel['title']}</h3>" in index


def test_preview_on_event_time_renders_every_time_series_panel(stack: Settings,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "preview-event-time"
    result = CliRunner().invoke(dashboards_cmd, ["preview", "--out", str(out), "--since",
                                                 "30m", "--port", "USLAX", "--event-time"],
                                obj={})
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text()
    assert "drawn against event time" in index
    for uid, build in DASHBOARDS.items():
        for panel in build()["panels"]:
            if panel["type"] == "timeseries":
                png = out / f"{uid}-{panel['id']:02d}.png"
                assert png.read_bytes().startswith(b"\x89PNG"), png


#: panels on Prometheus's own ALERTS series show alerting rules, whose ``for:`` durations
#: are wall time (up to hours): a replay of minutes leaves them pending. The rules
#: themselves are tested with promtool (deploy/prometheus/tests/).
WALL_TIME_ONLY = re.compile(r"\bALERTS\b")


def test_every_panel_query_returns_data_after_a_replay_through_the_workers(
        stack: Settings, spb_replayed: object) -> None:
    from tests.integration.conftest import eventually

    values = {**VALUES, "port": "USLAX|san-pedro-bay"}
    queries = [(uid, where, substitute(expr, values)) for uid, where, expr in
               (c.values for c in CASES) if not WALL_TIME_ONLY.search(str(expr))]
    assert len(queries) >= 40

    def empty() -> list[str]:
        out = []
        for uid, where, query in queries:
            body = http_json(f"{stack.prom_url}/api/v1/query", {"query": query})
            assert body["status"] == "success", f"{uid} {where}: {query}\n{body}"
            if not body["data"]["result"]:
                out.append(f"{uid} {where}: {query}")
        return out

    # rates need two scrapes after the replay: poll until every query has data
    missing: list[str] = []

    def all_have_data() -> bool:
        nonlocal missing
        missing = empty()
        return not missing

    try:
        eventually(all_have_data, timeout=60, interval=2.0)
    except AssertionError:
        raise AssertionError("queries without data:\n" + "\n".join(missing)) from None
