"""What the dashboards show: every query is PromQL promtool accepts, reads labels the
metrics have, draws the same limits as the alert rules, and the alert links open the
detector drill-down of the clicked series."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from dashboards import DASHBOARDS, expressions, substitute
from dashboards import common as c
from streams.grafana.push import REPLAY_TAGS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
METRICS_MODULE = ROOT / "streams" / "metrics.py"
VALUES = {"port": "USLAX", "terminal": ".*", "site": ".*", "topic": ".*", "stage": ".*",
          "detector": "queue_trend", "series": "vessels_waiting\\\\|USLAX",
          "__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
LABEL_VALUES = re.compile(r"^label_values\((\w+)(?:\{(.*)\})?, (\w+)\)$")
GRAFANA_BUILTINS = {"__from", "__to", "__field", "__value", "__series", "__data"}


def models() -> dict[str, dict[str, Any]]:
    return {uid: build() for uid, build in DASHBOARDS.items()}


def panel(uid: str, title: str) -> dict[str, Any]:
    return next(p for p in models()[uid]["panels"] if p["title"] == title)


def metric_labels() -> dict[str, set[str]]:
    """Labels of every series streams/metrics.py declares (read from its source: the
    constructor calls ``Kind("name", "help", [labels], ...)``), with Prometheus's
    ``instance`` and ``job``; histograms also have ``_bucket`` (with ``le``), ``_sum``
    and ``_count``."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(METRICS_MODULE.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args
                and isinstance(node.args[0], ast.Constant)):
            continue
        name = str(node.args[0].value)
        labels = {"instance", "job"}
        if len(node.args) > 2 and isinstance(node.args[2], ast.List):
            labels |= {str(e.value) for e in node.args[2].elts if isinstance(e, ast.Constant)}
        out[name] = labels
        if node.func.id == "Histogram":
            out[f"{name}_bucket"] = labels | {"le"}
            out[f"{name}_sum"] = out[f"{name}_count"] = labels
    return out


