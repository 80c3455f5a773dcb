"""Static checks of the container deployments, which cannot run here.

No container engine runs on the build machines, so the compose file and the
Kubernetes manifests are checked for what can be checked without one: the YAML
parses, every image is pinned, every file they mount or load exists, and the
ports agree with the settings the local stack uses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
PINNED = re.compile(r"^[\w./-]+:(?!latest$)[\w.-]*\d[\w.-]*$")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        out.extend(spec.get("containers", []))
    return out


def test_compose_images_pinned_and_mounts_exist() -> None:
    services = _compose()["services"]
    assert {"kafka", "prometheus", "alertmanager", "grafana", "worker-1", "worker-2"} <= set(
        services
    )
    for name, svc in services.items():
        assert PINNED.match(svc["image"]), f"{name}: image {svc['image']!r} is not pinned"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: mounts missing {source}"
        build = svc.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


INTERNAL_PORT = 29092  # the in-network listener of compose's Kafka


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` as {name: (host, port)}."""
    out = {}
    for item in value.split(","):
        name, address = item.split("://")
        host, port = address.rsplit(":", 1)
        out[name] = (host, int(port))
    return out


def test_compose_kafka_has_an_in_network_and_a_host_listener() -> None:
    """Containers reach Kafka by its service name, the host by the published port: each
    listener advertises the address its clients can connect to, so a ``berthwatch
    replay`` on the host with the default settings produces into it."""
    s = Settings()
    services = _compose()["services"]
    env = services["kafka"]["environment"]
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) == {"INTERNAL", "HOST", "CONTROLLER"}
    assert set(advertised) == {"INTERNAL", "HOST"}  # the controller is not for clients
    assert set(protocols) == set(listeners)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert advertised["INTERNAL"] == ("kafka", INTERNAL_PORT) == ("kafka",
                                                                  listeners["INTERNAL"][1])
    # the host listener is published on the port it advertises, the settings' default
    host, port = advertised["HOST"]
    assert (host, port) == (s.host, s.kafka_port) == (s.host, listeners["HOST"][1])
    assert f"{host}:{port}:{listeners['HOST'][1]}" in services["kafka"]["ports"]
    assert f"{listeners['INTERNAL'][1]}" not in " ".join(services["kafka"]["ports"])
    # every container that talks to Kafka uses the in-network listener
    for name, svc in services.items():
        servers = svc.get("environment", {}).get("BERTHWATCH_KAFKA_SERVERS")
        if servers is not None:
            assert servers == f"kafka:{INTERNAL_PORT}", name
    assert "kafka:29092" in " ".join(services["kafka"]["healthcheck"]["test"])


