"""Throughput of ``berthwatch replay`` against ``kcat -P`` sending the same records.

Run from the project root:  python bench/bench_replay.py [--rows N] [--keep-stack]

It starts (or reuses) a local stack on the bench ports with the project's own
``berthwatch stack up``, creates topics under a fresh prefix, writes a synthetic
MarineCadastre CSV (a fleet of vessels around San Pedro Bay, one malformed
position in a thousand), and then, in the same run, measures

* ``berthwatch replay --max`` of that file, end to end (parsing, validation,
  encoding, sending, acknowledgements), as the command reports it and as the
  wall time of the whole command;
* ``kcat -P`` sending the same keys and canonical values (positions and the
  static records the replay sends) to the same broker, pre-encoded in a file
  with key and message delimiters that occur nowhere in the data, partitioned
  with murmur2 like the replay; the topic's message count is checked;
* the replay's parsing alone (file to canonical arrays, vectorized path) and the
  per-line parser on a slice of the same file (the path used before);
* the replay's sending alone (pre-encoded records through its batch sender);
* the replay of the real San Pedro Bay NMEA capture, repeated, for the record.

It prints records per second and the ratios replay/kcat. A benchmark, not a
test: it never fails on a time. The stack is stopped at the end if this run
started it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from streams.feeds import FeedContext, FeedFormat, FeedParser, Kind  # noqa: E402
from streams.feeds.codec import encode_array, keys_of_array  # noqa: E402
from streams.replay import StaticMemory  # noqa: E402
from streams.replay.segments import file_segments  # noqa: E402

BENCH_ENV = {
    "BERTHWATCH_STACK_DIR": ".stack-bench",
    "BERTHWATCH_KAFKA_PORT": "29192",
    "BERTHWATCH_KAFKA_CONTROLLER_PORT": "29195",
    "BERTHWATCH_PROMETHEUS_PORT": "29190",
    "BERTHWATCH_ALERTMANAGER_PORT": "29193",
}
BERTHWATCH = [sys.executable, "-m", "streams"]
HEADER = (
    "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,"
    "Length,Width,Draft,Cargo,TransceiverClass"
)
NMEA_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "ais-socal-nmea" / "sample.ais"


def berthwatch(*args: str, env: dict[str, str], check: bool = True
               ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*BERTHWATCH, *args], capture_output=True, text=True,
                            env={**os.environ, **env}, cwd=PROJECT_ROOT, check=False)
    if check and result.returncode != 0:
        sys.exit(f"berthwatch {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _imo(first6: int) -> int:
    total, t = 0, first6
    for weight in range(2, 8):
        total += (t % 10) * weight
        t //= 10
    return first6 * 10 + total % 10


def write_marinecadastre(path: Path, rows: int, vessels: int = 3000, seed: int = 7) -> None:
    """Synthetic MarineCadastre rows: three days of a fleet off San Pedro Bay, in time
    order; draughts change once a day (so static records change too), one row in a
    thousand has an impossible latitude."""
    rng = np.random.default_rng(seed)
    mmsi = 200_000_000 + rng.choice(575_999_999, vessels, replace=False)
    statics = []
    for i in range(vessels):
        imo = f"IMO{_imo(900_000 + i)}" if i % 3 else ""
        statics.append((f"VESSEL {i:04d}", imo, f"C{i:05d}", 70 + i % 10, 150 + i % 200,
                        20 + i % 30))
    who = rng.integers(0, vessels, rows)
    secs = np.sort(rng.integers(0, 3 * 86_400, rows))
    times = (np.datetime64("2021-10-01T00:00:00") + secs.astype("timedelta64[s]")).astype(str)
    lat = np.round(33.5 + rng.random(rows) * 0.5, 5)
    lat[rng.random(rows) < 0.001] = 95.0
    lon = np.round(-118.5 + rng.random(rows) * 0.5, 5)
    sog = np.round(rng.random(rows) * 20, 1)
    cog = np.round(rng.random(rows) * 359.9, 1)
    heading = rng.integers(0, 360, rows)
    day = secs // 86_400
    fmt = "%d,%s,%.5f,%.5f,%.1f,%.1f,%d.0,%s,%s,%s,%d,%s,%d.0,%d.0,%d.0,%d,A".__mod__
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for lo in range(0, rows, 200_000):
            sl = slice(lo, min(lo + 200_000, rows))
            lines = []
            for j, t, la, lo_, s, c, h, d in zip(
                who[sl].tolist(), times[sl].tolist(), lat[sl].tolist(), lon[sl].tolist(),
                sog[sl].tolist(), cog[sl].tolist(), heading[sl].tolist(), day[sl].tolist(),
                strict=True,
            ):
                name, imo, call, vtype, length, width = statics[j]
                status = "1.0" if s < 1.0 else "0.0"
                lines.append(fmt((int(mmsi[j]), t, la, lo_, s, c, h, name, imo, call, vtype,
                                  status, length, width, 8 + d, vtype)))
            out.write("\n".join(lines) + "\n")


def ctx_for(fmt: FeedFormat) -> FeedContext:
    from streams.feeds.times import TimeWindow

    return FeedContext(fmt, window=TimeWindow(0, int((time.time() + 86_400) * 1000)))


def canonical_messages(path: Path) -> dict[str, tuple[list[bytes], list[bytes]]]:
    """The keys and values the replay sends, per feed (positions, vessels), in order."""
    bytes_read = [0]
    positions: tuple[list[bytes], list[bytes]] = ([], [])
    vessels: tuple[list[bytes], list[bytes]] = ([], [])
    statics = StaticMemory({})
    for seg in file_segments(path, 0, ctx_for(FeedFormat.AIS_MARINECADASTRE_CSV), 0, bytes_read):
        if not seg.arrays:
            continue
        pos, static = seg.arrays[Kind.POSITION], seg.arrays[Kind.VESSEL_STATIC]
        positions[0].extend(keys_of_array(pos, Kind.POSITION))
        positions[1].extend(encode_array(pos, Kind.POSITION))
        wires = encode_array(static, Kind.VESSEL_STATIC)
        changed = statics.changes(static["mmsi"], wires)
        vessels[0].extend(keys_of_array(static[changed], Kind.VESSEL_STATIC))
        vessels[1].extend(w for w, c in zip(wires, changed.tolist(), strict=True) if c)
    return {"positions": positions, "vessels": vessels}


def unused_delimiter(data: bytes, rng: np.random.Generator) -> bytes:
    """Eight random bytes (no NUL: kcat reads the delimiter as a C string) absent from data."""
    while True:
        delim = bytes(rng.integers(1, 256, 8, dtype=np.uint8).tolist())
        if delim not in data:
            return delim


def kcat_file(path: Path, keys: list[bytes], values: list[bytes], seed: int) -> tuple[str, str]:
    """Write ``key K value D`` records; returns kcat's -K and -D arguments (\\xNN form)."""
    rng = np.random.default_rng(seed)
    blob = b"".join(keys) + b"".join(values)
    kd = unused_delimiter(blob, rng)
    md = unused_delimiter(blob + kd, rng)
    body = md.join(k + kd + v for k, v in zip(keys, values, strict=True)) + md
    # every record comes back whole: no delimiter straddles a key or value boundary
    pieces = body.split(md)[:-1]
    assert len(pieces) == len(keys)
    assert all(p.split(kd) == [k, v] for p, k, v in zip(pieces, keys, values, strict=True))
    path.write_bytes(body)
    return "".join(f"\\x{b:02x}" for b in kd), "".join(f"\\x{b:02x}" for b in md)


