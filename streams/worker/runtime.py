"""The streaming worker on Kafka: batched fetches, both stages, checkpoints, rebalances.

One aiokafka consumer in the consumer group ``{worker_id}.pipeline`` reads the
feed topics and the partials topic with ``getmany`` (thousands of records per
call, never one framework call per record). For each partition's batch:

* feed partition -> :class:`~streams.worker.stages.FeaturePartition` ->
  dead letters, and one partials message per detection shard;
* partials partition (a detection shard) -> :class:`~streams.worker.stages.DetectShard`
  -> new alert transitions to the alerts topic (keyed by alert key), to
  Alertmanager (queued, never blocking) and to the gauges of ``/metrics``.

**Checkpoints** (every ``checkpoint_interval_seconds``, when partitions are
revoked, and at shutdown): first everything produced so far is acknowledged
by the broker, then each owned partition's state is written to the compacted
checkpoints topic with the offset of the next record it has not processed,
then those offsets are committed to the group (for lag tools). State and
offset are one record, so they can never disagree.

**Recovery and rebalance**: on assignment, the latest checkpoint of each
partition is read back, its state restored and the partition sought to the
checkpoint's offset (no checkpoint: the beginning). Records after that offset
are processed again; their partials replace the earlier copies in the
combiner, and alert transitions already on the alerts topic (read back on
assignment) are not published again. See ``docs/RECOVERY.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streams.alerting import AlertmanagerSender
from streams.detection import AlertTransition, MethodologyChange, PipelineConfig
from streams.features import Geofence
from streams.geo import Geography, load_geography
from streams.kafka.client import aiokafka_args
from streams.kafka.io import latest_by_key, read_to_end, start_client
from streams.kafka.outage import BrokerState, gate_client_logs, hard_stop, reachable
from streams.kafka.records import (
    DeadLetter,
    PartialsMessage,
    checkpoint_key,
    decode_alert,
    encode_alert,
    end_of_feed_of,
    is_replay_begin,
    pack_checkpoint,
    unpack_checkpoint,
)
from streams.kafka.topics import FEED_TOPICS
from streams.labels import load_labels
from streams.metrics import (
    ALERTS_PUBLISHED,
    ASSIGNED_PARTITIONS,
    BATCH_SIZE,
    BROKER_OUTAGE_SECONDS,
    BROKER_OUTAGES,
    BROKER_UP,
    CHECKPOINT_BYTES,
    CHECKPOINT_TIME,
    CHECKPOINTS,
    CONSUMER_LAG,
    DEAD_LETTERS,
    FEED_COMPLETE,
    IDLE_PARTITIONS,
    LATE_PARTIALS,
    LATE_RECORDS,
    LATENCY,
    PROCESSING_SECONDS,
    RECORDS_IN,
    WATERMARK,
)
from streams.settings import Settings
from streams.times import iso
from streams.worker.alerts import to_alertmanager
from streams.worker.export import Exporter
from streams.worker.stages import (
    DetectShard,
    FeaturePartition,
    FeatureResult,
    SourceLayout,
    shard_of,
)

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 << 20


class WorkerError(Exception):
    """The worker cannot run (a topic is missing, a checkpoint does not fit); one line."""


class BrokerDown(Exception):
    """The broker has not answered for ``kafka_outage_seconds``: an outage, not a crash."""


def pipeline_config(settings: Settings, geography: Geography) -> PipelineConfig:
    """The detection configuration: limits from the geography, methodology changes
    from ``methodology_changes_file`` (the backtest takes the same from labels.json)."""
    cfg = PipelineConfig.from_geography(geography)
    path = settings.methodology_changes_file
    if path is not None:
        try:
            labels = load_labels(Path(path))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WorkerError(f"methodology_changes_file {path}: {e}") from None
        cfg = cfg.with_changes(MethodologyChange.from_labels(labels))
    return cfg


@dataclass
class _Owned:
    stage: str  # "features" or "detect"
    state: FeaturePartition | DetectShard
    offset: int = 0  # next offset to process


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: WorkerRuntime) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.worker.revoke(list(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.worker.assign(list(assigned))


class WorkerRuntime:
    """One worker process's share of the pipeline."""

    def __init__(self, settings: Settings, *, send_alerts: bool = True) -> None:
        self.settings = s = settings
        self.geo = load_geography(s.geography_file)
        self.fence = Geofence(self.geo)  # built once, shared by the vessel engines
        self.config = pipeline_config(s, self.geo)
        self.group = f"{s.worker_id}.pipeline"
        self.feed_topics = {s.topic(t): t for t in FEED_TOPICS}
        self.partials_topic = s.topic("partials")
        self.alerts_topic = s.topic("alerts")
        self.deadletter_topic = s.topic("deadletter")
        self.checkpoint_topic = s.topic("checkpoints")
        self.owned: dict[TopicPartition, _Owned] = {}
        self.exporter = Exporter(self.config, top=s.item_metrics_top)
        self.sender = AlertmanagerSender(s.am_url) if send_alerts else None
        self.layout: SourceLayout | None = None
        self.shards = 1
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.reader: AIOKafkaConsumer | None = None
        self.last_checkpoint = time.monotonic()
        self.stopping = asyncio.Event()
        self.lock = asyncio.Lock()  # batches vs rebalance callbacks
        self.in_batch = False
        self.published: list[AlertTransition] = []  # this process's publications (tests, demo)
        self.broker = BrokerState(s.kafka_bootstrap)
        self.running = False  # started and consuming (``/ready``)
        self.orphans: set[int] = set()  # detection shards owned before an outage
        self.backoff_s = (1.0, 30.0)  # first and longest wait between reconnects
        # both read from the broker state at scrape time: one truth, never out of step
        BROKER_UP.set_function(lambda: 1.0 if self.broker.is_up else 0.0)
        BROKER_OUTAGE_SECONDS.set_function(self.broker.outage_s)
        # feed partition -> (next offset, monotonic time it was first seen): idle detection
        self.quiet_since: dict[TopicPartition, tuple[int, float]] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        s = self.settings
        self.producer = AIOKafkaProducer(
            **aiokafka_args(s, producer=True), acks="all", enable_idempotence=True,
            max_request_size=MAX_MESSAGE, max_batch_size=1 << 20, linger_ms=5,
        )
        gate_client_logs()
        await start_client(self.producer, s)  # ConnectionError: an outage
        counts: dict[str, int] = {}
        for full, short in self.feed_topics.items():
            counts[short] = await self._partitions(full)
        self.shards = await self._partitions(self.partials_topic)
        for topic in (self.alerts_topic, self.checkpoint_topic, self.deadletter_topic):
            await self._partitions(topic)
        self.layout = SourceLayout(counts)
        self.consumer = AIOKafkaConsumer(
            **aiokafka_args(s), group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 << 20, fetch_max_bytes=32 << 20,
            max_poll_interval_ms=600_000, rebalance_timeout_ms=120_000,
        )
        await self.consumer.start()
        # reads the checkpoints and alerts topics back on assignment (no group)
        self.reader = AIOKafkaConsumer(
            **aiokafka_args(s), enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_MESSAGE, fetch_max_bytes=MAX_MESSAGE,
        )
        await self.reader.start()
        self.consumer.subscribe([*self.feed_topics, self.partials_topic],
                                listener=_Rebalance(self))
        if self.sender is not None:
            self.sender.start()
        log.info("worker %s: feed partitions %s, %d detection shard(s)", self.group, counts,
                 self.shards)

    async def _partitions(self, topic: str) -> int:
        assert self.producer is not None
        parts = await self.producer.partitions_for(topic)
        if not parts:
            raise WorkerError(f"topic {topic} does not exist: run `berthwatch topics create`")
        return len(parts)

    @property
    def ready(self) -> bool:
        """Consuming, with the broker answering: what ``/ready`` says."""
        return self.running and self.broker.is_up

    async def serve(self) -> None:
        """Start and run until :meth:`request_stop`, riding out broker outages.

        A broker that does not answer for ``kafka_outage_seconds`` (or a Kafka error
        while it does not answer) is an outage, not a crash: the worker stops consuming,
        says it is not ready (``/ready``, ``berthwatch_broker_up``), drops what it
        computed since its last checkpoints, reconnects with back-off and, once the
        broker answers, starts again from those checkpoints (partials replace their
        earlier copies, alert transitions already published are not published again).
        Any other failure is raised: the process exits non-zero for its supervisor."""
        first, most = self.backoff_s
        delay = first
        while not self.stopping.is_set():
            try:
                await self.start()
                self.broker.up()
                delay = first
                await self._watched()
                return
            except (BrokerDown, ConnectionError, KafkaError) as e:
                if isinstance(e, KafkaError) and not isinstance(e, BrokerDown) \
                        and await self._answers():
                    raise  # the broker is fine: a real failure
                if self.broker.down(str(e) or type(e).__name__):
                    BROKER_OUTAGES.inc()
                else:
                    self.broker.still_down()
                await self._reset()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                delay = min(delay * 2, most)

    async def _answers(self) -> bool:
        return self.producer is not None and await reachable(
            self.producer.client, min(5.0, self.settings.kafka_outage_seconds))

    async def _watched(self) -> None:
        """:meth:`run`, with the broker probed every few seconds: no answer for
        ``kafka_outage_seconds`` cancels the run and raises :class:`BrokerDown`."""
        bound = self.settings.kafka_outage_seconds
        every = min(2.0, bound / 3)
        task = asyncio.ensure_future(self.run())
        answered = time.monotonic()
        self.running = True
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=every)
                if task.done():
                    break
                if await self._answers():
                    answered = time.monotonic()
                elif time.monotonic() - answered >= bound:
                    raise BrokerDown(f"no answer for {time.monotonic() - answered:.0f} s")
            task.result()
        finally:
            self.running = False
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _reset(self) -> None:
        """Close the Kafka clients within a bound and drop every partition's state: the
        last checkpoints stand, and the next assignment restores from them. Detection
        shards owned until now stay exported (last known values, ``berthwatch_broker_up``
        0) until the next assignment says whether they are still this worker's."""
        for client in (self.consumer, self.reader, self.producer):
            await hard_stop(client)
        self.consumer = self.reader = self.producer = None
        self.orphans |= {tp.partition for tp, o in self.owned.items() if o.stage == "detect"}
        self.owned.clear()
        self.in_batch = False

    async def run(self) -> None:
        """Fetch and process until :meth:`request_stop`; checkpoints on the way."""
        assert self.consumer is not None
        while not self.stopping.is_set():
            batches = await self.consumer.getmany(
                timeout_ms=200, max_records=self.settings.worker_batch_records
            )
            fetched = time.perf_counter()
            # a rebalance (revoke: checkpoint; assign: restore) runs in the consumer's
            # coordinator task: never in the middle of a batch
            async with self.lock:
                self.in_batch = True  # stays True if cancelled half-way (see stop)
                for tp, msgs in batches.items():
                    if tp in self.owned and msgs:
                        await self._handle(tp, msgs, fetched)
                await self._report_idle()
                due = self.settings.checkpoint_interval_seconds
                if time.monotonic() - self.last_checkpoint >= due:
                    await self.checkpoint(list(self.owned))
                self.in_batch = False
            self._lag()

    def request_stop(self) -> None:
        self.stopping.set()

    async def stop(self, *, final_checkpoint: bool = True) -> bool:
        """Checkpoint what this worker owns, leave the group, close the clients, each
        within a bound (a broker that is down holds nothing up); True when a final
        checkpoint was written.

        A worker stopped in the middle of a batch (its task cancelled) or after a failure
        writes no final checkpoint: its state would be ahead of its offsets. The last
        checkpoint stands and the next owner reads on from it."""
        wrote = False
        try:
            if (final_checkpoint and self.owned and self.producer is not None
                    and not self.in_batch and self.broker.is_up):
                try:
                    await asyncio.wait_for(self.checkpoint(list(self.owned)),
                                           timeout=self.settings.kafka_outage_seconds)
                    wrote = True
                except (TimeoutError, KafkaError) as e:
                    log.warning("no final checkpoint (%s): the last one stands",
                                type(e).__name__)
        finally:
            for client in (self.consumer, self.reader):
                await hard_stop(client)
            if self.sender is not None:
                await self.sender.drain(5.0)
                await self.sender.stop()
            await hard_stop(self.producer, drop_pending=not wrote)
        return wrote

    # ------------------------------------------------------------------ processing

    async def _handle(self, tp: TopicPartition, msgs: list[Any], fetched: float) -> None:
        owned = self.owned[tp]
        if msgs[0].offset < owned.offset:
            # fetched before an assignment sought this partition back: already processed
            msgs = [m for m in msgs if m.offset >= owned.offset]
            if not msgs:
                return
        t0 = time.perf_counter()
        BATCH_SIZE.labels(tp.topic).observe(len(msgs))
        RECORDS_IN.labels(tp.topic).inc(len(msgs))
        if owned.stage == "features":
            assert isinstance(owned.state, FeaturePartition)
            await self._features(tp, owned.state, msgs)
        else:
            assert isinstance(owned.state, DetectShard)
            self.exporter.owner = tp.partition
            await self._detect(owned.state, msgs)
        owned.offset = msgs[-1].offset + 1
        done = time.perf_counter()
        PROCESSING_SECONDS.labels(tp.topic).observe(done - t0)
        LATENCY.labels(owned.stage).observe(done - fetched)

    async def _features(self, tp: TopicPartition, fp: FeaturePartition, msgs: list[Any]) -> None:
        run: list[Any] = []
        for m in msgs:
            if is_replay_begin(m.headers):
                await self._feature_batch(tp, fp, run)
                run = []
                await self._emit(fp.begin_replay())
                continue
            newest = end_of_feed_of(m.headers)
            if newest is None:
                run.append(m)
                continue
            await self._feature_batch(tp, fp, run)
            run = []
            await self._emit(fp.end_of_feed(newest))
        await self._feature_batch(tp, fp, run)
        closed = [o.state.closed_ms for o in self.owned.values()
                  if isinstance(o.state, FeaturePartition) and not o.state.ended]
        if closed:
            WATERMARK.labels("features").set(max(min(closed), 0) / 1000.0)

    async def _feature_batch(self, tp: TopicPartition, fp: FeaturePartition,
                             msgs: list[Any]) -> None:
        if not msgs:
            return
        res = fp.process([m.value or b"" for m in msgs])
        if res.late:
            LATE_RECORDS.labels(tp.topic).inc(res.late)
        assert self.producer is not None
        for rej in res.rejected:
            m = msgs[rej.index]
            DEAD_LETTERS.labels(tp.topic, rej.reason).inc()
            letter, value, key = DeadLetter(
                tp.topic, tp.partition, m.offset, rej.reason, rej.message
            ).bounded(m.value, m.key)
            await self.producer.send(self.deadletter_topic, key=key, value=value,
                                     headers=letter.headers())
        await self._emit(res)

    async def _emit(self, res: FeatureResult) -> None:
        assert self.producer is not None
        for shard, msg in enumerate(res.messages):
            await self.producer.send(self.partials_topic, value=msg.encode(), partition=shard)

    async def _detect(self, shard: DetectShard, msgs: list[Any]) -> None:
        assert self.producer is not None and self.layout is not None
        for m in msgs:
            msg = PartialsMessage.decode(m.value)
            late = shard.late(msg.source)
            points, out = shard.add(msg)
            if shard.late(msg.source) > late:  # released while that partition was idle
                LATE_PARTIALS.labels(self.settings.topic(self.layout.topic_of(msg.source))).inc(
                    shard.late(msg.source) - late)
            self.exporter.points(points)
            self.exporter.scores(out)
            fresh = shard.fresh(out.alerts)
            for a in fresh:
                await self.producer.send(self.alerts_topic, key=a.key.encode(),
                                         value=encode_alert(a))
                ALERTS_PUBLISHED.labels(a.detector, a.severity, a.state).inc()
                self.exporter.alert(a)
                log.info("alert %s %s at %s: %s", a.state, a.key, iso(a.ts), a.explanation)
            self.published.extend(fresh)
            if self.sender is not None and fresh:
                self.sender.submit([to_alertmanager(a, self.settings.grafana_url,
                                                    self.settings.docs_url) for a in fresh])
        WATERMARK.labels("detect").set(max(shard.watermark_ms, 0) / 1000.0)
        FEED_COMPLETE.set(1.0 if shard.complete else 0.0)

    async def _report_idle(self) -> None:
        """Each live feed partition this worker owns that is caught up (next offset = high
        watermark), has not ended and received no record for ``idle_partition_seconds`` of
        wall time reports itself idle to every detection shard, once (until it receives
        again). Replaying partitions never do (:meth:`FeaturePartition.idle`)."""
        limit = self.settings.idle_partition_seconds
        if limit <= 0 or self.consumer is None:
            return
        now = time.monotonic()
        for tp in [tp for tp in self.quiet_since if tp not in self.owned]:
            del self.quiet_since[tp]
        for tp, owned in self.owned.items():
            fp = owned.state
            if not isinstance(fp, FeaturePartition):
                continue
            offset, since = self.quiet_since.get(tp, (-1, now))
            if offset != owned.offset:  # received something (or newly assigned)
                self.quiet_since[tp] = (owned.offset, now)
                continue
            if (fp.may_idle and now - since >= limit
                    and self.consumer.highwater(tp) == owned.offset):
                res = fp.idle()
                if res.messages:
                    IDLE_PARTITIONS.labels(tp.topic).inc()
                    log.info("%s[%d] received nothing for %.0f s: idle, the detection stage "
                             "no longer waits for it", tp.topic, tp.partition, now - since)
                    await self._emit(res)

    def _lag(self) -> None:
        assert self.consumer is not None
        lag: dict[str, int] = {}
        for tp in self.owned:
            high = self.consumer.highwater(tp)
            if high is not None:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(high - self.owned[tp].offset, 0)
        for topic, n in lag.items():
            CONSUMER_LAG.labels(topic).set(n)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_key(self, stage: str, tp: TopicPartition) -> bytes:
        return checkpoint_key(self.group, stage, tp.topic, tp.partition)

    async def checkpoint(self, tps: list[TopicPartition]) -> None:
        """State + next offset of each partition in ``tps``, after all outputs are acked."""
        assert self.producer is not None
        self.last_checkpoint = time.monotonic()
        if not tps:
            return
        await self.producer.flush()
        sizes: dict[str, int] = {}
        acks = []
        for tp in tps:
            owned = self.owned.get(tp)
            if owned is None:
                continue
            meta = {"stage": owned.stage, "topic": tp.topic, "partition": tp.partition,
                    "offset": owned.offset, "group": self.group, "written": time.time()}
            if owned.stage == "detect":  # what the next owner exports at once
                meta["exported"] = self.exporter.dump(tp.partition)
            value = pack_checkpoint(meta, owned.state.snapshot())
            if len(value) > MAX_MESSAGE:
                raise WorkerError(f"checkpoint of {tp.topic}[{tp.partition}] is "
                                  f"{len(value)} bytes, above {MAX_MESSAGE}")
            sizes[owned.stage] = sizes.get(owned.stage, 0) + len(value)
            acks.append(await self.producer.send(
                self.checkpoint_topic, key=self._checkpoint_key(owned.stage, tp), value=value))
        await asyncio.gather(*acks)
        now = time.time()
        for stage, size in sizes.items():
            CHECKPOINTS.labels(stage).inc()
            CHECKPOINT_BYTES.labels(stage).set(size)
            CHECKPOINT_TIME.labels(stage).set(now)
        assert self.consumer is not None
        offsets = {tp: self.owned[tp].offset for tp in tps if tp in self.owned}
        with contextlib.suppress(CommitFailedError, IllegalStateError, KafkaError):
            await self.consumer.commit(offsets)  # informative only: the checkpoint rules

    async def _read_compacted(self, topic: str) -> dict[bytes, bytes]:
        """The latest value per key of a whole compacted topic, read to its end."""
        assert self.reader is not None and self.producer is not None
        parts = await self.producer.partitions_for(topic)
        return latest_by_key(await read_to_end(self.reader, topic, parts))

    async def assign(self, tps: list[TopicPartition]) -> None:
        """Restore each new partition from its checkpoint and seek to its offset."""
        async with self.lock:
            await self._assign(tps)

    async def _assign(self, tps: list[TopicPartition]) -> None:
        assert self.consumer is not None and self.layout is not None
        if self.orphans:  # shards this worker had before an outage and no longer owns
            for partition in sorted(self.orphans - {tp.partition for tp in tps
                                                    if tp.topic == self.partials_topic}):
                self._forget_shard(partition)
            self.orphans.clear()
        new = [tp for tp in tps if tp not in self.owned]
        if not new:
            self._count_assigned()
            return
        saved = await self._read_compacted(self.checkpoint_topic)
        ledger: dict[bytes, bytes] | None = None
        for tp in new:
            if tp.topic == self.partials_topic:
                stage = "detect"
                state: FeaturePartition | DetectShard = DetectShard(self.config, self.layout)
            else:
                stage = "features"
                short = self.feed_topics[tp.topic]
                state = FeaturePartition(short, tp.partition,
                                         self.layout.index(short, tp.partition),
                                         self.fence, self.shards)
            offset = 0
            blob = saved.get(self._checkpoint_key(stage, tp))
            if blob is not None:
                meta, data = unpack_checkpoint(blob)
                try:
                    state.restore(data)
                except ValueError as e:
                    raise WorkerError(f"checkpoint of {tp.topic}[{tp.partition}]: {e}; "
                                      "start from scratch with a new worker_id") from None
                offset = int(meta["offset"])
                if stage == "detect":
                    self.exporter.load(tp.partition, meta.get("exported", []))
            if isinstance(state, DetectShard):
                if ledger is None:
                    ledger = await self._read_compacted(self.alerts_topic)
                self._rebuild_ledger(state, tp.partition, ledger)
                FEED_COMPLETE.set(1.0 if state.complete else 0.0)  # at once, not at the next batch
            self.owned[tp] = _Owned(stage, state, offset)
            # zero-valued series from the start, so rates read 0 rather than "no data"
            RECORDS_IN.labels(tp.topic)
            if stage == "features":
                LATE_RECORDS.labels(tp.topic)
                LATE_PARTIALS.labels(tp.topic)
                IDLE_PARTITIONS.labels(tp.topic)
            self.consumer.seek(tp, offset)
            log.info("assigned %s[%d] from offset %d (%s)", tp.topic, tp.partition, offset,
                     "checkpoint" if blob is not None else "beginning")
        self._count_assigned()

    def _rebuild_ledger(self, shard: DetectShard, partition: int,
                        ledger: dict[bytes, bytes]) -> None:
        """Transitions of this shard already on the alerts topic: not to publish again;
        the firing ones go back to the Alertmanager sender's re-send set."""
        firing = []
        self.exporter.owner = partition
        for value in ledger.values():
            a = decode_alert(value)
            if shard_of(a.series.encode(), self.shards) != partition:
                continue
            shard.remember(a.key, a.ts)
            if a.state == "firing":
                firing.append(a)
                self.exporter.alert(a)
        if self.sender is not None and firing:
            self.sender.submit([to_alertmanager(a, self.settings.grafana_url,
                                                self.settings.docs_url) for a in firing])

    async def revoke(self, tps: list[TopicPartition]) -> None:
        """Checkpoint the partitions leaving this worker, then forget them."""
        async with self.lock:
            await self._revoke(tps)

    async def _revoke(self, tps: list[TopicPartition]) -> None:
        mine = [tp for tp in tps if tp in self.owned]
        if mine and self.producer is not None:
            await self.checkpoint(mine)
        for tp in mine:
            del self.owned[tp]
            if tp.topic == self.partials_topic:
                self._forget_shard(tp.partition)
        self._count_assigned()

    def _forget_shard(self, partition: int) -> None:
        """A detection shard moved to another worker: drop its series from ``/metrics``
        and its alerts from the re-send set (the new owner exports and re-sends them from
        its restored state), so sums across workers count everything once."""
        dropped = self.exporter.forget_shard(partition)
        if self.sender is not None:
            self.sender.forget(
                lambda a: shard_of(a.labels.get("series", "").encode(), self.shards) == partition
            )
        shards = [o.state for o in self.owned.values() if isinstance(o.state, DetectShard)]
        FEED_COMPLETE.set(1.0 if shards and all(s.complete for s in shards) else 0.0)
        log.info("shard %d left this worker: %d exported series dropped", partition, dropped)

    def _count_assigned(self) -> None:
        counts: dict[str, int] = {t: 0 for t in [*self.feed_topics, self.partials_topic]}
        for tp in self.owned:
            counts[tp.topic] = counts.get(tp.topic, 0) + 1
        for topic, n in counts.items():
            ASSIGNED_PARTITIONS.labels(topic).set(n)