def test_compose_creates_topics_once_before_the_workers_start() -> None:
    services = _compose()["services"]
    topics = services["topics"]
    assert topics["command"] == ["topics", "create"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["restart"] == "no"
    for worker in ("worker-1", "worker-2"):
        svc = services[worker]
        assert svc["image"] == topics["image"]
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert svc["environment"]["BERTHWATCH_GRAFANA_URL"] == "http://localhost:3000"
        assert any(v.endswith(":/var/lib/berthwatch") for v in svc["volumes"])


def test_compose_documents_the_replay_from_the_host() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert "berthwatch replay feed/*.csv.gz" in text
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "berthwatch replay feed/*.csv.gz" in readme.split("### Compose")[1]


def test_compose_ports_agree_with_settings() -> None:
    s = Settings()
    services = _compose()["services"]
    published = {name: svc.get("ports", []) for name, svc in services.items()}
    assert f"127.0.0.1:{s.kafka_port}:{s.kafka_port}" in published["kafka"]
    assert f"{s.prometheus_port}:{s.prometheus_port}" in published["prometheus"]
    assert f"{s.alertmanager_port}:{s.alertmanager_port}" in published["alertmanager"]
    for worker in ("worker-1", "worker-2"):
        env = services[worker]["environment"]
        assert env["BERTHWATCH_WORKER_WEB_PORT"] == str(s.worker_web_port)
        assert env["BERTHWATCH_KAFKA_SERVERS"] == f"kafka:{INTERNAL_PORT}"
        assert env["BERTHWATCH_ALERTMANAGER_URL"].endswith(f":{s.alertmanager_port}")
    prom = yaml.safe_load((DEPLOY / "prometheus" / "compose.yml").read_text())
    jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
    targets = jobs["berthwatch-workers"]["static_configs"][0]["targets"]
    assert targets == [f"worker-1:{s.worker_web_port}", f"worker-2:{s.worker_web_port}"]


def test_compose_environment_names_are_settings() -> None:
    fields = {f"BERTHWATCH_{name.upper()}" for name in Settings.model_fields}
    for name, svc in _compose()["services"].items():
        for key in svc.get("environment", {}) or {}:
            if key.startswith("BERTHWATCH_"):
                assert key in fields, f"{name}: {key} is not a setting"


def test_k8s_manifests_parse_pin_images_and_agree_on_ports() -> None:
    s = Settings()
    docs = _k8s_docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "berthwatch-worker") in kinds
    assert ("StatefulSet", "kafka") in kinds
    containers = {c["name"]: c for c in _containers(docs)}
    for c in containers.values():
        assert PINNED.match(c["image"]), f"{c['name']}: image {c['image']!r} is not pinned"
    ports = {c["name"]: {p["name"]: p["containerPort"] for p in c["ports"]}
             for c in containers.values()}
    assert ports["worker"]["metrics"] == s.worker_web_port
    assert ports["kafka"]["client"] == s.kafka_port
    assert ports["prometheus"]["web"] == s.prometheus_port
    assert ports["alertmanager"]["web"] == s.alertmanager_port
    env = {e["name"]: e["value"] for e in containers["worker"]["env"]}
    assert env["BERTHWATCH_WORKER_WEB_PORT"] == str(s.worker_web_port)
    fields = {f"BERTHWATCH_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields
    # every Service points at a named port its pods declare
    declared = {name for c in containers.values() for name in (p["name"] for p in c["ports"])}
    for doc in docs:
        if doc["kind"] == "Service":
            for port in doc["spec"]["ports"]:
                assert port["targetPort"] in declared, (doc["metadata"]["name"], port)


def test_k8s_workers_probe_readyz_and_healthz_and_write_only_their_state() -> None:
    worker = next(c for c in _containers(_k8s_docs()) if c["name"] == "worker")
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert worker[probe]["httpGet"]["port"] == "metrics"
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in worker["volumeMounts"]}
    assert "/var/lib/berthwatch" in mounts
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env["BERTHWATCH_GRAFANA_URL"].startswith("http")  # alert links that open


def test_image_installs_the_package_and_runs_unprivileged_with_a_state_dir() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "pip install -e" not in text and "--editable" not in text
    assert re.search(r"^USER 65534", text, re.M)
    assert "BERTHWATCH_STATE_DIR=/var/lib/berthwatch/" in text
    assert "install -d -o 65534 -g 65534" in text and "/var/lib/berthwatch" in text
    copied = [w for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line
              for w in line.split()[1:-1]]
    assert "deploy" not in copied  # the worker needs no checkout: only the package
    for name in copied:
        assert (PROJECT_ROOT / name).exists(), name


def test_k8s_kustomization_files_exist() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kust["resources"]:
        assert (K8S / resource).is_file(), resource
    for gen in kust["configMapGenerator"]:
        for entry in gen["files"]:
            path = entry.split("=", 1)[-1]
            assert (K8S / path).is_file(), f"{gen['name']}: {path} missing"
    mounted = {v["configMap"]["name"] for d in _k8s_docs()
               for v in d.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])
               if "configMap" in v}
    assert mounted <= {gen["name"] for gen in kust["configMapGenerator"]}


def test_k8s_prometheus_discovers_workers_by_label() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus" / "k8s.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "berthwatch-workers")
    # Kubernetes service discovery of pods, not a fixed list of addresses
    assert "static_configs" not in job
    assert [sd["role"] for sd in job["kubernetes_sd_configs"]] == ["pod"]
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["berthwatch"]
    keep = [r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"]
    worker = next(d for d in _k8s_docs() if d["metadata"]["name"] == "berthwatch-worker"
                  and d["kind"] == "Deployment")
    assert worker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] in keep
    assert "metrics" in keep


