"""Throughput and event-to-decision latency of the streaming worker, against baselines.

Usage: ``python bench/bench_worker.py [--quick] [--keep-stack]``. It starts (or
reuses) the stack on the bench ports with ``berthwatch stack up`` (like
``bench_replay.py``), creates topics under fresh prefixes, and measures on the
same broker, in one run:

1. **Throughput** on a dense AIS feed: San Pedro Bay simulated for one or two
   days of October 2021 at a live-like cadence (10 s underway and at anchor,
   3 min alongside and offshore), read to canonical arrays, sorted by event
   time and produced into the positions topic with the replay's batch sender,
   then end-of-feed markers on every partition of the three feed topics. One
   after the other, in this process unless said otherwise:

   a. raw aiokafka: a consumer without a group reads the positions topic with
      ``getmany`` to its end offsets, touching every value;
   b. the worker (:class:`~streams.worker.runtime.WorkerRuntime`, fresh worker
      id, no Alertmanager) from its first batch to the moment it has read every
      positions partition to its end offset, and until its detection shard has
      closed everything; the detectors' share of the process's CPU time
      (``DetectionStage.process`` and ``flush`` timed with ``time.process_time``);
   c. the straightforward faust agent (``bench/faust_baseline.py``, a
      subprocess): one event at a time, 10,000 values of a partition at a time
      to the same feature code.

2. **Latency** at 50,000 records/s: a pacing producer (a child process: a live
   feed is produced elsewhere, and one event loop would make the producer and
   the worker wait for each other) sends synthetic canonical records in event
   time 3,600 times faster than wall time, every 20 ms a tick of positions plus
   one container event and one inventory snapshot per partition of those
   topics (the detection stage waits for every feed partition). For each
   interval end E the detection stage decided, latency = the moment its shard's
   watermark passed E minus the moment the producer handed over the first
   record with event time >= E + the allowed lateness (900 s). Two runs:

   A. all three feeds live: each clock (hourly vessels and containers, daily
      inventory) has its own combiner and detection stage in the shard, so an
      hourly interval is decided once every positions and containers partition
      closed it, whatever the inventory day is doing; latency is measured on
      the hourly clock's watermark (and the daily one's for day ends);
   B. the inventory feed ended (end-of-feed markers before the run), for
      comparison with a pipeline that has only hourly feeds.

A benchmark, not a test: it prints figures and ratios and never fails on a time.
The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench_replay import BENCH_ENV, berthwatch  # noqa: E402  (the same bench stack)

from streams.features.windows import WindowConfig  # noqa: E402
from streams.feeds.codec import (  # noqa: E402
    CONTAINER_EVENT_DTYPE,
    INVENTORY_DTYPE,
    POSITION_DTYPE,
    Kind,
    decode_batch,
    encode_array,
    keys_of_array,
    validate_batch,
)
from streams.kafka.client import aiokafka_args  # noqa: E402
from streams.kafka.io import BatchSender  # noqa: E402
from streams.settings import load_settings  # noqa: E402

FEEDS = ("positions", "containers", "inventory")
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
LATENESS_MS = WindowConfig().lateness_ms
DAY0 = 1_633_046_400_000  # 2021-10-01T00:00Z: the latency runs' event time starts 3 h before
FETCH = {"max_partition_fetch_bytes": 4 << 20, "fetch_max_bytes": 32 << 20}  # the worker's


def fresh_prefix(env: dict[str, str], tag: str) -> dict[str, str]:
    """Env with a new topic prefix and worker id; the topics created."""
    run = uuid.uuid4().hex[:8]
    out = {**env, "BERTHWATCH_TOPIC_PREFIX": f"bench{tag}{run}.",
           "BERTHWATCH_WORKER_ID": f"bench-worker-{tag}{run}"}
    berthwatch("topics", "create", env=out)
    return out


def load(env: dict[str, str]) -> Any:
    from streams.settings import load_settings

    os.environ.update(env)
    return load_settings()


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else np.nan


def note(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- producing


async def send_markers(producer: AIOKafkaProducer, prefix: str, newest_ms: int,
                       shorts: Sequence[str] = FEEDS) -> int:
    """End-of-feed markers (empty value, header = newest event time) to every partition."""
    sender = BatchSender(producer, {prefix + short: sorted(await producer.partitions_for(
        prefix + short)) for short in shorts})
    sent = 0
    for topic in sender.partitions:
        sent += await sender.end_of_feed(topic, newest_ms)
    await sender.flush()
    return sent


def _client(bootstrap: str, *, producer: bool = False) -> dict[str, Any]:
    """aiokafka arguments for the bench broker: the Kafka client configuration of the
    environment (``BERTHWATCH_KAFKA_*``) with these bootstrap servers."""
    return aiokafka_args(load_settings(kafka_servers=bootstrap), producer=producer)


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    # the producer's metadata has the partitions
    producer = AIOKafkaProducer(**_client(bootstrap, producer=True))
    consumer = AIOKafkaConsumer(**_client(bootstrap))
    await producer.start()
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        return ends
    finally:
        await consumer.stop()
        await producer.stop()


# --------------------------------------------------------------------------- 1. throughput


def dense_feed(tmp: Path, days: int) -> npt.NDArray[Any]:
    """San Pedro Bay at a live-like AIS cadence, as canonical arrays sorted by event time."""
    from streams.offline.backtest import read_feeds
    from streams.tools.simulator import ScenarioOptions, TrackOptions, simulate

    out = tmp / "feed"
    t0 = time.perf_counter()
    summary = simulate(
        out, "san-pedro-bay-2021",
        ScenarioOptions(seed=1, start="2021-10-10", end=f"2021-10-{9 + days:02d}"),
        track=TrackOptions(cadence_s=10, moored_cadence_s=180, offshore_cadence_s=180),
        feeds=frozenset({"positions"}),
    )  # fmt: skip
    t1 = time.perf_counter()
    arr = read_feeds([out / "positions.csv.gz"]).of(Kind.POSITION, POSITION_DTYPE)
    arr = arr[np.argsort(arr["ts_ms"], kind="stable")]
    note(f"dense AIS feed: {len(arr):,} positions of {summary.vessels} vessels over {days} "
         f"day(s) (simulated in {t1 - t0:.1f} s, read in {time.perf_counter() - t1:.1f} s)")
    return arr


async def produce_feed(bootstrap: str, prefix: str, arr: npt.NDArray[Any]) -> float:
    """The positions into ``{prefix}positions`` with the replay's batch sender, then markers;
    returns the sending rate (records/s)."""
    producer = AIOKafkaProducer(**_client(bootstrap, producer=True), acks="all",
                                enable_idempotence=True, max_batch_size=1 << 20,
                                max_request_size=4 << 20, linger_ms=50)
    await producer.start()
    try:
        topic = prefix + "positions"
        sender = BatchSender(producer, {topic: sorted(await producer.partitions_for(topic))})
        keys = keys_of_array(arr, Kind.POSITION)
        values = encode_array(arr, Kind.POSITION)
        stamps = arr["ts_ms"].tolist()
        t0 = time.perf_counter()
        for lo in range(0, len(keys), 50_000):
            hi = lo + 50_000
            await sender.send_many(topic, keys[lo:hi], values[lo:hi], stamps[lo:hi])
        await sender.flush()
        rate = len(keys) / (time.perf_counter() - t0)
        await send_markers(producer, prefix, int(arr["ts_ms"].max()))
        return rate
    finally:
        await producer.stop()


async def raw_read(bootstrap: str, ends: dict[TopicPartition, int], max_records: int
                   ) -> tuple[int, float, float]:
    """(records, seconds from the first batch to the end offsets, CPU seconds in between),
    every value touched. The baseline is a bare ``getmany`` loop on purpose, not
    :func:`streams.kafka.io.read_to_end`, which keeps every record it reads (a tuple each)
    and sorts them: that would be the reader's cost, not the client's."""
    consumer = AIOKafkaConsumer(**_client(bootstrap), enable_auto_commit=False, **FETCH)
    await consumer.start()
    try:
        parts = list(ends)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        position = dict.fromkeys(parts, 0)
        total = touched = 0
        t_first = cpu0 = 0.0
        while any(position[tp] < ends[tp] for tp in parts):
            got = await consumer.getmany(timeout_ms=200, max_records=max_records)
            if got and not t_first:
                t_first, cpu0 = time.perf_counter(), time.process_time()
            for tp, msgs in got.items():
                total += len(msgs)
                for m in msgs:
                    touched += len(m.value or b"")
                if msgs:
                    position[tp] = msgs[-1].offset + 1
        seconds, cpu = time.perf_counter() - t_first, time.process_time() - cpu0
        assert touched > 0
        return total, seconds, cpu
    finally:
        await consumer.stop()


class DetectorCpu:
    """CPU seconds spent in ``DetectionStage.process`` and ``flush`` (patched while installed)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        from streams.detection import DetectionStage

        for name in ("process", "flush"):
            orig = getattr(DetectionStage, name)
            self._saved[name] = orig

            def timed(stage: Any, *args: Any, _orig: Callable[..., Any] = orig,
                      **kwargs: Any) -> Any:
                t = time.process_time()
                try:
                    return _orig(stage, *args, **kwargs)
                finally:
                    self.seconds += time.process_time() - t

            setattr(DetectionStage, name, timed)

    def uninstall(self) -> None:
        from streams.detection import DetectionStage

        for name, orig in self._saved.items():
            setattr(DetectionStage, name, orig)
        self._saved.clear()