def rules() -> list[dict[str, Any]]:
    return [r for path in RULES.glob("*.yml")
            for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def alert_expr(name: str) -> str:
    return " ".join(next(r["expr"] for r in rules() if r.get("alert") == name).split())


def test_three_dashboards_with_the_drilldown() -> None:
    assert set(DASHBOARDS) == {"port-overview", "detector-drilldown", "pipeline-health"}
    assert c.DRILLDOWN_UID in DASHBOARDS


def test_every_query_is_promql_promtool_accepts(tmp_path: Path) -> None:
    """Each expression, variables substituted, as a recording rule: `promtool check rules`
    parses it with Prometheus's own parser."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run `make setup`"
    exprs = [substitute(expr, VALUES) for m in models().values() for _, expr in expressions(m)]
    for var in (v for m in models().values() for v in m["templating"]["list"]):
        match = LABEL_VALUES.match(var["query"])
        assert match, var["query"]
        metric, selector, _ = match.groups()
        exprs.append(substitute(f"{metric}{{{selector}}}" if selector else metric, VALUES))
    doc = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:expr{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump(doc))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


def test_selectors_use_only_labels_the_metric_has() -> None:
    labels = metric_labels()
    selector = re.compile(r"\b(berthwatch_\w+)\{([^}]*)\}")
    checked = 0
    for uid, model in models().items():
        sources = [e for _, e in expressions(model)]
        sources += [LABEL_VALUES.sub(r"\1{\2}", v["query"]) for v in model["templating"]["list"]]
        for expr in sources:
            for metric, body in selector.findall(expr):
                used = set(re.findall(r"(\w+)\s*[=!]~?\s*\"", body))
                assert used <= labels[metric], f"{uid}: {metric} has no {used - labels[metric]}"
                checked += 1
    assert checked > 30


def test_variables_are_label_values_of_a_label_the_metric_has() -> None:
    labels = metric_labels()
    for uid, model in models().items():
        for var in model["templating"]["list"]:
            metric, _, label = LABEL_VALUES.match(var["query"]).groups()  # type: ignore[union-attr]
            assert label == var["name"] and label in labels[metric], (uid, var["query"])
    names = {uid: [v["name"] for v in m["templating"]["list"]] for uid, m in models().items()}
    assert {"port", "terminal", "detector"} <= set(names["port-overview"])
    assert names["detector-drilldown"] == ["port", "detector", "series"]


def test_drilldown_variables_are_single_series_and_follow_the_port() -> None:
    variables = {v["name"]: v for v in models()["detector-drilldown"]["templating"]["list"]}
    for name in ("detector", "series"):
        assert variables[name]["multi"] is False and variables[name]["includeAll"] is False
    assert '$detector' in variables["series"]["query"]
    assert '($port)' in variables["series"]["query"]


def test_limits_are_the_alert_rules_thresholds() -> None:
    assert f"berthwatch_vessels_waiting > {c.ANCHORAGE_LIMIT}" in alert_expr(
        "BerthwatchAnchoragesFull")
    assert alert_expr("BerthwatchTruckDwellHigh").endswith(f"> {c.TRUCK_DWELL_LIMIT_S}")
    assert c.TRUCK_DWELL_LIMIT_S == 777600
    assert alert_expr("BerthwatchDaysOfSupplyLow").endswith(f"< {c.SUPPLY_LIMIT_DAYS}")
    assert alert_expr("BerthwatchDeadLetterRateHigh").endswith(f"> {c.DEAD_LETTER_RATIO_LIMIT}")
    assert f"> {c.CONSUMER_LAG_LIMIT}" in alert_expr("BerthwatchConsumerLagHigh")
    assert f"> {c.CHECKPOINT_AGE_LIMIT_S}" in alert_expr("BerthwatchCheckpointTooOld")
    drawn = {
        ("port-overview", "Vessels waiting"): c.ANCHORAGE_LIMIT,
        ("port-overview", "Dwell p90 by terminal"): c.TRUCK_DWELL_LIMIT_S,
        ("port-overview", "Days of supply"): c.SUPPLY_LIMIT_DAYS,
        ("port-overview", "Disruption index"): c.DISRUPTION_INDEX_ALARM,
        ("port-overview", "Detector scores"): c.SCORE_WARNING,
        ("detector-drilldown", "Detector score"): 0.8,
        ("pipeline-health", "Consumer lag"): c.CONSUMER_LAG_LIMIT,
        ("pipeline-health", "Checkpoint age"): c.CHECKPOINT_AGE_LIMIT_S,
    }
    for (uid, title), limit in drawn.items():
        defaults = panel(uid, title)["fieldConfig"]["defaults"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed", title
        assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, limit], title


def test_port_overview_panels() -> None:
    titles = [p["title"] for p in models()["port-overview"]["panels"]]
    for wanted in ("Vessels waiting", "Waiting time", "Arrivals and departures",
                   "Dwell p90 by terminal", "Boxes past dwell limits", "Days of supply",
                   "Disruption index", "Detector alerts", "Firing alerts"):
        assert wanted in titles
    dwell = panel("port-overview", "Dwell p90 by terminal")["targets"][0]["expr"]
    assert 'quantile="0.9"' in dwell and 'terminal=~"$terminal"' in dwell


def test_drilldown_shows_band_score_limit_and_crossing() -> None:
    band = panel("detector-drilldown", "Series and baseline")
    exprs = [t["expr"] for t in band["targets"]]
    for metric in ("berthwatch_series_value", "berthwatch_detector_expected",
                   "berthwatch_detector_lower", "berthwatch_detector_upper",
                   "berthwatch_detector_limit"):
        assert any(metric in e for e in exprs), metric
    legends = {t["legendFormat"] for t in band["targets"]}
    overrides = {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
                 for o in band["fieldConfig"]["overrides"]}
    # the band fills from upper down to lower: both names must be legends of the panel
    assert overrides["upper"]["custom.fillBelowTo"] == "lower"
    assert {"upper", "lower", "limit"} <= legends
    score = panel("detector-drilldown", "Detector score")
    assert "berthwatch_detector_score" in score["targets"][0]["expr"]
    assert score["fieldConfig"]["defaults"]["max"] == 1
    crossing = panel("detector-drilldown", "Projected crossing")
    assert crossing["type"] == "stat"
    assert crossing["fieldConfig"]["defaults"]["unit"] == "dateTimeAsIso"
    # Grafana's dates are milliseconds, the metric is seconds
    assert crossing["targets"][0]["expr"].endswith("* 1000")
    assert "berthwatch_detector_crossing_timestamp_seconds" in crossing["targets"][0]["expr"]


def test_pipeline_health_panels() -> None:
    exprs = " ".join(e for _, e in expressions(models()["pipeline-health"]))
    for needed in ("berthwatch:records_in:rate5m", "berthwatch:consumer_lag:records",
                   "berthwatch:dead_letters:rate5m", "berthwatch:late_records:rate5m",
                   "berthwatch_batch_size_records_bucket",
                   "berthwatch_processing_latency_seconds_bucket",
                   "berthwatch:checkpoint_age:seconds", "berthwatch_watermark_seconds",
                   "berthwatch_assigned_partitions", "berthwatch_alerts_sent_total",
                   "berthwatch_alerts_firing", "berthwatch_alertmanager_errors_total"):
        assert needed in exprs, needed
    latency = panel("pipeline-health", "Processing latency")["targets"]
    assert [t["expr"].split(",")[0] for t in latency] == [
        "histogram_quantile(0.5", "histogram_quantile(0.99"]


def _links(model: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for p in model["panels"]:
        for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", []) or []:
            out.append((p["title"], link["url"]))
    return out


def test_alert_links_open_the_drilldown_at_the_series_and_time_range() -> None:
    all_models = models()
    links = _links(all_models["port-overview"])
    titles = {t for t, _ in links}
    assert {"Detector alerts", "Detector scores", "Detector alerts firing since"} <= titles
    for title, url in links:
        parts = urlsplit(url)
        target = parts.path.removeprefix("/d/")
        assert target in all_models, url
        params = dict(p.split("=", 1) for p in parts.query.split("&"))  # as written, undecoded
        assert params["from"] == "${__from}" and params["to"] == "${__to}", url
        target_vars = {v["name"] for v in all_models[target]["templating"]["list"]}
        for key in params:
            if key.startswith("var-"):
                assert key.removeprefix("var-") in target_vars, (title, key)
        assert {"var-detector", "var-series"} <= set(params), (title, url)
        # series keys hold "|": the value is URL-encoded
        assert "percentencode" in params["var-series"] or "%7C" in params["var-series"]
        used = set(re.findall(r"\$\{(\w+)", url))
        assert used <= GRAFANA_BUILTINS, (title, used)


def test_dashboard_links_keep_the_time_range() -> None:
    for uid, model in models().items():
        targets = {link["url"].removeprefix("/d/") for link in model["links"]}
        assert targets == set(DASHBOARDS) - {uid}, uid
        assert all(link["keepTime"] for link in model["links"])


def test_every_dashboard_shows_the_replay_runs() -> None:
    assert REPLAY_TAGS == c.REPLAY_TAGS  # what push tags is what the dashboards look for
    for uid, model in models().items():
        replays = [a for a in model["annotations"]["list"] if a["name"] == "Replays"]
        assert len(replays) == 1, uid
        assert replays[0]["target"]["tags"] == REPLAY_TAGS


def test_series_of_port_is_anchored_to_the_second_field() -> None:
    rx = re.compile(c.series_of_port("USLAX", "APMT").replace("\\\\", "\\"))
    assert rx.fullmatch("vessels_waiting|USLAX")
    assert rx.fullmatch("dwell_truck_p90|USLAX|APMT")
    assert not rx.fullmatch("dwell_truck_p90|USLAX|TRAPAC")
    assert not rx.fullmatch("vessels_waiting|USLAXX")
    assert not rx.fullmatch("days_of_supply|SITE|USLAX")