@pytest.mark.parametrize("config", ["prometheus.yml", "compose.yml"])
def test_promtool_accepts_prometheus_configs(config: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run `make setup`"
    result = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus" / config)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_alertmanager_config() -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: run `make setup`"
    result = subprocess.run(
        [amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_points_at_mounted_dashboards() -> None:
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "berthwatch.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    grafana = _compose()["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert path in mounts and (DEPLOY / mounts[path]).is_dir()
    ds = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert ds["datasources"][0]["uid"] == "berthwatch-prometheus"


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "port=USLAX", "category=congestion"], "ops-webhook,ops-chat"),
        (["severity=warning", "port=USLGB", "category=congestion"], "ops-webhook"),
        (["severity=critical", "category=pipeline"], "platform-email,ops-webhook,ops-chat"),
        (["severity=warning", "port=NLRTM"], "ops-webhook"),
        # the rules' new alerts: supply has a site, not a port; pipeline warnings
        (["alertname=BerthwatchDaysOfSupplyLow", "severity=critical", "category=supply",
          "site=SITE-A"], "ops-webhook,ops-chat"),
        (["alertname=BerthwatchTruckDwellHigh", "severity=warning", "category=congestion",
          "port=USLAX"], "ops-webhook"),
        (["alertname=BerthwatchConsumerLagHigh", "severity=warning", "category=pipeline",
          "topic=berthwatch.positions"], "platform-email"),
    ],
)
def test_alertmanager_routes_by_severity_and_port(labels: list[str], receivers: str) -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: run `make setup`"
    result = subprocess.run(
        [amtool, "config", "routes", "test",
         f"--config.file={DEPLOY / 'alertmanager' / 'alertmanager.yml'}", *labels],
        capture_output=True, text=True, check=False,
    )
    assert result.stdout.strip() == receivers, result.stdout + result.stderr


