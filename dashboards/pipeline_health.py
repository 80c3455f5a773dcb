"""Pipeline health: what flows in, what is rejected or late, how far behind the workers are,
how fast batches go, checkpoints and watermarks, alert delivery, and each worker process's
memory, CPU and file descriptors."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import (
    CHECKPOINT_AGE_LIMIT_S,
    CONSUMER_LAG_LIMIT,
    DEAD_LETTER_RATIO_LIMIT,
    DRILLDOWN_UID,
    alert_annotation,
    dashboard_link,
    finish,
    label_variable,
    query,
    stat,
    timeseries,
)

UID = "pipeline-health"
TOPIC = 'topic=~"$topic"'
STAGE = 'stage=~"$stage"'


def _quantiles(metric: str, by: str = "topic", selector: str = TOPIC) -> list[Any]:
    return [
        query(f"histogram_quantile({q}, sum by (le, {by}) "
              f"(rate({metric}_bucket{{{selector}}}[$__rate_interval])))",
              f"p{round(q * 100)} {{{{{by}}}}}")
        for q in (0.5, 0.99)
    ]


def build() -> dict[str, Any]:
    """The dashboard's JSON model."""
    board = (
        dash_b.Dashboard("berthwatch: pipeline health").uid(UID)
        .description("Records read and rejected per topic, batch sizes and latency, alert "
                     "delivery to Alertmanager and worker scrapes.")
        .tags(["berthwatch", "pipeline"]).editable().timezone("utc").time("now-6h", "now")
        .refresh("30s").tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .link(dashboard_link("Port overview", "port-overview"))
        .link(dashboard_link("Detector drill-down", DRILLDOWN_UID))
        .with_variable(label_variable("topic", "Topic", "berthwatch_records_in_total"))
        .with_variable(label_variable("stage", "Stage", "berthwatch_watermark_seconds"))
        .with_panel(timeseries(
            "Records in", "Records read per second by topic, valid or not (5 min rate).",
            [query(f"berthwatch:records_in:rate5m{{{TOPIC}}}", "{{topic}}")],
            unit="short", width=12))
        .with_panel(timeseries(
            "Dead letters by reason", "Records per second sent to the dead-letter topic, "
            "by topic and reason code (docs/FEEDS.md).",
            [query(f"berthwatch:dead_letters:rate5m{{{TOPIC}}}", "{{topic}} {{reason}}")],
            unit="short", width=12))
        .with_panel(timeseries(
            "Dead-letter ratio", "Share of the records read that were rejected; the dashed "
            "line is BerthwatchDeadLetterRateHigh's 5%.",
            [query(f"berthwatch:dead_letter_ratio:rate5m{{{TOPIC}}}", "{{topic}}")],
            unit="percentunit", width=12, limit=DEAD_LETTER_RATIO_LIMIT))
        .with_panel(timeseries(
            "Late records", "Records per second that arrived after their interval was closed "
            "(counted and handled by the late policy, docs/RECOVERY.md); partials dropped "
            "because their feed partition was idle when the interval closed, and the idle "
            "reports of live partitions (docs/RECOVERY.md, Idle partitions).",
            [query(f"berthwatch:late_records:rate5m{{{TOPIC}}}", "{{topic}}"),
             query(f"sum by (topic) (rate(berthwatch_late_partials_total{{{TOPIC}}}[5m]))",
                   "{{topic}} partials dropped (idle)", ref_id="B"),
             query(f"sum by (topic) (rate(berthwatch_idle_partitions_total{{{TOPIC}}}[5m]))",
                   "{{topic}} idle reports", ref_id="C")],
            unit="short", width=12))
        .with_panel(timeseries(
            "Consumer lag", "Records not yet read, over every worker of the group; the dashed "
            f"line is the {CONSUMER_LAG_LIMIT} records over which BerthwatchConsumerLagHigh "
            "fires if the backlog stops shrinking.",
            [query(f"berthwatch:consumer_lag:records{{{TOPIC}}}", "{{topic}}")],
            unit="short", width=12, limit=CONSUMER_LAG_LIMIT))
        .with_panel(timeseries(
            "Assigned partitions", "Partitions each worker owns now, by topic: a rebalance "
            "shows as a step.",
            [query(f"sum by (instance, topic) (berthwatch_assigned_partitions{{{TOPIC}}})",
                   "{{instance}} {{topic}}")],
            unit="none", width=12))
        .with_panel(timeseries(
            "Batch size", "Records per batch handed to the processing functions "
            "(median and 99th percentile).",
            _quantiles("berthwatch_batch_size_records"), unit="short", width=12))
        .with_panel(timeseries(
            "Batch processing latency", "Wall time to process one batch "
            "(median and 99th percentile).",
            _quantiles("berthwatch_batch_processing_seconds"), unit="s", width=12))
        .with_panel(timeseries(
            "Processing latency", "Wall time from a batch's fetch to its outputs being "
            "acknowledged, by stage (median and 99th percentile).",
            _quantiles("berthwatch_processing_latency_seconds", "stage", STAGE),
            unit="s", width=12))
        .with_panel(timeseries(
            "Checkpoint age", "Wall time since each worker's last checkpoint of a stage; "
            "BerthwatchCheckpointTooOld fires over the dashed line while the worker reads.",
            [query(f"max by (instance, stage) (berthwatch:checkpoint_age:seconds{{{STAGE}}})",
                   "{{instance}} {{stage}}")],
            unit="s", width=12, limit=CHECKPOINT_AGE_LIMIT_S))
        .with_panel(timeseries(
            "Checkpoint size", "Size of each worker's last checkpoint of a stage, all its "
            "partitions.",
            [query(f"max by (instance, stage) (berthwatch_checkpoint_bytes{{{STAGE}}})",
                   "{{instance}} {{stage}}")],
            unit="bytes", width=8))
        .with_panel(timeseries(
            "Checkpoints written", "Checkpoints written per minute, by stage.",
            [query(f"sum by (stage) (rate(berthwatch_checkpoints_total{{{STAGE}}}"
                   "[$__rate_interval])) * 60", "{{stage}}")],
            unit="short", width=8))
        .with_panel(timeseries(
            "Watermark", "Event-time boundary each stage has closed: intervals before it "
            "are final. It runs ahead of wall time's pace during a replay.",
            [query(f"max by (stage) (berthwatch_watermark_seconds{{{STAGE}}}) * 1000",
                   "{{stage}}")],
            unit="dateTimeAsIso", width=8, min_value=None))
        .with_panel(timeseries(
            "Alerts sent", "Alert transitions delivered to Alertmanager per second, by "
            "severity and state, and the alerts firing now.",
            [query("sum by (severity, state) "
                   "(rate(berthwatch_alerts_sent_total[$__rate_interval]))",
                   "sent {{severity}} {{state}}"),
             query("sum by (severity) (berthwatch_alerts_firing)", "firing {{severity}}")],
            unit="short", width=12))
        .with_panel(timeseries(
            "Alert transitions published", "Alert transitions written to the alerts topic "
            "per second, by detector and state.",
            [query("sum by (detector, state) "
                   "(rate(berthwatch_alerts_published_total[$__rate_interval]))",
                   "{{detector}} {{state}}")],
            unit="short", width=12))
        .with_panel(timeseries(
            "Alertmanager errors", "Failed posts to each Alertmanager per 5 minutes, per "
            "worker (BerthwatchAlertmanagerUnreachable above 3), and alerts refused with a 4xx "
            "(dropped, by status).",
            [query("sum by (instance, alertmanager) "
                   "(increase(berthwatch_alertmanager_errors_total[5m]))",
                   "{{instance}} to {{alertmanager}}"),
             query("sum by (status) (increase(berthwatch_alerts_rejected_total[5m]))",
                   "refused {{status}}")],
            unit="short", width=12, limit=3))
        .with_panel(stat(
            "Workers up", "Workers Prometheus scrapes successfully (BerthwatchWorkerDown "
            "when one is down for a minute).",
            [query('sum(up{job="berthwatch-workers"})', "up")],
            unit="none", width=4, height=8))
        .with_panel(timeseries(
            "Kafka reachable", "1 while each worker reaches the Kafka broker, 0 during an "
            "outage (BerthwatchKafkaUnreachable after 2 minutes); how long the current "
            "outage has lasted, and the outages each worker rode out in the last hour.",
            [query("min by (instance) (berthwatch_broker_up)", "up {{instance}}"),
             query("max by (instance) (berthwatch_broker_outage_seconds)",
                   "outage s {{instance}}"),
             query("sum by (instance) (increase(berthwatch_broker_outages_total[1h]))",
                   "outages 1h {{instance}}")],
            unit="short", width=8))
        .with_panel(timeseries(
            "Worker scrapes", "1 while Prometheus scrapes the worker, 0 when it cannot.",
            [query('up{job="berthwatch-workers"}', "{{instance}}")],
            unit="none", width=8))
        .with_panel(stat(
            "Replay complete", "1 once the detection stage has processed every feed "
            "partition up to its end-of-feed marker (the end of a replay); 0 while it "
            "works through one.",
            [query("max(berthwatch_feed_complete)", "complete", instant=True)],
            unit="none", width=4, height=8))
        .with_panel(timeseries(
            "Worker memory", "Resident memory of each worker process (compare with the pod's "
            "memory limit: deploy/k8s/workers.yaml) and its virtual memory.",
            [query("max by (instance) (process_resident_memory_bytes{job=\"berthwatch-workers\"})",
                   "resident {{instance}}"),
             query("max by (instance) (process_virtual_memory_bytes{job=\"berthwatch-workers\"})",
                   "virtual {{instance}}")],
            unit="bytes", width=12))
        .with_panel(timeseries(
            "Worker CPU", "CPU seconds per second each worker process uses (1 = one core).",
            [query("sum by (instance) (rate(process_cpu_seconds_total"
                   "{job=\"berthwatch-workers\"}[$__rate_interval]))", "{{instance}}")],
            unit="short", width=8))
        .with_panel(timeseries(
            "Open file descriptors", "File descriptors each worker process has open, and its "
            "limit.",
            [query("max by (instance) (process_open_fds{job=\"berthwatch-workers\"})",
                   "open {{instance}}"),
             query("max by (instance) (process_max_fds{job=\"berthwatch-workers\"})",
                   "limit {{instance}}")],
            unit="short", width=8))
        .with_panel(stat(
            "Worker uptime", "Seconds since each worker process started (a restart resets it).",
            [query("time() - max by (instance) "
                   "(process_start_time_seconds{job=\"berthwatch-workers\"})", "{{instance}}")],
            unit="s", width=8, height=8))
        .with_panel(stat(
            "Release and Python", "The berthwatch release and the Python version of each "
            "worker (berthwatch_build_info, python_info): a rollout shows two at once.",
            [query("count by (version, python) (berthwatch_build_info)",
                   "berthwatch {{version}} on Python {{python}}"),
             query("count by (implementation, version) (python_info"
                   "{job=\"berthwatch-workers\"})", "{{implementation}} {{version}}")],
            unit="none", width=24, height=4))
    )
    return finish(board, [
        alert_annotation("Pipeline alerts", 'ALERTS{alertstate="firing", category="pipeline"}',
                         "orange"),
    ])
