"""Dashboards as code: the committed JSON is what the code generates, and every panel
reads the provisioned Prometheus datasource."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dashboards import DASHBOARDS, DATASOURCE_UID, JSON_DIR, expressions, generate, substitute
from streams.commands.dashboards import dashboards as dashboards_cmd
from streams.grafana.prometheus import parse_duration

pytestmark = pytest.mark.unit

METRICS_MODULE = Path(__file__).resolve().parents[2] / "streams" / "metrics.py"
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"


def models() -> dict[str, dict[str, Any]]:
    return {uid: build() for uid, build in DASHBOARDS.items()}


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{uid}.json" for uid in DASHBOARDS)
    committed = sorted(p.name for p in JSON_DIR.glob("*.json"))
    assert committed == sorted(p.name for p in written), "run `python -m dashboards`"
    for path in written:
        assert path.read_bytes() == (JSON_DIR / path.name).read_bytes(), (
            f"{path.name} differs from the committed file: run `python -m dashboards`")


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in generate(tmp_path / "a")]
    second = [p.read_bytes() for p in generate(tmp_path / "b")]
    assert first == second


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_identity_and_stable_panel_ids(uid: str) -> None:
    model = models()[uid]
    assert model["uid"] == uid
    assert model["id"] is None  # Grafana assigns its own database id
    ids = [p["id"] for p in model["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    for p in model["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, p["title"]


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_every_panel_and_target_uses_the_provisioned_datasource(uid: str) -> None:
    model = models()[uid]
    assert model["panels"]
    for panel in model["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["expr"].strip()
    for var in model["templating"]["list"]:
        assert var["datasource"]["uid"] == DATASOURCE_UID
    for ann in model["annotations"]["list"]:
        if ann.get("builtIn"):
            continue
        if ann["name"] == "Replays":  # Grafana's own annotations, added by `dashboards push`
            assert ann["datasource"]["type"] == "grafana"
            assert ann["target"]["type"] == "tags"
        else:
            assert ann["datasource"]["uid"] == DATASOURCE_UID


def test_provisioned_datasource_has_that_uid() -> None:
    text = (Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "provisioning"
            / "datasources" / "prometheus.yml").read_text()
    assert f"uid: {DATASOURCE_UID}" in text


def test_variables() -> None:
    port = {v["name"]: v for v in models()["port-overview"]["templating"]["list"]}["port"]
    assert port["query"] == "label_values(berthwatch_vessels_waiting, port)"
    assert port["type"] == "query" and port["includeAll"] and port["allValue"] == ".*"
    topic = {v["name"]: v for v in models()["pipeline-health"]["templating"]["list"]}["topic"]
    assert topic["query"] == "label_values(berthwatch_records_in_total, topic)"


def test_every_variable_used_is_defined() -> None:
    builtin = {"__rate_interval", "__interval", "__range"}
    for uid, model in models().items():
        defined = {v["name"] for v in model["templating"]["list"]} | builtin
        for where, expr in expressions(model):
            used = set(re.findall(r"\$\{?(\w+)", expr))
            assert used <= defined, f"{uid} {where}: {used - defined}"


def test_port_overview_has_the_anchorage_limit_and_alert_annotations() -> None:
    model = models()["port-overview"]
    queue = next(p for p in model["panels"] if p["title"] == "Vessels waiting")
    defaults = queue["fieldConfig"]["defaults"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 55]
    rule = (RULES / "pipeline.yml").read_text()
    assert "berthwatch_vessels_waiting > 55" in rule  # the same limit as the safety-net alert
    anns = {a["name"]: a for a in model["annotations"]["list"] if "expr" in a}
    assert {"Detector alerts", "Congestion alerts", "Supply alerts", "Pipeline alerts"} <= set(
        anns)
    assert anns["Congestion alerts"]["expr"].startswith("ALERTS{")
    # one region per firing detector alert: only the samples at 1, never the resolved 0s
    assert "berthwatch_alert_active" in anns["Detector alerts"]["expr"]
    assert anns["Detector alerts"]["expr"].endswith("> 0")


def test_only_metrics_that_exist_are_used() -> None:
    source = METRICS_MODULE.read_text()
    exported = set(re.findall(r'"(berthwatch_\w+)"', source))
    # histograms also export _bucket, _sum and _count series
    series = exported | {f"{m}_{s}" for m in exported for s in ("bucket", "sum", "count")}
    recorded = set(re.findall(r"record: (\S+)", "".join(
        p.read_text() for p in RULES.glob("*.yml"))))
    for uid, model in models().items():
        for where, expr in expressions(model):
            for name in re.findall(r"\bberthwatch[_:][\w:]+", expr):
                assert name in series | recorded, f"{uid} {where}: unknown metric {name}"


def test_substitute() -> None:
    assert substitute("x{a=~\"${port}\"}[$__rate_interval]",
                      {"port": "USLGB", "__rate_interval": "2m"}) == 'x{a=~"USLGB"}[2m]'
    with pytest.raises(KeyError):
        substitute("$nope", {})


def test_committed_json_is_valid_for_the_provisioner() -> None:
    for path in JSON_DIR.glob("*.json"):
        model = json.loads(path.read_text())
        assert model["uid"] == path.stem
        assert model["schemaVersion"] >= 36


def test_parse_duration() -> None:
    assert parse_duration("90m") == 5400
    for bad in ("", "1", "0h", "1y", "h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_push_without_token_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTHWATCH_GRAFANA_TOKEN", raising=False)
    result = CliRunner().invoke(dashboards_cmd, ["push", "--url", "http://127.0.0.1:9"],
                                obj={})
    assert result.exit_code == 1
    assert "no Grafana token" in result.output
    assert "Traceback" not in result.output


def test_push_to_unreachable_grafana_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTHWATCH_GRAFANA_TOKEN", "glsa_test")
    # port 9 (discard) on loopback: nothing listens, the connection is refused at once
    result = CliRunner().invoke(dashboards_cmd, ["push", "--url", "http://127.0.0.1:9"],
                                obj={})
    assert result.exit_code == 1, result.output
    assert "Grafana at http://127.0.0.1:9 is unreachable" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_preview_with_unreachable_prometheus_is_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BERTHWATCH_PROMETHEUS_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(dashboards_cmd, ["preview", "--out", str(tmp_path / "p")],
                                obj={})
    assert result.exit_code == 1, result.output
    assert "Prometheus at http://127.0.0.1:9 is unreachable" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_preview_rejects_a_bad_duration(tmp_path: Path) -> None:
    result = CliRunner().invoke(dashboards_cmd, ["preview", "--since", "soon",
                                                 "--out", str(tmp_path)], obj={})
    assert result.exit_code == 2
    assert "--since" in result.output
