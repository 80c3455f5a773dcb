"""The worker's two stages as plain objects: no broker here, so tests and benchmarks call them.

**Feature stage** (:class:`FeaturePartition`): one feature engine per feed partition
the worker owns (``positions``, ``containers``, ``inventory`` are keyed by
entity, so a partition holds whole vessels, boxes and item series). A batch of
canonical messages of one partition is decoded and validated as a whole
(rejects go to the dead-letter topic), the partition's engine turns it into
:class:`~streams.features.Partials` for the intervals its watermark closed, and
those are cut into one :class:`~streams.kafka.records.PartialsMessage` per
detection partition, together with the partition's closed boundary (the watermark
message that lets the detection stage know an interval is complete even when the
partition had nothing to say about a port).

**Detection stage** (:class:`DetectShard`): one per detection partition. A
:class:`~streams.features.combine.PartialsCombiner` over every feed partition
(the *sources*) releases an interval's feature points once every source has
closed it; they go through :class:`~streams.detection.DetectionStage`, the code
the backtest runs. The shard remembers, per alert key, the event time of the
last transition published, and publishes a transition only if it is newer: a
shard restarted from an older checkpoint recomputes transitions it already
published, and they are dropped here (the ledger is rebuilt from the alerts
topic on assignment, see :mod:`streams.worker.runtime`).

End of feed: a replay ends by sending an *end-of-feed* marker to every feed
partition with the topic's newest event time. The partition's engine closes
the intervals up to it, exactly as the backtest's engine does at the end of
its file, and from then on the source counts as closed for every interval.

Idle partitions: a replay begins by sending a *replay-begin* marker to every feed
partition; from it until the end-of-feed marker the partition is *replaying* and
waits for its data however long it takes (a paced replay, a replay waiting out a
broker outage). A partition that never saw one is *live*: when it has received
nothing for a while (the runtime decides, on the wall clock), :meth:`FeaturePartition.idle`
tells every shard once, and the shards' combiners stop waiting for it until it
sends again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.detection import AlertTransition, DetectionStage, PipelineConfig, StageOutput
from streams.features import Engine, FeaturePoints, Partials, engine_for, interval_of
from streams.features._state import load_npz, save_npz
from streams.features.combine import PartialsCombiner
from streams.features.windows import NONE, floor_to
from streams.feeds.codec import decode_batch, validate_batch
from streams.kafka.io import partition_for
from streams.kafka.records import END_OF_FEED, PARTIAL_GROUPS, PartialsMessage
from streams.kafka.topics import FEED_TOPICS, KIND_OF_TOPIC


class SourceLayout:
    """Numbers the feed partitions ``0..n-1`` in a fixed order (topic, then partition)."""

    def __init__(self, partitions: Mapping[str, int]) -> None:
        self.partitions = {t: int(partitions[t]) for t in FEED_TOPICS if t in partitions}
        self._base: dict[str, int] = {}
        n = 0
        for topic, count in self.partitions.items():
            self._base[topic] = n
            n += count
        self.n = n

    def topic_of(self, source: int) -> str:
        for topic, count in self.partitions.items():
            if self._base[topic] <= source < self._base[topic] + count:
                return topic
        raise ValueError(f"no source {source} in {self.partitions}")

    def clocks(self) -> dict[int, list[int]]:
        """Sources per interval length of their engines: the detection clocks."""
        out: dict[int, list[int]] = {}
        for source in range(self.n):
            out.setdefault(interval_of(KIND_OF_TOPIC[self.topic_of(source)]), []).append(source)
        return dict(sorted(out.items()))

    def index(self, topic: str, partition: int) -> int:
        if not 0 <= partition < self.partitions[topic]:
            raise ValueError(f"{topic} has no partition {partition}")
        return self._base[topic] + partition

    def as_dict(self) -> dict[str, int]:
        return dict(self.partitions)


def shard_of(key: bytes, shards: int) -> int:
    """Detection partition of a series key: by its port, region or site (the part after
    the family), so a composite group and all its components meet in one shard.

    >>> shard_of(b"vessels_waiting|USLAX", 1)
    0
    >>> shard_of(b"dwell_p90|USLAX|APMT", 8) == shard_of(b"composite|USLAX", 8)
    True
    """
    if shards == 1:
        return 0
    parts = key.split(b"|")
    group = parts[1] if len(parts) > 1 else parts[0]
    return partition_for(group, shards)


def split_partials(p: Partials, shards: int) -> list[Partials]:
    """``p`` cut by detection shard (:func:`shard_of` of each series key)."""
    if shards == 1:
        return [p]
    out = [Partials(quantiles=dict(p.quantiles)) for _ in range(shards)]
    for names in PARTIAL_GROUPS.values():
        keys = getattr(p, names[0])
        cache: dict[bytes, int] = {}
        dest = np.array([cache.setdefault(k, shard_of(k, shards)) for k in keys.tolist()],
                        dtype=np.int64)
        for s in range(shards):
            sel = dest == s
            for name in names:
                setattr(out[s], name, getattr(p, name)[sel])
    return out


# --------------------------------------------------------------------------- feature stage


@dataclass
class Rejected:
    """A message of the batch that goes to the dead-letter topic."""

    index: int
    reason: str
    message: str


@dataclass
class FeatureResult:
    """What one batch of one feed partition produced."""

    messages: list[PartialsMessage] = field(default_factory=list)
    """One per detection shard (empty partials still carry the closed boundary)."""
    rejected: list[Rejected] = field(default_factory=list)
    records: int = 0
    late: int = 0
    closed_ms: int = NONE


class FeaturePartition:
    """The feature engine of one feed partition, and its decode/validate step."""

    def __init__(self, topic: str, partition: int, source: int, geography: Any,
                 shards: int) -> None:
        self.topic = topic
        self.partition = partition
        self.source = source
        self.kind = KIND_OF_TOPIC[topic]
        self.engine: Engine = engine_for(self.kind, geography)
        self.shards = shards
        self.ended = False
        self.reported = NONE  # closed boundary last reported to the shards
        self.replaying = False
        """A replay-begin marker came and no end-of-feed marker yet: never idle."""
        self.idle_reported = False
        """The shards were told this partition is idle, and no record came since."""

    def begin_replay(self) -> FeatureResult:
        """A replay-begin marker: wait for this partition's data, never report it idle.
        A partition that had reported itself idle tells the shards at once that it is
        back (in a replay, which makes them wait for every partition again)."""
        self.replaying = True
        back, self.idle_reported = self.idle_reported, False
        return self._report(None, FeatureResult(), force=back)

    @property
    def may_idle(self) -> bool:
        """A live partition that has not ended and not yet reported itself idle."""
        return not (self.replaying or self.ended or self.idle_reported)

    def idle(self) -> FeatureResult:
        """Tell every shard, once, that this live partition is idle (received nothing
        for a while): the shards stop waiting for it until it sends again. Nothing for a
        replaying, ended or already idle partition."""
        out = FeatureResult(closed_ms=self.closed_ms)
        if not self.may_idle:
            return out
        self.idle_reported = True
        out.messages = [PartialsMessage(self.source, out.closed_ms, Partials(), idle=True)
                        for _ in range(self.shards)]
        return out

    def process(self, values: Sequence[bytes]) -> FeatureResult:
        out = FeatureResult()
        batch = decode_batch(values, self.kind)
        out.rejected = [Rejected(i, r.reason.value, r.message) for i, r in batch.rejections]
        records = batch.records
        if len(records):
            check = validate_batch(records, self.kind)
            if not check.ok.all():
                kept = batch.kept_index(len(values))
                for j in np.flatnonzero(~check.ok).tolist():
                    out.rejected.append(Rejected(int(kept[j]), str(check.reasons[j]),
                                                 f"canonical record failed {check.reasons[j]}"))
                out.rejected.sort(key=lambda r: r.index)
                records = records[check.ok]
        late_before = self.engine.stats.get("late", 0)
        partials = self.engine.process(records) if len(records) else None
        out.records = len(records)
        out.late = self.engine.stats.get("late", 0) - late_before
        back = bool(len(records)) and self.idle_reported
        if back:  # the shards hear of it now, not only when an interval closes
            self.idle_reported = False
        return self._report(partials, out, force=back)

    def end_of_feed(self, topic_max_ms: int) -> FeatureResult:
        """Close every interval up to the one holding ``topic_max_ms`` (the backtest's
        end-of-file flush of this kind), then count as closed for ever."""
        step = self.engine.config.window.interval_ms
        partials = self.engine.flush(int(floor_to(topic_max_ms, step)) + step)
        self.ended = True
        self.replaying = self.idle_reported = False
        return self._report(partials, FeatureResult())

    @property
    def closed_ms(self) -> int:
        return END_OF_FEED if self.ended else self.engine.clock.closed

    def _report(self, partials: Partials | None, out: FeatureResult,
                force: bool = False) -> FeatureResult:
        out.closed_ms = closed = self.closed_ms
        if (partials is None or len(partials) == 0) and closed == self.reported and not force:
            return out  # nothing new for the shards
        parts = split_partials(partials if partials is not None else Partials(), self.shards)
        out.messages = [PartialsMessage(self.source, closed, p, replaying=self.replaying)
                        for p in parts]
        self.reported = closed
        return out

    def snapshot(self) -> bytes:
        meta = {"ended": self.ended, "reported": self.reported, "replaying": self.replaying,
                "idle_reported": self.idle_reported}
        return save_npz({"engine": np.frombuffer(self.engine.snapshot(), np.uint8)}, meta)

    def restore(self, data: bytes) -> None:
        arrays, meta = load_npz(data)
        self.engine.restore(arrays["engine"].tobytes())
        self.ended = bool(meta["ended"])
        self.reported = int(meta["reported"])
        # checkpoints from before replay-begin markers: live, not idle
        self.replaying = bool(meta.get("replaying", False))
        self.idle_reported = bool(meta.get("idle_reported", False))


# --------------------------------------------------------------------------- detection stage


class _Clock:
    """The sources of one interval length: their combiner and their detection stage."""

    def __init__(self, config: PipelineConfig, sources: int) -> None:
        self.combiner = PartialsCombiner(sources)
        self.stage = DetectionStage(config)

    def add(self, local: int, msg: PartialsMessage) -> tuple[FeaturePoints, StageOutput]:
        points = self.combiner.add(local, msg.partials, msg.closed_ms, msg.idle,
                                   msg.replaying)
        out = self.stage.process(points)
        wm = self.combiner.watermark
        if self.complete:
            out = out + self.stage.flush()
        elif wm != NONE and wm < END_OF_FEED:
            out = out + self.stage.flush(until_s=wm / 1000.0)
        # (ended sources with only idle ones left: their intervals are released, but the
        # clock stays where it was until the idle ones send again or end)
        return points, out

    @property
    def complete(self) -> bool:
        """Every source sent its end-of-feed marker."""
        return min(self.combiner.closed) >= END_OF_FEED

    @property
    def watermark_ms(self) -> int:
        wm = self.combiner.watermark
        return self.combiner.emitted if wm >= END_OF_FEED else wm

    def late(self, local: int) -> int:
        """Contributions of source ``local`` dropped as late (released while it was idle)."""
        return self.combiner.late[local]


class DetectShard:
    """Combiners + detection stages + publication ledger of one detection partition.

    One combiner and stage per *clock* (interval length): vessel and container
    series tick hourly, inventory series daily, and an hourly interval is decided
    as soon as every vessel and container partition closed it, without waiting for
    the day to end. ``berthwatch backtest`` runs one stage per clock the same way.
    """

    def __init__(self, config: PipelineConfig, layout: SourceLayout) -> None:
        self.config = config
        self.layout = layout
        groups = layout.clocks()
        self.clocks = {interval: _Clock(config, len(srcs)) for interval, srcs in groups.items()}
        self.local = {src: (interval, i) for interval, srcs in groups.items()
                      for i, src in enumerate(srcs)}
        self.published: dict[str, float] = {}  # alert key -> event time of the last published

    def add(self, msg: PartialsMessage) -> tuple[FeaturePoints, StageOutput]:
        """One source's message; the points released and what the detectors made of them."""
        interval, local = self.local[msg.source]
        return self.clocks[interval].add(local, msg)

    @property
    def watermark_ms(self) -> int:
        """Intervals ending at or before this are final on every clock (once a feed ended,
        its clock counts with the end of the last interval it released; a clock whose every
        source is idle, a live feed that sends nothing at all, does not count while another
        one moves; when every clock is so, the furthest one counts)."""
        fed = [c.watermark_ms for c in self.clocks.values() if not all(c.combiner.idle)]
        if fed:
            return min(fed)
        return max((c.watermark_ms for c in self.clocks.values()), default=NONE)

    @property
    def complete(self) -> bool:
        """Every feed partition sent its end-of-feed marker, and all of it is processed."""
        return all(c.complete for c in self.clocks.values())

    def late(self, source: int) -> int:
        """Contributions of feed partition ``source`` the shard dropped because their
        interval was released while the partition was idle (since this object was made)."""
        interval, local = self.local[source]
        return self.clocks[interval].late(local)

    def fresh(self, alerts: Sequence[AlertTransition]) -> list[AlertTransition]:
        """The transitions not yet published (newer than the last one of their key);
        marks them published."""
        out = []
        for a in alerts:
            if a.ts > self.published.get(a.key, -np.inf):
                self.published[a.key] = a.ts
                out.append(a)
        return out

    def remember(self, key: str, ts: float) -> None:
        """A transition found on the alerts topic (published before a restart)."""
        self.published[key] = max(self.published.get(key, -np.inf), ts)

    def snapshot(self) -> bytes:
        arrays: dict[str, npt.NDArray[Any]] = {}
        for interval, c in self.clocks.items():
            arrays[f"combiner.{interval}"] = np.frombuffer(c.combiner.snapshot(), np.uint8)
            arrays[f"stage.{interval}"] = np.frombuffer(c.stage.snapshot(), np.uint8)
        return save_npz(arrays, {"published": self.published, "sources": self.layout.as_dict()})

    def restore(self, data: bytes) -> None:
        arrays, meta = load_npz(data)
        if meta["sources"] != self.layout.as_dict():
            raise ValueError(
                f"checkpoint was taken with feed partitions {meta['sources']}, "
                f"not {self.layout.as_dict()}"
            )
        for interval, c in self.clocks.items():
            c.combiner.restore(arrays[f"combiner.{interval}"].tobytes())
            c.stage.restore(arrays[f"stage.{interval}"].tobytes())
        for k, v in meta["published"].items():
            self.remember(k, float(v))
