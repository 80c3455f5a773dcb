"""Every metric berthwatch exports, in one place.

Names carry the ``berthwatch_`` prefix and base units; counters end in
``_total``; labels come from bounded sets only (port, terminal, site, detector,
topic, reason, severity, stage), never a vessel or a container. Item series
(``site|item``) appear only for the ``item_metrics_top`` most anomalous ones,
so their cardinality is bounded by that setting. The catalogue with meanings,
panels, alerts and runbook links is ``docs/METRICS.md``.

The registry also carries prometheus_client's standard ``process_*`` (memory, CPU, file
descriptors, start time) and ``python_info`` series, which its default registry would
have, and ``berthwatch_build_info`` says which release runs on which Python.
"""

from __future__ import annotations

import platform
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

# The *_created series double every counter's cardinality and no panel uses them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

# --------------------------------------------------------------------------- the process

ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes against the pod limit
PlatformCollector(registry=REGISTRY)  # python_info


def _version() -> str:
    """The installed berthwatch release; ``unknown`` when run from a checkout not installed."""
    try:
        return metadata.version("berthwatch")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO = Gauge(
    "berthwatch_build_info",
    "Always 1: the berthwatch release and the Python version this worker runs.",
    ["version", "python"],
    registry=REGISTRY,
)
BUILD_INFO.labels(_version(), platform.python_version()).set(1)

