"""Pipeline health: what flows in, what is rejected, how fast batches go, alert delivery."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import (
    DEAD_LETTER_RATIO_LIMIT,
    alert_annotation,
    finish,
    label_variable,
    query,
    stat,
    timeseries,
)

UID = "pipeline-health"
TOPIC = 'topic=~"$topic"'


def _quantiles(metric: str) -> list[Any]:
    return [
        query(f"histogram_quantile({q}, sum by (le, topic) "
              f"(rate({metric}_bucket{{{TOPIC}}}[$__rate_interval])))",
              f"p{round(q * 100)} {{{{topic}}}}")
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
        .with_variable(label_variable("topic", "Topic", "berthwatch_records_in_total"))
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
            "Batch size", "Records per batch handed to the processing functions "
            "(median and 99th percentile).",
            _quantiles("berthwatch_batch_size_records"), unit="short", width=12))
        .with_panel(timeseries(
            "Batch processing latency", "Wall time to process one batch "
            "(median and 99th percentile).",
            _quantiles("berthwatch_batch_processing_seconds"), unit="s", width=12))
        .with_panel(timeseries(
            "Alerts sent", "Alert transitions delivered to Alertmanager per second, by "
            "severity and state, and the alerts firing now.",
            [query("sum by (severity, state) "
                   "(rate(berthwatch_alerts_sent_total[$__rate_interval]))",
                   "sent {{severity}} {{state}}"),
             query("sum by (severity) (berthwatch_alerts_firing)", "firing {{severity}}")],
            unit="short", width=12))
        .with_panel(timeseries(
            "Alertmanager errors", "Failed posts to Alertmanager per 5 minutes, per worker "
            "(BerthwatchAlertmanagerUnreachable above 3).",
            [query("sum by (instance) (increase(berthwatch_alertmanager_errors_total[5m]))",
                   "{{instance}}")],
            unit="short", width=12, limit=3))
        .with_panel(stat(
            "Workers up", "Workers Prometheus scrapes successfully (BerthwatchWorkerDown "
            "when one is down for a minute).",
            [query('sum(up{job="berthwatch-workers"})', "up")],
            unit="none", width=4, height=8))
        .with_panel(timeseries(
            "Worker scrapes", "1 while Prometheus scrapes the worker, 0 when it cannot.",
            [query('up{job="berthwatch-workers"}', "{{instance}}")],
            unit="none", width=8))
    )
    return finish(board, [
        alert_annotation("Pipeline alerts", 'ALERTS{alertstate="firing", category="pipeline"}',
                         "orange"),
    ])