@dataclass
class WorkerThroughput:
    records: int = 0
    read_s: float = np.nan  # first batch -> every positions partition read to its end
    closed_s: float = np.nan  # first batch -> the detection watermark at end of feed
    cpu_s: float = 0.0  # process CPU, first batch -> closed everything
    detect_cpu_s: float = 0.0
    handle_s: float = 0.0  # wall time inside the runtime's per-partition batch handler
    alerts: int = 0


async def worker_throughput(env: dict[str, str], ends: dict[TopicPartition, int],
                            timeout_s: float) -> WorkerThroughput:
    from streams.worker.runtime import WorkerRuntime
    from streams.worker.stages import DetectShard

    rt = WorkerRuntime(load(env), send_alerts=False)
    res = WorkerThroughput(records=sum(ends.values()))
    cpu = DetectorCpu()
    marks: dict[str, float] = {}
    orig = rt._handle

    def positions_read() -> bool:
        return all(tp in rt.owned and rt.owned[tp].offset >= end for tp, end in ends.items())

    def closed() -> bool:
        shards = [o.state for o in rt.owned.values() if isinstance(o.state, DetectShard)]
        return bool(shards) and all(s.complete for s in shards)

    async def handle(tp: TopicPartition, msgs: list[Any], fetched: float) -> None:
        if "first" not in marks:
            marks["first"], marks["cpu0"] = fetched, time.process_time()
            cpu.seconds = 0.0
        t = time.perf_counter()
        await orig(tp, msgs, fetched)
        if "read" not in marks:
            res.handle_s += time.perf_counter() - t
        if "read" not in marks and tp in ends and positions_read():
            marks["read"] = time.perf_counter()
        if "closed" not in marks and closed():
            marks["closed"], marks["cpu1"] = time.perf_counter(), time.process_time()
            marks["detect_cpu"] = cpu.seconds

    rt._handle = handle  # type: ignore[method-assign]
    cpu.install()
    try:
        await rt.start()
        task = asyncio.create_task(rt.run())
        deadline = time.perf_counter() + timeout_s
        while "closed" not in marks and time.perf_counter() < deadline and not task.done():
            await asyncio.sleep(0.05)
        rt.request_stop()
        await task
    finally:
        cpu.uninstall()
        await rt.stop()
    if "read" in marks:
        res.read_s = marks["read"] - marks["first"]
    if "closed" in marks:
        res.closed_s = marks["closed"] - marks["first"]
        res.cpu_s = marks["cpu1"] - marks["cpu0"]
        res.detect_cpu_s = marks["detect_cpu"]
    res.alerts = len(rt.published)
    return res


