"""The worker's stages driven in process, partitioned exactly as Kafka would partition.

:func:`run_partitioned` cuts canonical record arrays into feed partitions with
the producer's murmur2 partitioner (:func:`streams.kafka.io.partition_for`), feeds
each partition's engine in batches, interleaving the partitions in event time as a
consumer would see them, routes the partials messages to the detection shards and
collects the published alerts. No broker: the tests use it to show that the partitioned pipeline
equals the backtest, and ``bench/`` to time the stages without the network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.detection import AlertTransition, PipelineConfig
from streams.features import Geofence
from streams.feeds.codec import encode_array, keys_of_array
from streams.kafka.io import partition_for
from streams.kafka.records import PartialsMessage
from streams.kafka.topics import FEED_TOPICS, KIND_OF_TOPIC
from streams.worker.stages import DetectShard, FeaturePartition, FeatureResult, SourceLayout


@dataclass
class LocalRun:
    alerts: list[AlertTransition] = field(default_factory=list)
    records: int = 0
    messages: int = 0


def partition_array(arr: npt.NDArray[Any], topic: str, partitions: int) -> list[npt.NDArray[Any]]:
    """Rows of ``arr`` per partition, in their order, as the replay's producer sends them."""
    cache: dict[bytes, int] = {}
    keys = keys_of_array(arr, KIND_OF_TOPIC[topic])
    dest = np.array([cache.setdefault(k, partition_for(k, partitions)) for k in keys],
                    dtype=np.int64)
    return [arr[dest == p] for p in range(partitions)]


def feature_results(
    feeds: Mapping[str, npt.NDArray[Any]],
    geography: Any,
    partitions: int = 4,
    shards: int = 1,
    batch_ms: int = 6 * 3600 * 1000,
) -> tuple[SourceLayout, Iterator[FeatureResult]]:
    """The source layout, and what every feed partition's engine reports, in arrival
    order: the partitions fed in event-time batches of ``batch_ms``, interleaved as a
    consumer sees them, then their end-of-feed markers (the topic's newest time)."""
    layout = SourceLayout({t: partitions for t in FEED_TOPICS})
    fence = Geofence(geography)
    parts: list[tuple[FeaturePartition, npt.NDArray[Any]]] = []
    for topic in FEED_TOPICS:
        arr = feeds.get(topic)
        split = (partition_array(arr, topic, partitions) if arr is not None
                 else [np.empty(0)] * partitions)
        for p, sub in enumerate(split):
            parts.append((FeaturePartition(topic, p, layout.index(topic, p), fence, shards),
                          sub))

    def results() -> Iterator[FeatureResult]:
        starts = [int(a["ts_ms"].min()) for _, a in parts if len(a)]
        ends = [int(a["ts_ms"].max()) for _, a in parts if len(a)]
        if starts:
            cursor = [0] * len(parts)
            for edge in range(min(starts) + batch_ms, max(ends) + batch_ms + 1, batch_ms):
                for i, (fp, arr) in enumerate(parts):
                    if not len(arr):
                        continue
                    stop = int(np.searchsorted(arr["ts_ms"], edge, side="left"))
                    if stop > cursor[i]:
                        rows = arr[cursor[i]:stop]
                        cursor[i] = stop
                        yield fp.process(encode_array(rows, fp.kind))
        for fp, _ in parts:
            whole = feeds.get(fp.topic)
            top = (int(whole["ts_ms"].max()) if whole is not None and len(whole)
                   else max(ends, default=0))
            yield fp.end_of_feed(top)

    return layout, results()


def run_partitioned(
    feeds: Mapping[str, npt.NDArray[Any]],
    geography: Any,
    config: PipelineConfig,
    partitions: int = 4,
    shards: int = 1,
    batch_ms: int = 6 * 3600 * 1000,
) -> LocalRun:
    """Feed arrays (short topic name -> canonical array in event-time order) through the
    feature partitions and detection shards; end with the end-of-feed markers."""
    layout, results = feature_results(feeds, geography, partitions, shards, batch_ms)
    shard_objs = [DetectShard(config, layout) for _ in range(shards)]
    run = LocalRun()
    for res in results:
        run.records += res.records
        for s, m in enumerate(res.messages):
            run.messages += 1
            _, out = shard_objs[s].add(PartialsMessage.decode(m.encode()))
            run.alerts.extend(shard_objs[s].fresh(out.alerts))
    return run