def topic_count(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    from streams.kafka.client import kafka_python_args
    from streams.settings import load_settings

    consumer = KafkaConsumer(**kafka_python_args(load_settings(kafka_servers=bootstrap)))
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def run_kcat(bootstrap: str, topic: str, file: Path, kd: str, md: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", kd, "-D", md,
                    "-X", "partitioner=murmur2_random", "-l", str(file)],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def replay_rate(out: str) -> tuple[int, float]:
    m = re.search(r"sent ([\d,]+) records in ([\d.]+)s", out)
    assert m, out
    return int(m.group(1).replace(",", "")), float(m.group(2))


def parse_rates(path: Path, slice_lines: int) -> tuple[float, float, int]:
    """(vectorized lines/s over the file, per-line lines/s over a slice, lines)."""
    t0 = time.perf_counter()
    lines = 0
    for seg in file_segments(path, 0, ctx_for(FeedFormat.AIS_MARINECADASTRE_CSV), 0, [0]):
        lines += len(seg)
    fast = lines / (time.perf_counter() - t0)
    parser = FeedParser(ctx_for(FeedFormat.AIS_MARINECADASTRE_CSV))
    with path.open("rb") as fh:
        part = [line.rstrip(b"\r\n") for _, line in zip(range(slice_lines), fh, strict=False)]
    t0 = time.perf_counter()
    for i, raw in enumerate(part, 1):
        parser.feed(raw, i)
    return fast, len(part) / (time.perf_counter() - t0), lines


async def send_only(env: dict[str, str], topic: str, keys: list[bytes],
                    values: list[bytes]) -> float:
    """Records/s of the replay's batch sender alone (same producer settings)."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka.client import aiokafka_args
    from streams.kafka.io import BatchSender
    from streams.settings import load_settings

    os.environ.update(env)
    settings = load_settings()
    producer = AIOKafkaProducer(**aiokafka_args(settings, producer=True), acks="all",
                                enable_idempotence=True, max_batch_size=1024 * 1024,
                                max_request_size=4 * 1024 * 1024, linger_ms=50)
    await producer.start()
    try:
        parts = sorted(await producer.partitions_for(topic))
        sender = BatchSender(producer, {topic: parts})
        stamps = [0] * len(keys)
        t0 = time.perf_counter()
        for lo in range(0, len(keys), 50_000):
            await sender.send_many(topic, keys[lo : lo + 50_000], values[lo : lo + 50_000],
                                   stamps[lo : lo + 50_000])
        await sender.flush()
        return len(keys) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nmea-repeat", type=int, default=5)
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    env = dict(BENCH_ENV)
    started = berthwatch("stack", "status", env=env, check=False).returncode != 0
    if started:
        print("starting the bench stack ...", flush=True)
        berthwatch("stack", "up", env=env)
    bootstrap = f"127.0.0.1:{env['BERTHWATCH_KAFKA_PORT']}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
            run(Path(tmp), env, bootstrap, args.rows, args.nmea_repeat)
    finally:
        if started and not args.keep_stack:
            berthwatch("stack", "down", env=env, check=False)


def run(tmp: Path, env: dict[str, str], bootstrap: str, rows: int, nmea_repeat: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    env = {**env, "BERTHWATCH_TOPIC_PREFIX": prefix}
    berthwatch("topics", "create", env=env)
    csv_path = tmp / "positions.csv"
    t0 = time.perf_counter()
    write_marinecadastre(csv_path, rows)
    size = csv_path.stat().st_size
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.1f}; {rows:,} MarineCadastre rows ({size / 1e6:.0f} MB, "
          f"written in {time.perf_counter() - t0:.1f} s)", flush=True)

    # (a) the replay command, end to end
    t0 = time.perf_counter()
    out = berthwatch("replay", "--max", str(csv_path), env=env).stdout
    wall = time.perf_counter() - t0
    sent, seconds = replay_rate(out)
    replay_rps, replay_wall_rps = sent / seconds, sent / wall
    print(out.strip())

    # (b) kcat -P with the same keys and values
    messages = canonical_messages(csv_path)
    assert sum(len(k) for k, _ in messages.values()) == sent, "not the records the replay sent"
    kcat_seconds = 0.0
    for name, (keys, values) in messages.items():
        file = tmp / f"{name}.kcat"
        kd, md = kcat_file(file, keys, values, seed=len(keys))
        topic = f"{prefix}kcat-{name}"
        berthwatch_topic(env, name, topic)
        kcat_seconds += run_kcat(bootstrap, topic, file, kd, md)
        count = topic_count(bootstrap, topic)
        assert count == len(keys), f"kcat sent {count} of {len(keys)} {name} messages"
    kcat_rps = sent / kcat_seconds

    # (c) parsing alone and sending alone
    fast_parse, line_parse, lines = parse_rates(csv_path, 100_000)
    keys, values = messages["positions"]
    send_rps = asyncio.run(send_only(env, f"{prefix}positions", keys, values))

    # (d) NMEA, the real capture repeated
    nmea = tmp / "sample.ais"
    nmea.write_bytes(NMEA_SAMPLE.read_bytes() * nmea_repeat)
    nmea_env = {**env, "BERTHWATCH_TOPIC_PREFIX": prefix + "nmea."}
    berthwatch("topics", "create", env=nmea_env)
    t0 = time.perf_counter()
    nmea_out = berthwatch("replay", "--max", str(nmea), env=nmea_env).stdout
    nmea_sent, nmea_seconds = replay_rate(nmea_out)
    nmea_lines = nmea.read_bytes().count(b"\n")

    print()
    print(f"{'case':<44}{'records/s':>14}{'ratio to kcat':>16}")
    rowsf = [
        ("kcat -P (same keys and values, murmur2)", kcat_rps),
        ("berthwatch replay --max (reported)", replay_rps),
        ("berthwatch replay --max (whole command)", replay_wall_rps),
        ("replay send only (batch sender)", send_rps),
    ]
    for name, rate in rowsf:
        print(f"{name:<44}{rate:>14,.0f}{rate / kcat_rps:>16.2f}")
    print(f"{'parse, vectorized (lines/s)':<44}{fast_parse:>14,.0f}")
    print(f"{'parse, per-line FeedParser (lines/s)':<44}{line_parse:>14,.0f}"
          f"   vectorized/per-line {fast_parse / line_parse:.1f}x")
    print(f"{'NMEA replay --max (records/s)':<44}{nmea_sent / nmea_seconds:>14,.0f}"
          f"   ({nmea_lines / nmea_seconds:,.0f} lines/s, {nmea_lines:,} lines)")
    print(f"{sent:,} records ({lines:,} lines); replay/kcat = {replay_rps / kcat_rps:.2f}")


def berthwatch_topic(env: dict[str, str], feed: str, topic: str) -> None:
    """A topic like the feed's (same partitions) for kcat."""
    from kafka.admin import KafkaAdminClient, NewTopic

    from streams.kafka.client import kafka_python_args
    from streams.settings import load_settings

    os.environ.update(env)
    settings = load_settings()
    admin = KafkaAdminClient(**kafka_python_args(settings))
    try:
        admin.create_topics([NewTopic(topic, settings.topic_partitions,
                                      settings.topic_replication_factor or -1)])
    finally:
        admin.close()


if __name__ == "__main__":
    main()
