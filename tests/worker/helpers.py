"""Feeds of a simulated scenario as the worker sees them, and the partials stream they make."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.detection import AlertTransition
from streams.feeds.codec import DTYPES
from streams.kafka.topics import KIND_OF_TOPIC
from streams.offline.backtest import read_feeds
from streams.worker.local import feature_results
from streams.worker.stages import SourceLayout

FEED_FILES = ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz")


def feed_arrays(paths: Sequence[Path]) -> dict[str, npt.NDArray[Any]]:
    """Short topic name -> canonical array in event-time order (stable), as the backtest
    reads and sorts each kind."""
    data = read_feeds(paths)
    out = {}
    for topic, kind in KIND_OF_TOPIC.items():
        arr = data.of(kind, DTYPES[kind])
        if len(arr):
            out[topic] = arr[np.argsort(arr["ts_ms"], kind="stable")]
    return out


def transitions(alerts: Sequence[AlertTransition]) -> list[tuple[str, str, float, str]]:
    return [(a.key, a.state, a.ts, a.severity) for a in alerts]


def in_event_order(alerts: Sequence[AlertTransition]) -> list[AlertTransition]:
    """Alerts by event time (then key). Hourly and daily series are decided by separate
    stages, so their transitions interleave differently in a stream and a backtest; within
    one key the order is the event-time order either way."""
    return sorted(alerts, key=lambda a: (a.ts, a.key, a.state))


def partials_stream(
    feeds: Mapping[str, npt.NDArray[Any]],
    geography: Any,
    partitions: int,
    shards: int,
    batch_ms: int = 6 * 3600 * 1000,
) -> tuple[SourceLayout, list[list[bytes]]]:
    """The encoded partials messages each detection shard receives, in arrival order:
    every feed partition's engine fed in event-time batches, interleaved, then the
    end-of-feed markers (the way :func:`streams.worker.local.run_partitioned` drives them)."""
    layout, results = feature_results(feeds, geography, partitions, shards, batch_ms)
    inbox: list[list[bytes]] = [[] for _ in range(shards)]
    for res in results:
        for s, m in enumerate(res.messages):
            inbox[s].append(m.encode())
    return layout, inbox