def faust_baseline(env: dict[str, str], bootstrap: str, events: int, tmp: Path,
                   timeout_s: float) -> tuple[int, float, str]:
    """(events, seconds, note) of bench/faust_baseline.py on the positions topic."""
    out = tmp / "faust.json"
    log = tmp / "faust.log"
    run_env = {
        **os.environ, **env,
        "BENCH_FAUST_BROKER": bootstrap,
        "BENCH_FAUST_TOPIC": env["BERTHWATCH_TOPIC_PREFIX"] + "positions",
        "BENCH_FAUST_EVENTS": str(events),
        "BENCH_FAUST_OUT": str(out),
        "BENCH_FAUST_ID": f"bench-faust-{uuid.uuid4().hex[:8]}",
        "BENCH_FAUST_DIR": str(tmp / "faust-data"),
        "BENCH_FAUST_PARTITIONS": str(load(env).topic_partitions),
    }  # fmt: skip
    script = Path(__file__).resolve().parent / "faust_baseline.py"
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, str(script), "worker", "-l", "warn",
                                 "--without-web"],
                                env=run_env, cwd=tmp, stdout=fh, stderr=subprocess.STDOUT)
        try:
            while not out.exists() and proc.poll() is None:
                if time.perf_counter() - t0 > timeout_s:
                    break
                time.sleep(0.2)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wall = time.perf_counter() - t0
    if not out.exists():
        tail = log.read_text()[-2000:]
        return 0, np.nan, f"no result after {wall:.0f} s (exit {proc.returncode}):\n{tail}"
    doc = json.loads(out.read_text())
    return int(doc["events"]), float(doc["seconds"]), f"whole subprocess {wall:.0f} s"


# --------------------------------------------------------------------------- 2. latency


@dataclass
class PaceConfig:
    bootstrap: str
    prefix: str
    out: str
    rate: float = 50_000.0  # positions per wall second
    speed: float = 3600.0  # event seconds per wall second
    seconds: float = 60.0
    tick_s: float = 0.02
    start_ms: int = DAY0 - 3 * HOUR_MS
    inventory: bool = True  # also send inventory snapshots (False: that feed ended)
    vessels: int = 2000
    seed: int = 3