# --------------------------------------------------------------------------- pipeline health

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
LATE_RECORDS = Counter(
    "berthwatch_late_records_total",
    "Records that arrived after their interval was closed (counted, handled by the late policy).",
    ["topic"],
    registry=REGISTRY,
)
LATE_PARTIALS = Counter(
    "berthwatch_late_partials_total",
    "Contributions of a feed partition (its partials for one interval) that reached the "
    "detection stage after the interval was closed without it, because the partition was "
    "idle: dropped.",
    ["topic"],
    registry=REGISTRY,
)
IDLE_PARTITIONS = Counter(
    "berthwatch_idle_partitions_total",
    "Times a live feed partition of this worker reported itself idle (caught up, no "
    "record for idle_partition_seconds), so the detection stage stopped waiting for it.",
    ["topic"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "berthwatch_consumer_lag_records",
    "Records not yet read in the partitions this worker owns (end offset - position).",
    ["topic"],
    registry=REGISTRY,
)
ASSIGNED_PARTITIONS = Gauge(
    "berthwatch_assigned_partitions",
    "Partitions of the topic this worker owns now.",
    ["topic"],
    registry=REGISTRY,
)
WATERMARK = Gauge(
    "berthwatch_watermark_seconds",
    "Event-time boundary the stage has closed (Unix time): intervals before it are final.",
    ["stage"],
    registry=REGISTRY,
)
FEED_COMPLETE = Gauge(
    "berthwatch_feed_complete",
    "1 once every feed partition sent its end-of-feed marker and the detection stage "
    "processed all of it (a replay is done); 0 before.",
    registry=REGISTRY,
)
CHECKPOINT_TIME = Gauge(
    "berthwatch_checkpoint_timestamp_seconds",
    "Wall time of the stage's last checkpoint (Unix time); age = time() - this.",
    ["stage"],
    registry=REGISTRY,
)
CHECKPOINT_BYTES = Gauge(
    "berthwatch_checkpoint_bytes",
    "Size of the stage's last checkpoint, all its partitions.",
    ["stage"],
    registry=REGISTRY,
)
CHECKPOINTS = Counter(
    "berthwatch_checkpoints_total",
    "Checkpoints written (state and the input offsets it covers).",
    ["stage"],
    registry=REGISTRY,
)
ALERTS_SENT = Counter(
    "berthwatch_alerts_sent_total",
    "Alert transitions delivered to Alertmanager, by severity and state.",
    ["severity", "state"],
    registry=REGISTRY,
)
ALERTS_PUBLISHED = Counter(
    "berthwatch_alerts_published_total",
    "Alert transitions written to the alerts topic, by detector, severity and state.",
    ["detector", "severity", "state"],
    registry=REGISTRY,
)
ALERTS_REJECTED = Counter(
    "berthwatch_alerts_rejected_total",
    "Alert transitions Alertmanager refused (a 4xx answer to that alert alone): dropped, "
    "never retried, by HTTP status.",
    ["status"],
    registry=REGISTRY,
)
ALERTMANAGER_ERRORS = Counter(
    "berthwatch_alertmanager_errors_total",
    "Failed deliveries to an Alertmanager (retried with back-off), by its URL.",
    ["alertmanager"],
    registry=REGISTRY,
)
BROKER_UP = Gauge(
    "berthwatch_broker_up",
    "1 while the worker reaches the Kafka broker, 0 during an outage (the worker is then "
    "not ready and consumes nothing).",
    registry=REGISTRY,
)
BROKER_OUTAGE_SECONDS = Gauge(
    "berthwatch_broker_outage_seconds",
    "How long the current broker outage has lasted (0 while the broker answers).",
    registry=REGISTRY,
)
BROKER_OUTAGES = Counter(
    "berthwatch_broker_outages_total",
    "Broker outages the worker rode out (stopped consuming, reconnected, resumed from its "
    "last checkpoints).",
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
LATENCY = Histogram(
    "berthwatch_processing_latency_seconds",
    "Wall time from a batch's fetch to its outputs (partials, alerts) being acknowledged.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)

# --------------------------------------------------------------------------- the ports

EVENT_TIME = Gauge(
    "berthwatch_event_time_seconds",
    "End of the latest closed interval for the port (Unix time): how far its feeds have got.",
    ["port"],
    registry=REGISTRY,
)
VESSELS_WAITING = Gauge(
    "berthwatch_vessels_waiting",
    "Vessels waiting (at anchor or loitering) for a berth at the port or region.",
    ["port"],
    registry=REGISTRY,
)
VESSEL_ARRIVALS = Gauge(
    "berthwatch_vessel_arrivals",
    "Ships reaching a berth in the latest interval.",
    ["port"],
    registry=REGISTRY,
)
VESSEL_DEPARTURES = Gauge(
    "berthwatch_vessel_departures",
    "Ships leaving a berth in the latest interval.",
    ["port"],
    registry=REGISTRY,
)
VESSEL_WAIT = Gauge(
    "berthwatch_vessel_wait_seconds",
    "Waiting time of the ships that reached a berth in the latest interval, by quantile.",
    ["port", "quantile"],
    registry=REGISTRY,
)
BOXES_ON_TERMINAL = Gauge(
    "berthwatch_boxes_on_terminal",
    "Containers discharged and not yet gone; terminal=\"all\" is the port.",
    ["port", "terminal"],
    registry=REGISTRY,
)
BOXES_PAST_LIMIT = Gauge(
    "berthwatch_boxes_past_limit",
    "Containers on terminal aged past the truck (9 d) or rail (3 d) dwell limit.",
    ["port", "terminal", "limit"],
    registry=REGISTRY,
)
CONTAINER_DWELL = Gauge(
    "berthwatch_container_dwell_seconds",
    "Dwell of the boxes that left in the latest interval, by mode (any, truck, rail) and "
    "quantile.",
    ["port", "terminal", "mode", "quantile"],
    registry=REGISTRY,
)
DAYS_OF_SUPPLY = Gauge(
    "berthwatch_days_of_supply",
    "Days of supply over a site's items, by quantile (0.1, 0.5).",
    ["site", "quantile"],
    registry=REGISTRY,
)
ITEMS_BELOW_LIMIT = Gauge(
    "berthwatch_items_below_supply_limit",
    "Items of the site with fewer days of supply than the limit (5 d).",
    ["site"],
    registry=REGISTRY,
)
ITEM_DAYS_OF_SUPPLY = Gauge(
    "berthwatch_item_days_of_supply",
    "Days of supply of the most anomalous item series only (at most item_metrics_top).",
    ["site", "item"],
    registry=REGISTRY,
)
DISRUPTION_INDEX = Gauge(
    "berthwatch_disruption_index",
    "Composite disruption index of a port or region (0 = normal; alarm at 3).",
    ["port"],
    registry=REGISTRY,
)
SERIES_VALUE = Gauge(
    "berthwatch_series_value",
    "Latest value of a watched series (port, terminal, region or top item), in its unit.",
    ["series"],
    registry=REGISTRY,
)
DETECTOR_SCORE = Gauge(
    "berthwatch_detector_score",
    "Latest score of a detector on a series (0..1; warning at 0.8).",
    ["detector", "series"],
    registry=REGISTRY,
)
DETECTOR_EXPECTED = Gauge(
    "berthwatch_detector_expected",
    "The detector's baseline (expected value) for the series, in the series' unit.",
    ["detector", "series"],
    registry=REGISTRY,
)
DETECTOR_LOWER = Gauge(
    "berthwatch_detector_lower",
    "Lower edge of the detector's baseline band for the series.",
    ["detector", "series"],
    registry=REGISTRY,
)
DETECTOR_UPPER = Gauge(
    "berthwatch_detector_upper",
    "Upper edge of the detector's baseline band for the series.",
    ["detector", "series"],
    registry=REGISTRY,
)
DETECTOR_LIMIT = Gauge(
    "berthwatch_detector_limit",
    "The limit a trend detector projects towards (anchorages, dwell days, days of supply).",
    ["detector", "series"],
    registry=REGISTRY,
)
DETECTOR_CROSSING = Gauge(
    "berthwatch_detector_crossing_timestamp_seconds",
    "Projected time (Unix) the series crosses its limit; absent when no crossing is projected.",
    ["detector", "series"],
    registry=REGISTRY,
)
ALERT_ACTIVE = Gauge(
    "berthwatch_alert_active",
    "1 while a berthwatch detector alert fires on the series, 0 once resolved.",
    ["detector", "series", "severity"],
    registry=REGISTRY,
)
ALERT_SINCE = Gauge(
    "berthwatch_alert_since_timestamp_seconds",
    "Event time (Unix) the firing detector alert on the series started; 0 once resolved.",
    ["detector", "series", "severity"],
    registry=REGISTRY,
)
