"""`dashboards push` on a fake Grafana: the dashboards uploaded, one annotation per
replay run of replays.jsonl, each once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from dashboards import DASHBOARDS
from streams.commands.dashboards import dashboards as dashboards_cmd
from streams.grafana.models import DashboardsError
from streams.grafana.push import annotate_replays, push_dashboards, replay_annotations

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
