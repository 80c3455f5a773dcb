"""`dashboards push` on a fake Grafana: the dashboards uploaded, one annotation per
replay run of replays.jsonl, each once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from dashboards import DASHBOARDS
from streams.commands.dashboards import dashboards as dashboards_cmd
from streams.grafana.models import DashboardsError
from streams.grafana.push import (
    annotate_replays,
    choose_datasource,
    push_dashboards,
    replay_annotations,
)

pytestmark = pytest.mark.unit

EVENT_FROM = datetime(2021, 1, 1, tzinfo=UTC).timestamp()
EVENT_TO = datetime(2021, 12, 31, tzinfo=UTC).timestamp()


def run_line(started: float, finished: float, **more: Any) -> str:
    return json.dumps({"started": started, "finished": finished,
                       "files": ["/x/feed/positions.csv.gz", "/x/feed/containers.csv.gz"],
                       "records": 5000, "event_from": EVENT_FROM, "event_to": EVENT_TO,
                       **more})


def test_replay_annotations_one_per_run_with_wall_span_and_event_span() -> None:
    text = "\n".join([run_line(1000.5, 1240.0), "", run_line(2000, 2600)]) + "\n"
    payloads, problems = replay_annotations(text)
    assert problems == []
    assert [(p["time_from"], p["time_to"]) for p in payloads] == [(1000500, 1240000),
                                                                 (2000000, 2600000)]
    assert payloads[1]["tags"] == ["berthwatch", "replay", "replay-2000"]
    assert "positions.csv.gz, containers.csv.gz" in payloads[0]["text"]
    assert "5,000 records" in payloads[0]["text"]
    assert "2021-01-01 00:00 to 2021-12-31 00:00 UTC" in payloads[0]["text"]
    assert set(payloads[0]) == {"time_from", "time_to", "tags", "text"}


def test_replay_annotations_skip_bad_lines_with_their_number() -> None:
    text = "\n".join([
        run_line(1000, 1100),
        '{"started": 1000',                    # cut short by a crash
        json.dumps({"finished": 5}),           # no start
        run_line(3000, 2000),                  # ends before it starts
        "[1, 2]",
    ])
    payloads, problems = replay_annotations(text)
    assert len(payloads) == 1
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 5"]


class FakeAnnotations:
    def __init__(self) -> None:
        self.added: list[dict[str, Any]] = []

    def find_annotations(self, **query: Any) -> list[dict[str, Any]]:
        return [{"tags": a["tags"]} for a in self.added
                if set(query["tags"]) <= set(a["tags"])
                and a["time_to"] >= query["time_from"] and a["time_from"] <= query["time_to"]]

    def add_annotation(self, dashboard_id: Any = None, dashboard_uid: Any = None,
                       panel_id: Any = None, time_from: Any = None, time_to: Any = None,
                       tags: Any = None, text: Any = None) -> dict[str, Any]:
        # the signature of grafana-client's Annotations.add_annotation
        self.added.append({"time_from": time_from, "time_to": time_to, "tags": tags,
                           "text": text})
        return {"id": len(self.added)}


class FakeGrafana:
    def __init__(self) -> None:
        self.pushed: list[dict[str, Any]] = []
        self.annotations = FakeAnnotations()
        self.folder = SimpleNamespace(get_all_folders=lambda: [],
                                      create_folder=lambda title, uid: {"uid": uid})
        self.dashboard = SimpleNamespace(update_dashboard=self.pushed.append)
        self.datasource = SimpleNamespace(list_datasources=lambda: [
            {"name": "Prometheus", "type": "prometheus", "uid": "berthwatch-prometheus"}])


def test_annotate_replays_adds_only_the_new_runs() -> None:
    api = FakeGrafana()
    payloads, _ = replay_annotations(run_line(1000, 1100) + "\n" + run_line(2000, 2100))
    assert annotate_replays(api, payloads[:1]) == (1, 0)
    assert annotate_replays(api, payloads) == (1, 1)
    assert [a["tags"][-1] for a in api.annotations.added] == ["replay-1000", "replay-2000"]
    assert annotate_replays(api, []) == (0, 0)


def test_add_annotation_signature_is_grafana_clients() -> None:
    import inspect

    from grafana_client.elements.annotations import Annotations

    params = inspect.signature(Annotations.add_annotation).parameters
    payloads, _ = replay_annotations(run_line(1000, 1100))
    assert set(payloads[0]) <= set(params)


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeGrafana:
    import grafana_client

    api = FakeGrafana()
    monkeypatch.setattr(grafana_client.GrafanaApi, "from_url",
                        staticmethod(lambda *a, **k: api))
    monkeypatch.setenv("BERTHWATCH_GRAFANA_TOKEN", "glsa_test")
    monkeypatch.setenv("BERTHWATCH_STACK_DIR", str(tmp_path))
    return api


def test_push_uploads_the_dashboards_and_annotates_each_replay_once(
        grafana: FakeGrafana, tmp_path: Path) -> None:
    (tmp_path / "replays.jsonl").write_text(run_line(1000, 1100) + "\n"
                                            + run_line(2000, 2100) + "\nnot json\n")
    args = ["push", "--url", "http://grafana:3000"]
    result = CliRunner().invoke(dashboards_cmd, args, obj={})
    assert result.exit_code == 0, result.output
    assert sorted(d["dashboard"]["uid"] for d in grafana.pushed) == sorted(DASHBOARDS)
    assert all(d["folderUid"] == "berthwatch" for d in grafana.pushed)
    assert len(grafana.annotations.added) == 2
    assert "annotated 2 replay runs" in result.output and "line 3: not JSON" in result.output
    again = CliRunner().invoke(dashboards_cmd, args, obj={})
    assert again.exit_code == 0, again.output
    assert len(grafana.annotations.added) == 2
    assert "annotated 0 replay runs" in again.output and "2 already there" in again.output


def test_push_without_replays_file_adds_no_annotation(grafana: FakeGrafana) -> None:
    result = CliRunner().invoke(dashboards_cmd, ["push", "--url", "http://grafana:3000"],
                                obj={})
    assert result.exit_code == 0, result.output
    assert len(grafana.pushed) == len(DASHBOARDS)
    assert grafana.annotations.added == []
    assert "annotated" not in result.output


def test_push_without_a_token_is_a_dashboards_error(tmp_path: Path) -> None:
    with pytest.raises(DashboardsError, match=r"^no Grafana token: set BERTHWATCH_GRAFANA_TOKEN "):
        push_dashboards("http://grafana:3000", "", tmp_path / "replays.jsonl", print)


class GrafanaServer:
    """A small HTTP server answering like Grafana's API the calls a push makes: folders,
    dashboards (kept), datasources (given)."""

    def __init__(self, datasources: list[dict[str, Any]]) -> None:
        self.dashboards: list[dict[str, Any]] = []
        self.auth: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.auth.append(self.headers.get("Authorization", ""))
                path = self.path.split("?")[0]
                if path == "/api/datasources":
                    self._answer(200, datasources)
                elif path == "/api/folders":
                    self._answer(200, [])
                else:
                    self._answer(404, {"message": "Not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/folders":
                    self._answer(200, {"uid": body.get("uid") or "f1", "title": body["title"]})
                elif self.path == "/api/dashboards/db":
                    server.dashboards.append(body)
                    uid = body["dashboard"]["uid"]
                    self._answer(200, {"status": "success", "uid": uid, "url": f"/d/{uid}"})
                else:
                    self._answer(404, {"message": "Not found"})

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _uids(model: Any) -> set[str]:
    if isinstance(model, dict):
        found = {model["uid"]} if model.get("type") == "prometheus" and "uid" in model else set()
        return found.union(*(_uids(v) for v in model.values()))
    if isinstance(model, list):
        return set().union(*(_uids(v) for v in model))
    return set()


def test_push_maps_the_datasource_to_the_target_grafanas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grafana = GrafanaServer([
        {"id": 1, "name": "Loki", "type": "loki", "uid": "P8E80F9AEF21F6940"},
        {"id": 2, "name": "Mimir", "type": "prometheus", "uid": "P1809F7CD0C75ACF3",
         "isDefault": True},
        {"id": 3, "name": "Thanos", "type": "prometheus", "uid": "PA58DA793C7250F1B"},
    ])
    monkeypatch.setenv("BERTHWATCH_GRAFANA_TOKEN", "glsa_test")
    monkeypatch.setenv("BERTHWATCH_STACK_DIR", str(tmp_path))
    try:
        result = CliRunner().invoke(dashboards_cmd, ["push", "--url", grafana.url], obj={})
        assert result.exit_code == 0, result.output
        assert "datasource: Mimir (uid P1809F7CD0C75ACF3)" in result.output
        assert sorted(d["dashboard"]["uid"] for d in grafana.dashboards) == sorted(DASHBOARDS)
        for pushed in grafana.dashboards:
            assert _uids(pushed["dashboard"]) == {"P1809F7CD0C75ACF3"}
        assert set(grafana.auth) == {"Bearer glsa_test"}
        assert "glsa_test" not in result.output

        grafana.dashboards.clear()
        named = CliRunner().invoke(dashboards_cmd, ["push", "--url", grafana.url,
                                                    "--datasource", "Thanos"], obj={})
        assert named.exit_code == 0, named.output
        assert {u for d in grafana.dashboards for u in _uids(d["dashboard"])} \
            == {"PA58DA793C7250F1B"}

        wrong = CliRunner().invoke(dashboards_cmd, ["push", "--url", grafana.url,
                                                    "--datasource", "Cortex"], obj={})
        assert wrong.exit_code == 1
        assert wrong.output.strip().splitlines() == [
            "Error: no Prometheus datasource named 'Cortex' in Grafana "
            "(its Prometheus datasources: Mimir, Thanos)"]
    finally:
        grafana.close()


def test_choose_datasource_prefers_the_provisioned_uid_and_refuses_to_guess() -> None:
    ours = {"name": "berthwatch", "type": "prometheus", "uid": "berthwatch-prometheus"}
    other = {"name": "Other", "type": "prometheus", "uid": "o1"}
    third = {"name": "Third", "type": "prometheus", "uid": "t1"}
    assert choose_datasource([other, ours], "berthwatch-prometheus") == ours
    with pytest.raises(DashboardsError, match=r"several Prometheus datasources \(Other, Third\)"):
        choose_datasource([other, third], "berthwatch-prometheus")
    with pytest.raises(DashboardsError, match="no Prometheus datasource"):
        choose_datasource([{"name": "Loki", "type": "loki", "uid": "l"}], "x")
