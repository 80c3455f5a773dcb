"""The streaming workers on the real broker and Alertmanager.

The San Pedro Bay scenario (five months of the bundled feed, with the 2021-11-16
counting change) is replayed into Kafka and read by ``berthwatch worker``
processes. Their alerts topic must hold exactly the transitions the in-process
``berthwatch backtest`` finds on the same files: with one worker, after a worker
is killed with SIGKILL halfway and another takes over, and with two workers
splitting the partitions.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

from streams.settings import Settings
from tests.integration.conftest import (
    BERTHWATCH,
    PROJECT_ROOT,
    Replayed,
    Transition,
    Worker,
    deployment,
    eventually,
    http_json,
    metric,
    prom_query,
    read_topic,
    wait_detected_to_end,
    wait_published,
)
from tests.integration.conftest import same_alerts as _same_alerts


def test_one_worker_publishes_exactly_the_backtests_alerts(
        spb_replayed: Replayed, spb_backtest: list[Transition]) -> None:
    _same_alerts(spb_replayed.alerts, spb_backtest)


def test_the_worker_exports_port_metrics_that_prometheus_scrapes(
        stack: Settings, spb_replayed: Replayed) -> None:
    w = spb_replayed.worker
    queue = metric(w, "berthwatch_vessels_waiting", port="san-pedro-bay")
    assert queue > 55, "the end of 2021: the queue is far above the 55 anchorages"
    assert metric(w, "berthwatch_boxes_on_terminal", port="USLAX", terminal="all") > 0
    assert metric(w, "berthwatch_event_time_seconds", port="USLAX") >= 1_640_000_000
    prefix = spb_replayed.env["BERTHWATCH_TOPIC_PREFIX"]
    assert metric(w, "berthwatch_dead_letters_total", topic=f"{prefix}positions",
                  reason="bad_length") == 1
    firing = metric(w, "berthwatch_alert_active")
    assert firing >= 1
    got = eventually(lambda: prom_query(
        stack, 'berthwatch_vessels_waiting{port="san-pedro-bay"}'), timeout=30)
    assert abs(float(got[0]["value"][1]) - queue) < 1e-9


def test_the_malformed_record_is_dead_lettered_with_its_reason(
        stack: Settings, spb_replayed: Replayed) -> None:
    prefix = spb_replayed.env["BERTHWATCH_TOPIC_PREFIX"]
    letters = [r for r in read_topic(stack, f"{prefix}deadletter")
               if r[5].get("source_topic") == f"{prefix}positions"]
    assert len(letters) == 1
    _p, _o, key, value, _ts, headers = letters[0]
    assert (key, value) == (b"366000000", b"not a canonical record")
    assert headers["error_class"] == "bad_length"
    assert headers["source_offset"] == "0"


def test_alerts_reach_alertmanager_with_event_time_and_a_dashboard_link(
        stack: Settings, spb_replayed: Replayed) -> None:
    firing_keys = {t[0] for t in spb_replayed.alerts if t[1] == "firing"}

    def ours() -> list[dict[str, object]]:
        alerts = http_json(f"{stack.am_url}/api/v2/alerts")
        return [a for a in alerts if a["labels"].get("alert_key") in firing_keys]

    got = eventually(ours, timeout=30)
    a = got[0]
    assert a["labels"]["alertname"].startswith("Berthwatch")
    assert str(a["startsAt"]).startswith("2021-"), a["startsAt"]  # event time, not wall time
    assert "/d/detector-drilldown?" in a["annotations"]["dashboard_url"]
    assert a["annotations"]["runbook_url"].startswith("docs/RUNBOOK.md#")


def _replay(paths: list[Path], env: dict[str, str], log: Path,
            *options: str) -> subprocess.Popen[bytes]:

    return subprocess.Popen([*BERTHWATCH, "replay", *options, *map(str, paths)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, **env}, cwd=PROJECT_ROOT)


def test_kill_9_and_restart_loses_and_doubles_nothing(
        stack: Settings, spb_feed: tuple[list[Path], Path], spb_backtest: list[Transition],
        tmp_path: Path) -> None:
    paths, labels = spb_feed
    env = deployment("kill", labels)
    first = Worker(tmp_path / "first.log", stack.worker_web_port + 2, env)
    second: Worker | None = None
    try:
        first.wait_ready()
        replay = _replay(paths, env, tmp_path / "replay.log")
        # kill it once it has checkpointed and is well into the feed
        eventually(lambda: metric(first, "berthwatch_checkpoints_total", stage="detect") >= 2
                   and metric(first, "berthwatch_records_in_total") > 300_000, timeout=300)
        first.stop(signal.SIGKILL)
        assert first.proc.returncode == -signal.SIGKILL
        assert replay.wait(300) == 0, (tmp_path / "replay.log").read_text()[-2000:]
        second = Worker(tmp_path / "second.log", stack.worker_web_port + 3, env)
        second.wait_ready()
        wait_detected_to_end([second])
        _same_alerts(wait_published(stack, env, len(spb_backtest)), spb_backtest)
        log = second.log.read_text()
        assert "(checkpoint)" in log, "the second worker must start from the checkpoints"
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()


def test_two_workers_split_the_partitions_and_publish_what_one_does(
        stack: Settings, spb_feed: tuple[list[Path], Path], spb_backtest: list[Transition],
        tmp_path: Path) -> None:
    paths, labels = spb_feed
    env = deployment("pair", labels)
    workers = [Worker(tmp_path / f"w{i}.log", stack.worker_web_port + 4 + i, env)
               for i in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        # both own feed partitions before the replay starts
        eventually(lambda: all(metric(w, "berthwatch_assigned_partitions") > 0
                               for w in workers), timeout=60)
        replay = _replay(paths, env, tmp_path / "replay.log")
        assert replay.wait(300) == 0, (tmp_path / "replay.log").read_text()[-2000:]
        wait_detected_to_end(workers)
        _same_alerts(wait_published(stack, env, len(spb_backtest)), spb_backtest)
        for w in workers:
            assert metric(w, "berthwatch_records_in_total") > 0, f"{w.log} read nothing"
    finally:
        for w in workers:
            w.stop()


def test_after_a_rebalance_the_alert_metrics_sum_to_one_workers(
        stack: Settings, spb_feed: tuple[list[Path], Path], spb_backtest: list[Transition],
        tmp_path: Path) -> None:
    """A worker that lost a detection shard kept exporting its alerts (and re-sending them),
    so sums across workers counted them twice; now it drops them, and the new owner
    exports them from its restored state at once. The new owner exported the shard's
    series values and scores only at the next interval (never, after a replay's end):
    now they come with the checkpoint."""
    paths, labels = spb_feed
    env = deployment("rebalance", labels, BERTHWATCH_DETECT_PARTITIONS="2")
    partials = env["BERTHWATCH_TOPIC_PREFIX"] + "partials"
    first = Worker(tmp_path / "w0.log", stack.worker_web_port + 14, env)
    second = None
    try:
        first.wait_ready()
        replay = _replay(paths, env, tmp_path / "replay.log")
        assert replay.wait(300) == 0, (tmp_path / "replay.log").read_text()[-2000:]
        wait_detected_to_end([first])
        names = ("berthwatch_alert_active", "berthwatch_alerts_firing",
                 "berthwatch_series_value", "berthwatch_detector_score",
                 "berthwatch_vessels_waiting", "berthwatch_event_time_seconds")

        def settled() -> dict[str, float] | None:
            before = {n: metric(first, n) for n in names}
            time.sleep(3)
            return before if before == {n: metric(first, n) for n in names} else None

        alone = eventually(settled, timeout=60)
        assert all(alone[n] > 0 for n in names), alone
        second = Worker(tmp_path / "w1.log", stack.worker_web_port + 15, env)
        second.wait_ready()
        eventually(lambda: metric(second, "berthwatch_assigned_partitions", topic=partials) > 0,
                   timeout=90)
        workers = (first, second)

        def summed() -> dict[str, float]:
            return {n: sum(metric(w, n) for w in workers) for n in names}

        def differences() -> dict[str, tuple[float, float]]:
            now = summed()  # sums of values in another order: equal up to rounding
            return {n: (now[n], alone[n]) for n in names
                    if not math.isclose(now[n], alone[n], rel_tol=1e-9)}

        try:
            eventually(lambda: not differences(), timeout=60, interval=1.0)
        except AssertionError:
            raise AssertionError(f"sums (two workers, one): {differences()}") from None
        # every worker that owns a shard says the feed is complete, at once after a restore
        assert all(metric(w, "berthwatch_feed_complete") == 1 for w in workers)
    finally:
        first.stop()
        if second is not None:
            second.stop()


def _ready(worker: Worker) -> int:
    """The status of the worker's /ready; 0 when it does not answer within 5 s (a long
    batch holds its event loop on a loaded machine)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/ready", timeout=5):
            return 200
    except urllib.error.HTTPError as e:
        return e.code
    except (TimeoutError, urllib.error.URLError):
        return 0


