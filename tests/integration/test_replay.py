"""Replay into the real broker: identical at any speed, resumable, nothing lost.

Each test uses its own topic prefix, so topics start empty and runs don't mix.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import uuid
from collections import Counter
from pathlib import Path

import pytest

from streams.kafka.records import END_OF_FEED_HEADER, REPLAY_BEGIN_HEADER
from streams.replay import ReplayOptions, replay
from streams.settings import Settings
from tests.integration.conftest import read_topic, run_cli
from tests.integration.harness import bounded_dead_letter

FEEDS = ("positions", "vessels", "containers", "inventory")

# Times inside the 7 minutes of the San Pedro Bay capture (2016-01-10 23:29-23:36 UTC),
# so that a paced replay of all files together takes seconds.
GOOD_CONTAINERS = [
    "time,port,terminal,container,event",
    "2016-01-10T23:30:00Z,USLAX,APMT,CSQU3054383,discharged",
    "2016-01-10T23:31:00Z,USLGB,LBCT,MSCU1234566,discharged",
    "2016-01-10T23:35:00Z,USLAX,APMT,CSQU3054383,gate_out_truck",
]
GOOD_INVENTORY = [
    "time,site,item,on_hand,daily_usage",
    "2016-01-10T23:30:00Z,AUS-FAB2,MCU-32,1200,300",
    "2016-01-10T23:34:00Z,AUS-FAB2,MCU-32,900,300",
]


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


def _create(prefix: str) -> dict[str, str]:
    env = {"BERTHWATCH_TOPIC_PREFIX": prefix}
    run_cli("topics", "create", env=env)
    return env


def _contents(stack: Settings, prefix: str) -> dict[str, list[tuple[int, bytes, bytes, int]]]:
    """What a consumer sees per feed topic: partition, key, value and event timestamp, in order
    (end-of-feed markers included, as records with no key; replay-begin markers left out:
    a resumed replay begins once more)."""
    return {
        name: [(p, k, v, ts) for p, _off, k, v, ts, h in read_topic(stack, prefix + name)
               if REPLAY_BEGIN_HEADER not in h]
        for name in FEEDS
    }


def _begins(stack: Settings, prefix: str, name: str) -> dict[int, list[int]]:
    """Replay-begin markers of a topic: partition -> their offsets."""
    out: dict[int, list[int]] = {}
    for p, off, _k, _v, _ts, h in read_topic(stack, prefix + name):
        if REPLAY_BEGIN_HEADER in h:
            out.setdefault(p, []).append(off)
    return out


def _markers(stack: Settings, prefix: str, name: str) -> dict[int, int]:
    """End-of-feed markers of a topic: partition -> the newest event time they carry."""
    return {p: int(h[END_OF_FEED_HEADER]) for p, _o, _k, _v, _ts, h in
            read_topic(stack, prefix + name) if END_OF_FEED_HEADER in h}


def _write(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_replay_speeds_leave_identical_topics(stack: Settings, shared_data: Path,
                                              tmp_path: Path) -> None:
    files = [
        str(shared_data / "ais-socal-nmea" / "sample.ais"),
        str(_write(tmp_path / "containers.csv.gz", GOOD_CONTAINERS, gz=True)),
        str(_write(tmp_path / "inventory.csv", GOOD_INVENTORY)),
    ]
    fast, paced = _prefix(), _prefix()
    out_fast = run_cli("replay", "--max", *files, env=_create(fast))
    # The capture spans 7 minutes of event time: at 200x it takes about 2 s of wall time.
    run_cli("replay", "--speed", "200", *files, env=_create(paced))
    a, b = _contents(stack, fast), _contents(stack, paced)
    assert a == b
    # a complete replay ends with an end-of-feed marker in every partition of the feeds
    # the workers read, carrying the topic's newest event time
    newest = {"containers": 1452468900000, "inventory": 1452468840000}
    for name in ("positions", "containers", "inventory"):
        markers = _markers(stack, fast, name)
        assert sorted(markers) == list(range(stack.topic_partitions))
        records = [r for r in a[name] if r[1] is not None]
        assert set(markers.values()) == {max(ts for *_, ts in records)}
        assert len(a[name]) == len(records) + stack.topic_partitions
        if name in newest:
            assert set(markers.values()) == {newest[name]}
        a[name] = records
    assert not _markers(stack, fast, "vessels")
    # ... and begins with a replay-begin marker, before any record
    for name in ("positions", "containers", "inventory"):
        assert _begins(stack, fast, name) == {p: [0] for p in range(stack.topic_partitions)}
    assert not _begins(stack, fast, "vessels")
    assert len(a["positions"]) > 7000 and len(a["containers"]) == 3 and len(a["inventory"]) == 2
    # event time is the Kafka timestamp, not wall time
    assert min(ts for *_, ts in a["containers"]) == 1452468600000  # 2016-01-10T23:30:00Z
    assert "sent" in out_fast.stdout and "rejected" in out_fast.stdout
    png = Path(out_fast.stdout.split("plot: ", 1)[1].strip())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # keys are entities and each entity lives in one partition
    partitions_of: dict[bytes, set[int]] = {}
    for part, key, _v, _ts in a["positions"]:
        assert len(key) == 9 and key.isdigit()
        partitions_of.setdefault(key, set()).add(part)
    assert all(len(p) == 1 for p in partitions_of.values())
    assert len({p for parts in partitions_of.values() for p in parts}) == stack.topic_partitions


def test_resume_continues_where_it_stopped(stack: Settings, shared_data: Path) -> None:
    source = str(shared_data / "ais-socal-nmea" / "sample.ais")
    whole, resumed = _prefix(), _prefix()
    run_cli("replay", source, env=_create(whole))
    env = _create(resumed)
    os.environ["BERTHWATCH_TOPIC_PREFIX"] = resumed
    try:
        settings = Settings()
        first = asyncio.run(replay(settings, [Path(source)], ReplayOptions(stop_after=3000)))
        assert 0 < first.records < 10_000
        run_cli("replay", "--resume", source, env=env)
    finally:
        os.environ.pop("BERTHWATCH_TOPIC_PREFIX")
    assert _contents(stack, whole) == _contents(stack, resumed)
    # the resumed replay began twice: once at the start, once on --resume
    assert all(len(offsets) == 2 and offsets[0] == 0
               for offsets in _begins(stack, resumed, "positions").values())


def _nmea(body: str) -> str:
    """A sentence with a correct checksum, so only its payload can be wrong."""
    check = 0
    for ch in body:
        check ^= ord(ch)
    return f"!{body}*{check:02X}"


BAD_LINES: dict[str, tuple[str, list[str]]] = {
    # reason: (file kind, lines incl. header)
    "undecodable_nmea": ("nmea", ["1452468552.938 " + _nmea("AIVDM,1,1,,B,ZZ$$%%,0"),
                                  "1452468552.938 hello world"]),
    "bad_checksum": ("nmea", ["1452468552.938 !AIVDM,1,1,,B,14Wtnn002SGLde:BbrBmdTLF0Vql,0*6F"]),
    "missing_field": ("containers", [GOOD_CONTAINERS[0],
                                     "2021-11-01T08:00:00Z,USLAX,APMT,,discharged"]),
    "wrong_type": ("inventory", [GOOD_INVENTORY[0], "2021-11-01T00:00:00Z,S1,I1,lots,300"]),
    "impossible_position": ("ais_csv", ["MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,"
                                        "CallSign,VesselType,Status,Length,Width,Draft,Cargo",
                                        "367752440,2021-01-11T00:00:00,95.5,-70.7,0.0,360.0,95.0,"
                                        "X,,W,31,0,,,,52"]),
    "non_finite": ("inventory", [GOOD_INVENTORY[0], "2021-11-01T00:00:00Z,S1,I1,nan,300"]),
    "negative_quantity": ("inventory", [GOOD_INVENTORY[0], "2021-11-01T00:00:00Z,S1,I1,-5,300"]),
    "bad_container_number": ("containers", [GOOD_CONTAINERS[0],
                                            "2021-11-01T08:00:00Z,USLAX,APMT,CSQU3054384,discharged"]),
    "bad_mmsi": ("ais_csv", ["MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,"
                             "VesselType,Status,Length,Width,Draft,Cargo",
                             "1234567890,2021-01-11T00:00:00,33.7,-118.2,0.0,360.0,95.0,X,,W,31,0,,,,52"]),
    "time_in_future": ("inventory", [GOOD_INVENTORY[0], "2999-01-01T00:00:00Z,S1,I1,5,3"]),
    "time_too_old": ("inventory", [GOOD_INVENTORY[0], "1970-01-02T00:00:00Z,S1,I1,5,3"]),
    "oversized_record": ("inventory", [GOOD_INVENTORY[0],
                                       "2021-11-01T00:00:00Z,S1," + "I" * 5000 + ",5,3"]),
    "unknown_port": ("containers", [GOOD_CONTAINERS[0],
                                    "2021-11-01T08:00:00Z,NLRTM,ECT,CSQU3054383,discharged"]),
    "unknown_event": ("containers", [GOOD_CONTAINERS[0],
                                     "2021-11-01T08:00:00Z,USLAX,APMT,CSQU3054383,teleported"]),
}


@pytest.mark.parametrize("reason", sorted(BAD_LINES))
def test_each_bad_input_lands_in_dead_letters_with_reason(stack: Settings, tmp_path: Path,
                                                          reason: str) -> None:
    kind, lines = BAD_LINES[reason]
    good = {"containers": GOOD_CONTAINERS[1:2], "inventory": GOOD_INVENTORY[1:2],
            "nmea": ["1452468552.938 !AIVDM,1,1,,B,14Wtnn002SGLde:BbrBmdTLF0Vql,0*6E"],
            "ais_csv": ["367752440,2021-01-11T00:00:00,33.7,-118.2,0.0,360.0,95.0,X,,W,31,0,,,,52"]}
    path = _write(tmp_path / f"{kind}.txt", [*lines, *good[kind]])
    prefix = _prefix()
    out = run_cli("replay", str(path), env=_create(prefix))
    dead = read_topic(stack, prefix + "deadletter")
    bad_raw = {line.encode() for line in lines[1 if kind not in ("nmea",) else 0:]}
    found = [d for d in dead if d[3] in bad_raw]
    assert found, f"no dead letter for {reason}: {out.stdout}"
    for _p, _o, _k, _v, _ts, headers in found:
        assert headers["error_class"] == reason, headers
        assert headers["source_topic"] == f"file:{path.name}"
        assert int(headers["source_offset"]) >= 1
        assert headers["error_message"]
    assert f"{reason}: {len(found)}" in out.stdout  # the summary counts it
    # the good line of the same file still went through
    sent = sum(len(read_topic(stack, prefix + name)) for name in FEEDS)
    assert sent >= 1


def test_greek_sample_dead_letters_undecodable_and_parses_the_rest(stack: Settings,
                                                                   shared_data: Path) -> None:
    source = shared_data / "pyais-nmea" / "nmea_data_sample.txt"
    prefix = _prefix()
    run_cli("replay", "--default-time", "2020-01-01T00:00:00Z", str(source), env=_create(prefix))
    dead = read_topic(stack, prefix + "deadletter")
    reasons = Counter(h["error_class"] for *_x, h in dead)
    lines = [ln for ln in source.read_bytes().splitlines() if ln.strip()]
    positions = read_topic(stack, prefix + "positions")
    vessels = read_topic(stack, prefix + "vessels")
    assert reasons["undecodable_nmea"] >= 50
    assert set(reasons) <= {"undecodable_nmea", "bad_checksum", "incomplete_multipart",
                            "missing_position", "out_of_range"}
    # every line is accounted for: a record (parts of multipart ones), a dead letter or ignored
    assert len(positions) + len(vessels) > len(lines) // 2
    assert len(dead) < len(lines) // 3


def test_from_to_keeps_only_that_event_time_range(stack: Settings, shared_data: Path) -> None:
    source = str(shared_data / "ais-socal-nmea" / "sample.ais")
    prefix = _prefix()
    # the capture runs 23:29:12 .. 23:36:20; keep [23:31:00, 23:33:00)
    out = run_cli("replay", "--from", "2016-01-10T23:31:00Z", "--to", "2016-01-10T23:33:00Z",
                  source, env=_create(prefix))
    stamps = [ts for *_x, ts, _h in read_topic(stack, prefix + "positions")]
    assert stamps, out.stdout
    assert min(stamps) >= 1452468660000 and max(stamps) < 1452468780000
    assert "outside --from/--to" in out.stdout
    bad = run_cli("replay", "--from", "yesterday-ish", source, env=_create(prefix), check=False)
    assert bad.returncode == 2 and "--from" in bad.stderr and "Traceback" not in bad.stderr


def test_a_one_megabyte_line_is_a_bounded_dead_letter_and_the_rest_goes_through(
    stack: Settings, tmp_path: Path
) -> None:
    """A 1 MB line once made the dead-letter record too large for the broker and the replay
    died half-way; now its dead letter carries a 64 KiB prefix, its length and its hash."""
    from streams.feeds.identifiers import iso6346_check_digit

    def box(n: int) -> str:
        head = f"CSQU{n:06d}"
        return head + str(iso6346_check_digit(head))

    good = [f"2021-11-01T{h:02d}:{m:02d}:00Z,USLAX,APMT,{box(h * 180 + m * 3 + i)},discharged"
            for h in range(24) for m in range(60) for i in range(3)]
    huge = "2021-11-01T12:00:00Z,USLAX,APMT," + "X" * 1_000_000 + ",discharged"
    lines = [GOOD_CONTAINERS[0], *good[:2000], huge, *good[2000:]]
    path = _write(tmp_path / "containers.csv", lines)
    prefix = _prefix()
    out = run_cli("replay", "--max", str(path), env=_create(prefix))
    assert out.returncode == 0, out.stdout + out.stderr
    records = [r for r in read_topic(stack, prefix + "containers") if r[2] is not None]
    assert len(records) == len(good)
    bounded_dead_letter(read_topic(stack, prefix + "deadletter"), huge.encode(),
                        at=2002)  # its line, header included


def test_a_broker_killed_mid_replay_stops_it_within_the_bound_and_resume_completes(
    stack: Settings, tmp_path: Path
) -> None:
    """The broker killed (SIGKILL) during a replay once hung it for the whole outage and
    ended in a traceback; now it stops within the outage bound with one line, its resume
    state holds what the broker acknowledged, and --resume completes the feed."""
    import signal
    import subprocess
    import sys
    import time

    from streams.feeds.identifiers import iso6346_check_digit
    from streams.tools import stack as stack_mod
    from streams.tools.stack import Kafka

    def box(n: int) -> str:
        head = f"MSCU{n:06d}"
        return head + str(iso6346_check_digit(head))

    n = 30_000  # one event a minute for about three weeks: about 36 s at --speed 50000
    t0 = 1_635_724_800  # 2021-11-01
    rows = [f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0 + 60 * i))},USLAX,APMT,"
            f"{box(i)},discharged" for i in range(n)]
    path = _write(tmp_path / "containers.csv", [GOOD_CONTAINERS[0], *rows])
    prefix = _prefix()
    topics_env = _create(prefix)
    env = {**os.environ, **topics_env, "BERTHWATCH_KAFKA_OUTAGE_SECONDS": "5"}
    kafka = Kafka(stack)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "replay", "--speed", "50000", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        time.sleep(8)
        pid = kafka.pid()
        assert pid is not None and proc.poll() is None
        os.killpg(pid, signal.SIGKILL)
        killed = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
        kafka.pid_file.unlink(missing_ok=True)
        stack_mod.up(stack, report=lambda _line: None)  # back, and ready, for what follows
    assert proc.returncode != 0
    assert took < 20, f"stopped {took:.0f} s after the kill"
    assert "acknowledged nothing for" in out and "--resume" in out, out
    assert "Traceback" not in out, out
    resumed = run_cli("replay", "--max", "--resume", str(path), env=topics_env, timeout=240)
    assert resumed.returncode == 0
    import re

    records = [r for r in read_topic(stack, prefix + "containers") if r[2] is not None]
    boxes = {m.group().decode() for r in records for m in re.finditer(rb"MSCU\d{7}", r[3])}
    assert boxes == {box(i) for i in range(n)}  # nothing lost
