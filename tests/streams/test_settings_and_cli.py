"""Settings load from defaults, environment and YAML; bad input is one line naming the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from streams.cli import cli
from streams.settings import ConfigError, Settings, load_settings
from streams.tools.stack import Kafka, Prometheus, StackError, render_prometheus_config


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 20, name


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bw.yml"
    config.write_text(yaml.safe_dump({"kafka_port": 19999, "prometheus_port": 19998}))
    monkeypatch.setenv("BERTHWATCH_PROMETHEUS_PORT", "17777")
    s = load_settings(config)
    assert s.kafka_port == 19999  # from the file
    assert s.prometheus_port == 17777  # the environment wins
    assert s.kafka_bootstrap == "127.0.0.1:19999"
    monkeypatch.setenv("BERTHWATCH_KAFKA_SERVERS", "kafka-a:9092,kafka-b:9092")
    assert load_settings(config).kafka_bootstrap == "kafka-a:9092,kafka-b:9092"


def test_bad_file_value_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTHWATCH_CONFIG", raising=False)
    config = tmp_path / "bw.yml"
    config.write_text("kafka_port: 70000\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(err.value).startswith("kafka_port:")
    assert "\n" not in str(err.value)
    config.write_text("kafka_prot: 9092\n")
    with pytest.raises(ConfigError, match="kafka_prot: Extra inputs are not permitted"):
        load_settings(config)


def test_idle_partition_seconds_defaults_to_five_minutes_and_refuses_negatives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().idle_partition_seconds == 300.0
    monkeypatch.setenv("BERTHWATCH_IDLE_PARTITION_SECONDS", "0")
    assert load_settings().idle_partition_seconds == 0.0  # off
    monkeypatch.setenv("BERTHWATCH_IDLE_PARTITION_SECONDS", "2.5")
    assert load_settings().idle_partition_seconds == 2.5
    monkeypatch.setenv("BERTHWATCH_IDLE_PARTITION_SECONDS", "-1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith("idle_partition_seconds:")
    assert "BERTHWATCH_IDLE_PARTITION_SECONDS" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yml")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60, check=False)


def test_cli_bad_environment_is_one_line_without_traceback() -> None:
    result = _run(["stack", "status"], {"BERTHWATCH_KAFKA_PORT": "nine"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "kafka_port" in lines[0] and "BERTHWATCH_KAFKA_PORT" in lines[0]


def test_unknown_environment_variable_is_one_warning_naming_the_closest_setting() -> None:
    env = {"BERTHWATCH_SECURITY_PROTOCL": "SASL_SSL", "BERTHWATCH_KAFKA_PROT": "9"}
    result = _run(["stack", "status"], env)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert lines == [
        "warning: BERTHWATCH_KAFKA_PROT is not a setting and is ignored "
        "(did you mean BERTHWATCH_KAFKA_PORT?)",
        "warning: BERTHWATCH_SECURITY_PROTOCL is not a setting and is ignored",
    ]


def test_cli_bad_option_names_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "missing.yml"), "stack", "up"])
    assert result.exit_code == 2
    assert "--config" in result.output and "missing.yml" in result.output
    result = CliRunner().invoke(cli, ["worker", "--web-port", "0"])
    assert result.exit_code == 2 and "--web-port" in result.output


def test_missing_java_is_reported_with_the_fix(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no java, mvn or prometheus
    s = Settings(stack_dir=tmp_path / "stack", cache_dir=tmp_path / "cache")
    with pytest.raises(StackError, match=r"java not found: install OpenJDK 17"):
        Kafka(s).start()
    assert "apt-get install prometheus" in (Prometheus(s).missing() or "")
    assert not (tmp_path / "stack" / "run" / "kafka.pid").exists()


def test_prometheus_config_follows_settings(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, prometheus_port=19191, alertmanager_port=19192,
                 worker_metrics_ports=[17001, 17002], scrape_interval="2s")
    config = render_prometheus_config(s)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}  # type: ignore[attr-defined]
    assert jobs["berthwatch-workers"]["static_configs"][0]["targets"] == [
        "127.0.0.1:17001", "127.0.0.1:17002"]
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:19192"]}]}]}
    assert config["global"]["scrape_interval"] == "2s"  # type: ignore[index]
    for pattern in config["rule_files"]:  # type: ignore[attr-defined]
        assert list(Path(pattern).parent.glob(Path(pattern).name)), pattern


def test_storage_of_another_kafka_version_is_refused(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path / "stack")
    kafka = Kafka(s)
    if not kafka.libs.is_dir():
        kafka.fetch_jars()  # normally done by `make setup`
    (kafka.data_dir).mkdir(parents=True)
    (kafka.data_dir / "meta.properties").write_text("version=1\n")
    (kafka.dir / "formatted-by").write_text("4.1.1")
    with pytest.raises(StackError, match=r"formatted by Kafka 4\.1\.1, not 3\.9\.1"):
        kafka.prepare()


def test_state_dir_defaults_under_the_stack_and_can_be_set(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path / "stack")
    assert s.worker_state_dir == tmp_path / "stack" / "workers"
    assert Settings(state_dir=tmp_path / "state").worker_state_dir == tmp_path / "state"


def test_alert_link_and_alertmanager_urls_are_checked_and_passwords_never_shown() -> None:
    s = Settings(alertmanager_url="http://am-0:9093/, http://am-1:9093",
                 grafana_url="https://grafana.example/", docs_url="https://docs.example/d/")
    assert s.alertmanager_url == "http://am-0:9093,http://am-1:9093"
    assert (s.grafana_url, s.docs_url) == ("https://grafana.example", "https://docs.example/d")
    with pytest.raises(ConfigError) as bad:
        load_settings(alertmanager_url="http://am-0:9093,am-1:9093")
    assert str(bad.value).startswith("alertmanager_url: ") and "'am-1:9093'" in str(bad.value)
    with pytest.raises(ConfigError) as secret:
        load_settings(docs_url="ftp://bw:s3cret@docs.example/")
    assert "s3cret" not in str(secret.value) and "docs_url" in str(secret.value)