def test_a_broker_outage_mid_replay_is_ridden_out_and_the_alerts_are_exact(
        stack: Settings, spb_feed: tuple[list[Path], Path], spb_backtest: list[Transition],
        tmp_path: Path) -> None:
    """The broker killed (SIGKILL) for longer than a producer's request timeout during a
    replay: the worker's pipeline died with a KafkaTimeoutError and the process hung
    until the broker came back, then crashed; ``replay --wait`` failed its send. Now the
    worker says it is not ready, logs the outage in a few lines, reconnects by itself and
    resumes from its checkpoints; the replay waits and completes; the alerts are exact."""
    from streams.tools import stack as stack_mod
    from streams.tools.stack import Kafka

    paths, labels = spb_feed
    env = deployment("outage", labels, BERTHWATCH_KAFKA_OUTAGE_SECONDS="5")
    worker = Worker(tmp_path / "worker.log", stack.worker_web_port + 24, env)
    kafka = Kafka(stack)
    try:
        worker.wait_ready()
        replay = _replay(paths, env, tmp_path / "replay.log", "--wait")
        eventually(lambda: metric(worker, "berthwatch_checkpoints_total", stage="detect") >= 2
                   and metric(worker, "berthwatch_records_in_total") > 100_000, timeout=300)
        pid = kafka.pid()
        assert pid is not None and replay.poll() is None
        eventually(lambda: _ready(worker) == 200 and metric(worker, "berthwatch_broker_up") == 1,
                   timeout=60)
        lines_before = len(worker.log.read_text(errors="replace").splitlines())
        os.killpg(pid, signal.SIGKILL)
        try:
            # not ready within the bound (5 s without an answer, probed every 2 s)
            eventually(lambda: _ready(worker) == 503, timeout=20)
            assert metric(worker, "berthwatch_broker_up") == 0
            time.sleep(40)  # longer than the producers' request timeouts (30 s, 40 s)
            assert worker.proc.poll() is None, "the worker must ride the outage out"
            assert replay.poll() is None, "replay --wait must wait"
            assert metric(worker, "berthwatch_broker_outage_seconds") >= 40
        finally:
            kafka.pid_file.unlink(missing_ok=True)
            stack_mod.up(stack, report=lambda _line: None)
        assert replay.wait(300) == 0, (tmp_path / "replay.log").read_text()[-2000:]
        wait_detected_to_end([worker])
        _same_alerts(wait_published(stack, env, len(spb_backtest)), spb_backtest)
        eventually(lambda: _ready(worker) == 200 and metric(worker, "berthwatch_broker_up") == 1,
                   timeout=60)
        assert metric(worker, "berthwatch_broker_outages_total") == 1
        log = worker.log.read_text(errors="replace")
        assert log.count("is unreachable") == 1 and log.count("is back after") == 1
        assert "Traceback" not in log and "crash" not in log
        # the clients' reconnect attempts (a thousand a minute) are summarised, not logged
        # one by one
        after = worker.log.read_text(errors="replace").splitlines()[lines_before:]
        loud = [line for line in after if "[ERROR]" in line or "[WARNING]" in line]
        assert len(loud) < 40, "\n".join(loud)
        replayed = (tmp_path / "replay.log").read_text(errors="replace")
        assert "waiting (--wait)" in replayed and "acknowledges again" in replayed
        assert replayed.count("Unable connect") < 20
    finally:
        worker.stop()