class Synthetic:
    """Synthetic canonical records: a fleet around San Pedro Bay's anchorages and berths,
    container discharges and gate-outs, inventory snapshots; one record per partition of
    the container and inventory topics per tick."""

    def __init__(self, cfg: PaceConfig, sender: BatchSender) -> None:
        import shapely

        from streams.features.geofence import KIND_ANCHORAGE, KIND_BERTH, Geofence
        from streams.geo import load_geography
        from streams.tools.simulator.ids import make_container_numbers

        self.cfg = cfg
        self.sender = sender
        rng = self.rng = np.random.default_rng(cfg.seed)
        fence = Geofence(load_geography())
        cent = shapely.centroid(np.array(fence.polygons, dtype=object))
        cx, cy = shapely.get_x(cent), shapely.get_y(cent)
        anch = np.flatnonzero(fence.zone_kind == KIND_ANCHORAGE)
        berth = np.flatnonzero(fence.zone_kind == KIND_BERTH)
        v = cfg.vessels
        self.anchor_xy = np.stack([cx[a := anch[rng.integers(0, len(anch), v)]], cy[a]], 1)
        self.berth_xy = np.stack([cx[b := berth[rng.integers(0, len(berth), v)]], cy[b]], 1)
        self.mmsi = (366_000_000 + np.arange(v) * 7).astype(np.uint32)
        fleet = np.zeros(v, dtype=POSITION_DTYPE)
        fleet["mmsi"] = self.mmsi
        self.keys = keys_of_array(fleet, Kind.POSITION)
        self.cursor = 0
        self.ticks = 0
        p = cfg.prefix
        self.topics = {short: p + short for short in FEEDS}
        # per partition of containers and inventory: a pool of keys that land there
        self.boxes = self._per_partition(
            "containers", [n.encode() for n in make_container_numbers(rng, 4000).tolist()], 50)
        self.items = self._per_partition(
            "inventory", [f"SITE-{i % 7:02d}|ITEM-{i:05d}".encode() for i in range(4000)], 20)

    def _per_partition(self, short: str, keys: list[bytes], per: int) -> list[list[bytes]]:
        topic = self.topics[short]
        parts = self.sender.partitions[topic]
        pools: dict[int, list[bytes]] = {p: [] for p in parts}
        for k in keys:
            pool = pools[self.sender.partition_of(topic, k)]
            if len(pool) < per:
                pool.append(k)
        assert all(len(pool) == per for pool in pools.values()), "too few keys per partition"
        return [pools[p] for p in parts]

    def positions(self, n: int, ev_lo: int, ev_hi: int
                  ) -> tuple[list[bytes], list[bytes], list[int]]:
        rng, v = self.rng, self.cfg.vessels
        idx = (self.cursor + np.arange(n)) % v
        self.cursor = int((self.cursor + n) % v)
        ts = ev_lo + (np.arange(n, dtype=np.int64) * (ev_hi - ev_lo)) // max(n - 1, 1)
        phase = (ts // (3 * HOUR_MS) + idx) % 6  # each vessel changes activity every 3 h
        at_anchor, at_berth = phase < 2, phase == 3
        lon = rng.uniform(-118.6, -117.9, n)
        lat = rng.uniform(33.3, 33.8, n)
        lon[at_anchor] = self.anchor_xy[idx[at_anchor], 0] + rng.normal(0, 0.0005,
                                                                         at_anchor.sum())
        lat[at_anchor] = self.anchor_xy[idx[at_anchor], 1] + rng.normal(0, 0.0005,
                                                                         at_anchor.sum())
        lon[at_berth] = self.berth_xy[idx[at_berth], 0] + rng.normal(0, 0.0002, at_berth.sum())
        lat[at_berth] = self.berth_xy[idx[at_berth], 1] + rng.normal(0, 0.0002, at_berth.sum())
        arr = np.zeros(n, dtype=POSITION_DTYPE)
        arr["ts_ms"], arr["mmsi"] = ts, self.mmsi[idx]
        arr["lat"], arr["lon"] = lat, lon
        arr["sog"] = np.where(at_anchor | at_berth, rng.uniform(0, 0.8, n), rng.uniform(5, 15, n))
        arr["cog"] = rng.uniform(0, 359.9, n)
        arr["heading"] = 511
        arr["nav_status"] = np.where(at_anchor, 1, np.where(at_berth, 5, 0))
        arr["msg_type"], arr["ship_type"], arr["ais_class"] = 1, 70, 1
        return [self.keys[i] for i in idx.tolist()], encode_array(arr, Kind.POSITION), ts.tolist()

    def containers(self, ts: int) -> tuple[list[bytes], list[bytes], list[int]]:
        k = self.ticks
        arr = np.zeros(len(self.boxes), dtype=CONTAINER_EVENT_DTYPE)
        arr["ts_ms"] = ts
        arr["container"] = [pool[k % len(pool)] for pool in self.boxes]
        # each box is discharged, then gated out by truck a pool's worth of ticks later
        arr["event"] = 1 if (k // len(self.boxes[0])) % 2 == 0 else 2
        arr["port"] = [b"USLAX" if i % 2 else b"USLGB" for i in range(len(arr))]
        arr["terminal"] = [b"APM" if i % 2 else b"LBCT" for i in range(len(arr))]
        keys = [bytes(c) for c in arr["container"].tolist()]
        return keys, encode_array(arr, Kind.CONTAINER_EVENT), [ts] * len(arr)

    def inventory(self, ts: int) -> tuple[list[bytes], list[bytes], list[int]]:
        k = self.ticks
        keys = [pool[k % len(pool)] for pool in self.items]
        arr = np.zeros(len(keys), dtype=INVENTORY_DTYPE)
        arr["ts_ms"] = ts
        arr["site"] = [key.split(b"|")[0] for key in keys]
        arr["item"] = [key.split(b"|")[1] for key in keys]
        arr["on_hand"] = 5000.0 - (ts - self.cfg.start_ms) / DAY_MS * 40.0
        arr["daily_usage"] = 40.0
        return keys, encode_array(arr, Kind.INVENTORY), [ts] * len(arr)


def check_synthetic(cfg: PaceConfig, sender: BatchSender) -> None:
    """Every kind of synthetic record decodes and passes validate_batch."""
    syn = Synthetic(cfg, sender)
    for kind, (_, values, _) in [
        (Kind.POSITION, syn.positions(5000, cfg.start_ms, cfg.start_ms + 72_000)),
        (Kind.CONTAINER_EVENT, syn.containers(cfg.start_ms)),
        (Kind.INVENTORY, syn.inventory(cfg.start_ms)),
    ]:
        batch = decode_batch(values, kind)
        check = validate_batch(batch.records, kind)
        assert not batch.rejections and check.ok.all(), (kind, set(check.reasons.tolist()))


async def pace(cfg: PaceConfig) -> None:
    """The pacing producer (child process): ticks of records in event time, at ``rate``."""
    producer = AIOKafkaProducer(**_client(cfg.bootstrap, producer=True), acks="all",
                                enable_idempotence=True, linger_ms=0, max_batch_size=1 << 20)
    await producer.start()
    try:
        topics = {short: cfg.prefix + short for short in FEEDS}
        sender = BatchSender(producer, {t: sorted(await producer.partitions_for(t))
                                        for t in topics.values()})
        syn = Synthetic(cfg, sender)
        ev_per_tick = int(cfg.speed * cfg.tick_s * 1000)
        n_ticks = int(cfg.seconds / cfg.tick_s)
        ticks: list[tuple[float, int]] = []
        sent: Counter[str] = Counter()
        acks: list[asyncio.Future[Any]] = []
        late = 0
        t0 = time.monotonic()
        for k in range(n_ticks):
            delay = t0 + k * cfg.tick_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -cfg.tick_s:
                late += 1
            syn.ticks = k
            ev_lo = cfg.start_ms + k * ev_per_tick
            ev_hi = ev_lo + ev_per_tick - 1
            n = int(cfg.rate * (k + 1) * cfg.tick_s) - int(cfg.rate * k * cfg.tick_s)
            feeds = [("positions", syn.positions(n, ev_lo, ev_hi)),
                     ("containers", syn.containers(ev_hi))]
            if cfg.inventory:
                feeds.append(("inventory", syn.inventory(ev_hi)))
            for short, (keys, values, stamps) in feeds:
                await sender.send_many(topics[short], keys, values, stamps)
                sent[short] += len(keys)
            acks.extend(await sender.checkpoint())
            ticks.append((time.monotonic(), ev_hi))
        elapsed = time.monotonic() - t0
        await sender.flush()
        await asyncio.gather(*acks)
        Path(cfg.out).write_text(json.dumps({"ticks": ticks, "sent": dict(sent),
                                             "seconds": elapsed, "late_ticks": late}))
    finally:
        await producer.stop()


@dataclass
class Latency:
    label: str
    sent: dict[str, int] = field(default_factory=dict)
    seconds: float = np.nan
    late_ticks: int = 0
    hourly: list[float] = field(default_factory=list)  # seconds, per hourly interval end
    daily: list[float] = field(default_factory=list)  # seconds, per day boundary
    decisions: int = 0  # distinct watermark advances of the detection shard
    alerts: list[float] = field(default_factory=list)  # latency of each alert transition
    checkpoints: list[float] = field(default_factory=list)  # durations (s)
    clear: list[float] = field(default_factory=list)  # hourly, no checkpoint in between
    cpu_s: float = 0.0
    detect_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent.get("positions", 0) / self.seconds


def interval_latencies(ticks: npt.NDArray[Any], notes: npt.NDArray[Any], step_ms: int,
                       warmup_s: float) -> list[tuple[float, float]]:
    """For every interval end E (multiple of ``step_ms``) the watermark passed: (wall time
    of the first tick with event time >= E + lateness, wall time of the first note with
    watermark >= E); ends whose tick is in the first ``warmup_s`` left out."""
    if not len(notes) or not len(ticks):
        return []
    t_tick, ev = ticks[:, 0], ticks[:, 1]
    t_note, wm = notes[:, 0], np.maximum.accumulate(notes[:, 1])
    first = -(-int(ev[0]) // step_ms) * step_ms
    last = int(min(wm[-1], ev[-1]))
    out = []
    for end in range(first, last + 1, step_ms):
        i = int(np.searchsorted(wm, end, side="left"))
        j = int(np.searchsorted(ev, end + LATENESS_MS, side="left"))
        if i < len(wm) and j < len(ev) and t_tick[j] - t_tick[0] >= warmup_s:
            out.append((float(t_tick[j]), float(t_note[i])))
    return out


async def _latency_run(env: dict[str, str], cfg: PaceConfig, label: str) -> Latency:
    from streams.detection import StageOutput
    from streams.features.windows import FeaturePoints
    from streams.kafka.records import PartialsMessage
    from streams.worker.runtime import WorkerRuntime
    from streams.worker.stages import DetectShard

    settings = load(env)
    res = Latency(label)
    notes: list[tuple[float, int, int]] = []  # wall time, clock watermark, clock interval
    alert_notes: list[tuple[float, float]] = []
    orig_add = DetectShard.add

    def add(shard: DetectShard, msg: PartialsMessage) -> tuple[FeaturePoints, StageOutput]:
        points, out = orig_add(shard, msg)
        now = time.monotonic()
        interval, _ = shard.local[msg.source]
        notes.append((now, shard.clocks[interval].watermark_ms, interval))
        alert_notes.extend((now, a.ts) for a in out.alerts)
        return points, out

    rt = WorkerRuntime(settings, send_alerts=False)
    spans: list[tuple[float, float]] = []
    orig_checkpoint = rt.checkpoint

    async def checkpoint(tps: list[Any]) -> None:
        t0 = time.monotonic()
        await orig_checkpoint(tps)
        spans.append((t0, time.monotonic()))

    rt.checkpoint = checkpoint  # type: ignore[method-assign]
    cpu = DetectorCpu()
    DetectShard.add = add  # type: ignore[method-assign, assignment]
    cpu.install()
    try:
        if not cfg.inventory:
            producer = AIOKafkaProducer(**_client(cfg.bootstrap, producer=True))
            await producer.start()
            try:
                await send_markers(producer, cfg.prefix, cfg.start_ms, ["inventory"])
            finally:
                await producer.stop()
        await rt.start()
        task = asyncio.create_task(rt.run())
        assert rt.layout is not None
        deadline = time.monotonic() + 60
        while len(rt.owned) < rt.layout.n + rt.shards and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # inventory markers (run B) processed, loop settled
        cpu0, cpu.seconds = time.process_time(), 0.0
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--pace", json.dumps(asdict(cfg)))
        await child.wait()
        await asyncio.sleep(1.5)  # the last intervals through the pipeline
        res.cpu_s, res.detect_cpu_s = time.process_time() - cpu0, cpu.seconds
        rt.request_stop()
        await task
    finally:
        DetectShard.add = orig_add  # type: ignore[method-assign]
        cpu.uninstall()
        await rt.stop()
    doc = json.loads(Path(cfg.out).read_text())
    res.sent, res.seconds, res.late_ticks = doc["sent"], doc["seconds"], doc["late_ticks"]
    ticks = np.array(doc["ticks"], dtype=np.float64)
    every = np.array(notes, dtype=np.float64).reshape(-1, 3)
    # each clock decides its own intervals: hourly series on the hourly clock's watermark
    arr = every[every[:, 2] == HOUR_MS / 1000][:, :2]
    days = every[every[:, 2] == DAY_MS / 1000][:, :2]
    hourly = interval_latencies(ticks, arr, HOUR_MS, 1.0)
    res.hourly = [b - a for a, b in hourly]
    res.clear = [b - a for a, b in hourly if not any(c0 < b and c1 > a for c0, c1 in spans)]
    res.checkpoints = [c1 - c0 for c0, c1 in spans]
    if cfg.inventory:
        res.daily = [b - a for a, b in interval_latencies(ticks, days, DAY_MS, 1.0)]
    res.decisions = len(np.unique(arr[:, 1])) if len(arr) else 0
    for t, ts in alert_notes:
        j = int(np.searchsorted(ticks[:, 1], ts * 1000 + LATENESS_MS, side="left"))
        if j < len(ticks):
            res.alerts.append(t - float(ticks[j, 0]))
    return res


def latency_run(env: dict[str, str], bootstrap: str, tmp: Path, seconds: float,
                inventory: bool, label: str) -> Latency:
    env = fresh_prefix(env, "lat")
    cfg = PaceConfig(bootstrap=bootstrap, prefix=env["BERTHWATCH_TOPIC_PREFIX"],
                     out=str(tmp / f"pace-{label[0]}.json"), seconds=seconds,
                     inventory=inventory)
    res = asyncio.run(_latency_run(env, cfg, label))
    ms = [x * 1000 for x in res.hourly]
    note(f"latency {label}: sent {res.rate:,.0f} positions/s for {res.seconds:.1f} s "
         f"({res.sent}); {res.decisions} watermark advances; hourly ends p50 {pct(ms, 50):,.0f} "
         f"ms, p99 {pct(ms, 99):,.0f} ms, max {max(ms, default=np.nan):,.0f} ms (n={len(ms)}); "
         f"day ends {[round(x * 1000) for x in res.daily]} ms; {len(res.alerts)} alert "
         f"transitions; late ticks {res.late_ticks}; {len(res.checkpoints)} checkpoints, "
         f"max {max(res.checkpoints, default=0) * 1000:.0f} ms; hourly ends without a "
         f"checkpoint in between: p99 {pct([x * 1000 for x in res.clear], 99):,.0f} ms "
         f"(n={len(res.clear)})")
    return res


# --------------------------------------------------------------------------- main


@dataclass
class Options:
    days: int
    faust_events: int
    latency_s: float  # run A
    latency_b_s: float
    faust_timeout_s: float


def throughput(env: dict[str, str], bootstrap: str, tmp: Path, opts: Options
               ) -> dict[str, Any]:
    env = fresh_prefix(env, "tp")
    prefix = env["BERTHWATCH_TOPIC_PREFIX"]
    settings = load(env)
    arr = dense_feed(tmp, opts.days)
    send_rps = asyncio.run(produce_feed(bootstrap, prefix, arr))
    del arr
    ends = asyncio.run(end_offsets(bootstrap, prefix + "positions"))
    total = sum(ends.values())
    note(f"produced {total:,} messages into {prefix}positions ({len(ends)} partitions, "
         f"markers included) at {send_rps:,.0f} records/s")

    records, raw_s, raw_cpu = asyncio.run(raw_read(bootstrap, ends,
                                                   settings.worker_batch_records))
    assert records == total, (records, total)
    raw_rps = total / raw_s
    note(f"raw aiokafka getmany: {raw_rps:,.0f} records/s ({raw_s:.2f} s, CPU {raw_cpu:.2f} s)")

    wt = asyncio.run(worker_throughput(env, ends, timeout_s=300))
    worker_rps = total / wt.read_s
    share = wt.detect_cpu_s / wt.cpu_s if wt.cpu_s else np.nan
    note(f"worker: {worker_rps:,.0f} records/s (read in {wt.read_s:.2f} s, closed everything "
         f"after {wt.closed_s:.2f} s); {wt.handle_s:.2f} s of the reading in its batch handler "
         f"(the rest in getmany and checkpoints); CPU {wt.cpu_s:.2f} s, detectors "
         f"{wt.detect_cpu_s:.3f} s ({share:.1%}); {wt.alerts} alert transitions")

    n = min(opts.faust_events, total)
    events, faust_s, faust_note = faust_baseline(env, bootstrap, n, tmp, opts.faust_timeout_s)
    faust_rps = events / faust_s if events else np.nan
    note(f"faust per-event agent: {events:,} events in {faust_s:.2f} s = {faust_rps:,.0f}/s "
         f"({faust_note})")
    return {"records": total, "send_rps": send_rps, "raw_rps": raw_rps, "raw_cpu": raw_cpu,
            "worker_rps": worker_rps, "worker": wt, "detect_share": share,
            "faust_events": events, "faust_rps": faust_rps}


def report(tp: dict[str, Any], lats: list[Latency], load0: tuple[float, ...],
           load1: tuple[float, ...], wall: float) -> None:
    wt: WorkerThroughput = tp["worker"]
    print()
    print(f"{'measure':<56}{'value':>18}  {'ratio / goal'}")
    rows = [
        ("raw aiokafka getmany, positions (records/s)", f"{tp['raw_rps']:,.0f}",
         f"CPU {tp['raw_cpu']:.2f} s"),
        ("worker, first batch -> positions read (records/s)", f"{tp['worker_rps']:,.0f}",
         f"worker/raw {tp['worker_rps'] / tp['raw_rps']:.2f} (>= 0.6)"),
        ("worker, first batch -> everything closed (s)", f"{wt.closed_s:.2f}",
         f"CPU {wt.cpu_s:.2f} s"),
        (f"faust per-event agent, {tp['faust_events']:,} events (events/s)",
         f"{tp['faust_rps']:,.0f}",
         f"worker/faust {tp['worker_rps'] / tp['faust_rps']:.1f}x (>= 10x)"),
        ("detectors' share of worker CPU", f"{tp['detect_share']:.2%}",
         f"{wt.detect_cpu_s:.3f} of {wt.cpu_s:.2f} s (<= 10%)"),
    ]
    for lat in lats:
        ms = [x * 1000 for x in lat.hourly]
        rows.append((f"latency {lat.label}: sent positions/s", f"{lat.rate:,.0f}",
                     f"{lat.seconds:.0f} s, 50,000/s asked"))
        rows.append((f"latency {lat.label}: hourly ends p50 / p99 (ms)",
                     f"{pct(ms, 50):,.0f} / {pct(ms, 99):,.0f}",
                     f"n={len(ms)}, max {max(ms, default=np.nan):,.0f} (p99 < 250)"))
        cms = [x * 1000 for x in lat.clear]
        if not lat.daily:  # with the daily gate, hourly ends all wait across checkpoints
            rows.append(("  same, no checkpoint in between: p50 / p99 (ms)",
                         f"{pct(cms, 50):,.0f} / {pct(cms, 99):,.0f}",
                         f"n={len(cms)}; checkpoints max "
                         f"{max(lat.checkpoints, default=0) * 1000:.0f} ms"))
        if lat.daily:
            dms = [x * 1000 for x in lat.daily]
            rows.append((f"latency {lat.label}: day ends (ms)",
                         " ".join(f"{x:,.0f}" for x in dms), f"n={len(dms)}"))
        if lat.alerts:
            ams = [x * 1000 for x in lat.alerts]
            rows.append((f"latency {lat.label}: alert transitions p50 / max (ms)",
                         f"{pct(ams, 50):,.0f} / {max(ams):,.0f}", f"n={len(ams)}"))
        share = lat.detect_cpu_s / lat.cpu_s if lat.cpu_s else np.nan
        rows.append((f"latency {lat.label}: worker CPU / detectors' share",
                     f"{lat.cpu_s / lat.seconds:.0%} core", f"{share:.1%}"))
    for name, value, ratio in rows:
        print(f"{name:<56}{value:>18}  {ratio}")
    print(f"{tp['records']:,} positions messages; load average before "
          f"{' '.join(f'{x:.2f}' for x in load0)}, after {' '.join(f'{x:.2f}' for x in load1)}; "
          f"{os.cpu_count()} cpus; whole run {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one day, shorter runs")
    parser.add_argument("--faust-events", type=int, default=None,
                        help="events the faust baseline processes (default: 200k quick, all)")
    parser.add_argument("--latency-seconds", type=float, default=None)
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    parser.add_argument("--pace", help=argparse.SUPPRESS)  # the pacing producer (child)
    args = parser.parse_args()
    if args.pace:
        asyncio.run(pace(PaceConfig(**json.loads(args.pace))))
        return
    opts = Options(
        days=1 if args.quick else 2,
        faust_events=args.faust_events or (200_000 if args.quick else 500_000),
        latency_s=args.latency_seconds or (30.0 if args.quick else 60.0),
        latency_b_s=args.latency_seconds or (20.0 if args.quick else 60.0),
        faust_timeout_s=120.0 if args.quick else 300.0,
    )
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    note(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
         f"{' '.join(f'{x:.2f}' for x in load0)}")
    env = dict(BENCH_ENV)
    started = berthwatch("stack", "status", env=env, check=False).returncode != 0
    if started:
        note("starting the bench stack ...")
        berthwatch("stack", "up", env=env)
    bootstrap = f"127.0.0.1:{env['BERTHWATCH_KAFKA_PORT']}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp_name:
            tmp = Path(tmp_name)
            tp = throughput(env, bootstrap, tmp, opts)
            check_synthetic(PaceConfig(bootstrap, "x.", ""), _FakeSender())
            lats = [latency_run(env, bootstrap, tmp, opts.latency_s, True, "A (all feeds live)"),
                    latency_run(env, bootstrap, tmp, opts.latency_b_s, False,
                                "B (inventory ended)")]
            report(tp, lats, load0, os.getloadavg(), time.perf_counter() - t_start)
    finally:
        if started and not args.keep_stack:
            berthwatch("stack", "down", env=env, check=False)


class _FakeSender(BatchSender):
    """A sender without a producer: only its partitioner (for :func:`check_synthetic`)."""

    def __init__(self) -> None:
        super().__init__(None, {f"x.{s}": [0, 1, 2, 3] for s in FEEDS})


if __name__ == "__main__":
    main()
