"""Every metric berthwatch exports, in one place.

Names carry the ``berthwatch_`` prefix and base units; counters end in
``_total``; labels come from bounded sets only (port, terminal, detector,
topic, reason, severity), never a vessel or a container. The catalogue with
meanings and runbook links is ``docs/METRICS.md``.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# The *_created series double every counter's cardinality and no panel uses them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

RECORDS_IN = Counter(
    "berthwatch_records_in_total",
    "Records read from a topic, valid or not.",
    ["topic"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "berthwatch_dead_letters_total",
    "Records sent to the dead-letter topic, by reason.",
    ["topic", "reason"],
    registry=REGISTRY,
)
VESSELS_WAITING = Gauge(
    "berthwatch_vessels_waiting",
    "Vessels waiting (at anchor or loitering) for a berth at the port, at the latest event time.",
    ["port"],
    registry=REGISTRY,
)
EVENT_TIME = Gauge(
    "berthwatch_event_time_seconds",
    "Latest event time processed for the port, as a Unix timestamp.",
    ["port"],
    registry=REGISTRY,
)
ALERTS_SENT = Counter(
    "berthwatch_alerts_sent_total",
    "Alert transitions delivered to Alertmanager, by severity and state.",
    ["severity", "state"],
    registry=REGISTRY,
)
ALERTMANAGER_ERRORS = Counter(
    "berthwatch_alertmanager_errors_total",
    "Failed deliveries to Alertmanager (retried with back-off).",
    registry=REGISTRY,
)
ALERTS_FIRING = Gauge(
    "berthwatch_alerts_firing",
    "Alerts currently firing, by severity.",
    ["severity"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "berthwatch_batch_size_records",
    "Records per batch handed to the processing functions.",
    ["topic"],
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000),
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "berthwatch_batch_processing_seconds",
    "Wall time to process one batch.",
    ["topic"],
    registry=REGISTRY,
)
