"""A replay's markers (no broker: a fake producer records what each partition receives):
a replay-begin marker before the first record of every feed partition, on ``--resume``
too, and end-of-feed markers after the last."""

from __future__ import annotations

import asyncio
from pathlib import Path

from streams.feeds.files import detect_format
from streams.kafka.io import BatchSender
from streams.kafka.records import END_OF_FEED_HEADER, REPLAY_BEGIN_HEADER
from streams.kafka.topics import MARKED_TOPICS, TOPIC_OF_KIND
from streams.replay import ReplayOptions, ReplayStats, ResumeState
from streams.replay.run import _end_of_feed, _run
from tests.kafka.test_io import _Producer

CONTAINERS = [
    "time,port,terminal,container,event",
    "2021-11-01T08:00:00Z,USLAX,APMT,CSQU3054383,discharged",
    "2021-11-01T09:00:00Z,USLGB,LBCT,MSCU1234566,discharged",
    "2021-11-02T10:00:00Z,USLAX,APMT,CSQU3054383,gate_out_truck",
    "2021-11-03T11:00:00Z,USLGB,LBCT,MSCU1234566,loaded_rail",
]
PARTS = [0, 1, 2]


def _replay(path: Path, state: ResumeState, stop_after: int | None = None,
            markers: bool = True) -> _Producer:
    producer = _Producer(capacity=100)
    topics = {name: f"t.{name}" for name in (*TOPIC_OF_KIND.values(), "deadletter")}
    sender = BatchSender(producer, {t: PARTS for t in topics.values()})  # type: ignore[arg-type]
    options = ReplayOptions(stop_after=stop_after, end_of_feed=markers)
    stats = ReplayStats()

    async def run() -> None:
        done = await _run([path], [detect_format(path)], state, options, stats, sender,
                          topics, path.with_suffix(".state"), None)
        await sender.flush()
        if done and markers:
            await _end_of_feed(sender, topics, stats)

    asyncio.run(run())
    return producer


def _headers(record: tuple[object, ...]) -> set[str]:
    return {k for k, _v in record[3]}  # type: ignore[attr-defined]


def test_every_feed_partition_begins_with_a_replay_begin_marker(tmp_path: Path) -> None:
    path = tmp_path / "containers.csv"
    path.write_text("\n".join(CONTAINERS) + "\n")
    producer = _replay(path, ResumeState())
    first_ms = 1_635_753_600_000  # 2021-11-01T08:00:00Z, the first record
    for short in MARKED_TOPICS:
        for part in PARTS:
            log = producer.partition_log(f"t.{short}", part)
            assert log[0] == (None, b"", first_ms, [(REPLAY_BEGIN_HEADER, str(first_ms).encode())])
            assert _headers(log[-1]) == {END_OF_FEED_HEADER}
            assert not any(_headers(r) for r in log[1:-1])  # records in between
    records = [r for part in PARTS for r in producer.partition_log("t.containers", part)
               if r[0] is not None]
    assert len(records) == 4
    assert producer.partition_log("t.vessels", 0) == []  # no markers where no worker reads


def test_a_resumed_replay_begins_again_and_without_markers_there_are_none(
        tmp_path: Path) -> None:
    path = tmp_path / "containers.csv"
    path.write_text("\n".join(CONTAINERS) + "\n")
    state = ResumeState()
    _replay(path, state, stop_after=2)
    assert state.done  # the header and the first record are done
    resumed = _replay(path, state)
    second_ms = 1_635_757_200_000  # 2021-11-01T09:00:00Z: where the resume starts
    for part in PARTS:
        log = resumed.partition_log("t.positions", part)
        assert log[0][3] == [(REPLAY_BEGIN_HEADER, str(second_ms).encode())]
    plain = _replay(path, ResumeState(), markers=False)
    marked = {REPLAY_BEGIN_HEADER, END_OF_FEED_HEADER}
    assert not any(_headers(r) & marked for _t, _p, b in plain.sent for r in b.records)
    assert any(r[0] is not None for _t, _p, b in plain.sent for r in b.records)