def test_rendered_alertmanager_config_is_valid_and_follows_settings(tmp_path: Path) -> None:
    from streams.tools.stack import render_alertmanager_config

    s = Settings(alert_webhook_url="http://127.0.0.1:17001/hook", alert_group_wait="2s")
    config = render_alertmanager_config(s)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: run `make setup`"
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    hook = next(r for r in config["receivers"] if r["name"] == "ops-webhook")
    assert hook["webhook_configs"][0]["url"] == "http://127.0.0.1:17001/hook"
    assert config["route"]["group_wait"] == "2s"
    assert all(Path(t).is_absolute() for t in config["templates"])


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run `make setup`"
    rules = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
    check = subprocess.run([promtool, "check", "rules", *map(str, rules)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
    assert tests
    result = subprocess.run([promtool, "test", "rules", *map(str, tests)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_summary_description_and_an_existing_runbook() -> None:
    runbook = (PROJECT_ROOT / "docs" / "RUNBOOK.md").read_text()
    anchors = set(re.findall(r"^## (\S+)$", runbook, re.M))
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                notes = rule["annotations"]
                assert notes["summary"] and notes["description"], rule["alert"]
                page, anchor = notes["runbook_url"].split("#")
                assert page == "docs/RUNBOOK.md" and anchor in anchors, rule["alert"]
                assert rule["labels"]["severity"] in ("warning", "critical")


def test_every_metric_is_in_the_catalogue() -> None:
    from streams.metrics import REGISTRY

    catalogue = (PROJECT_ROOT / "docs" / "METRICS.md").read_text()
    names = {m.name + ("_total" if m.type == "counter" else "") for m in REGISTRY.collect()}
    assert names
    for name in names:
        assert f"`{name}`" in catalogue, name


def test_k8s_grafana_gets_every_generated_dashboard() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    gen = next(g for g in kust["configMapGenerator"] if g["name"] == "grafana-dashboards")
    shipped = {Path(f).name for f in gen["files"]}
    generated = {p.name for p in (PROJECT_ROOT / "dashboards" / "json").glob("*.json")}
    assert generated and shipped == generated


RULES_DIR = DEPLOY / "prometheus" / "rules"
CATEGORIES = {"pipeline", "congestion", "supply"}


def _rules() -> list[dict[str, Any]]:
    return [r for path in sorted(RULES_DIR.glob("*.yml"))
            for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def _rule_tests() -> list[dict[str, Any]]:
    return [t for path in sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
            for t in yaml.safe_load(path.read_text())["tests"]]


def test_every_alert_is_unit_tested_firing_and_labelled_for_routing() -> None:
    """Each alert has a promtool test where it fires, with the labels Alertmanager routes
    and inhibits on: a category, and the port for congestion (a stale feed of the same
    port inhibits it) and for the stale feed itself."""
    fired: dict[str, list[dict[str, str]]] = {}
    quiet: set[str] = set()
    for test in _rule_tests():
        for case in test.get("alert_rule_test", []):
            if case["exp_alerts"]:
                fired.setdefault(case["alertname"], []).extend(
                    a["exp_labels"] for a in case["exp_alerts"])
            else:
                quiet.add(case["alertname"])
    alerts = [r for r in _rules() if "alert" in r]
    assert len(alerts) >= 10
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["category"] in CATEGORIES, name
        assert name in fired, f"{name}: no promtool test where it fires"
        assert name in quiet, f"{name}: no promtool test where it stays quiet"
        for labels in fired[name]:
            assert labels["category"] == rule["labels"]["category"], name
            assert labels["severity"] == rule["labels"]["severity"], name
            if rule["labels"]["category"] == "congestion" or name == "BerthwatchFeedStale":
                assert labels.get("port"), f"{name} loses the port label"
    inhibit = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    stale = next(r for r in inhibit["inhibit_rules"]
                 if r["source_matchers"] == ['alertname="BerthwatchFeedStale"'])
    assert stale["target_matchers"] == ['category="congestion"'] and stale["equal"] == ["port"]
    assert any(r["alert"] == "BerthwatchFeedStale" for r in alerts)


def test_every_recording_rule_is_unit_tested_or_drawn() -> None:
    tested = {case["expr"] for t in _rule_tests() for case in t.get("promql_expr_test", [])}
    from dashboards import DASHBOARDS, expressions

    drawn = " ".join(e for build in DASHBOARDS.values() for _, e in expressions(build()))
    alerting = " ".join(r["expr"] for r in _rules() if "alert" in r)
    for rule in _rules():
        if "record" in rule:
            name = rule["record"]
            assert name in drawn or name in alerting, f"{name} is used by nothing"
            assert name in tested or name in drawn, name


def _catalogue_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (PROJECT_ROOT / "docs" / "METRICS.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 7 and cells[0].startswith(("`berthwatch_", "`process_", "`python_")):
            rows[cells[0].strip("`")] = cells
    return rows


def _metrics_in(expr: str, recorded: dict[str, str], names: set[str]) -> set[str]:
    found: set[str] = set()
    for name in re.findall(r"\b(?:berthwatch[_:]|process_|python_)[\w:]+", expr):
        if name in recorded:
            found |= _metrics_in(recorded[name], recorded, names)
        elif name in names:
            found.add(name)
        else:
            found.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return found


def test_catalogue_names_the_panels_and_alerts_that_use_each_metric() -> None:
    """The "panels" and "alerts" columns of docs/METRICS.md are what the dashboards and
    the rules really read (directly or through a recording rule)."""
    from dashboards import DASHBOARDS
    from streams.metrics import REGISTRY

    names = {m.name + ("_total" if m.type == "counter" else "") for m in REGISTRY.collect()}
    recorded = {r["record"]: r["expr"] for r in _rules() if "record" in r}
    panels: dict[str, set[str]] = {n: set() for n in names}
    for uid, build in DASHBOARDS.items():
        for panel in build()["panels"]:
            for target in panel["targets"]:
                for metric in _metrics_in(target["expr"], recorded, names):
                    panels[metric].add(f"{uid}: {panel['title']}")
    alerts: dict[str, set[str]] = {n: set() for n in names}
    for rule in _rules():
        if "alert" in rule:
            for metric in _metrics_in(rule["expr"], recorded, names):
                alerts[metric].add(rule["alert"])
    rows = _catalogue_rows()
    assert set(rows) == names
    for name, cells in rows.items():
        listed = {f"{group.split(': ')[0]}: {title}" for group in cells[5].split("; ")
                  if ": " in group for title in group.split(": ", 1)[1].split(", ")}
        assert listed == panels[name], f"{name}: catalogue {listed}, dashboards {panels[name]}"
        listed_alerts = set() if cells[6] == "-" else set(cells[6].split(", "))
        assert listed_alerts == alerts[name], name
    assert not [n for n in names if not panels[n]], "metrics no panel draws"
