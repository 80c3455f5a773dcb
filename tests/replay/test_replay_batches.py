"""The replay's batched pieces against their one-item-at-a-time definitions (no broker):
the event-time merge of segments, the static-change memory, and the segments of a file
(vectorized path plus per-line outcomes) against the per-line parser."""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.feeds.files as files_mod
from streams.feeds import FeedContext, FeedFormat, FeedParser, Fragment, Kind, TimeWindow
from streams.feeds.codec import VESSEL_STATIC_DTYPE, encode_array
from streams.replay import Segment, StaticMemory
from streams.replay.segments import file_segments, merged_runs
from tests.feeds.test_feeds_chunks import GOOD, NEAR, header


def _segment(file_index: int, ts: list[int], first_line: int) -> Segment:
    n = len(ts)
    return Segment(file_index, np.array(ts, dtype=np.int64),
                   np.arange(first_line, first_line + n, dtype=np.int64),
                   np.full(n, -1, dtype=np.int64), np.ones(n, dtype=bool), [None] * n)


files_st = st.lists(
    st.lists(st.lists(st.integers(0, 6), min_size=0, max_size=6), min_size=0, max_size=4),
    min_size=1, max_size=4,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(files_st)
def test_merged_runs_give_heapq_merge_order(files: list[list[list[int]]]) -> None:
    """Unsorted event times and ties included: the same order as heapq.merge."""
    items = []
    for f, segs in enumerate(files):
        line = 1
        stream = []
        for ts in segs:
            stream += [(t, f, line + i) for i, t in enumerate(ts)]
            line += len(ts)
        items.append(stream)
    expected = list(heapq.merge(*items, key=lambda it: (it[0], it[1], it[2])))

    def stream_of(f: int, segs: list[list[int]]) -> list[Segment]:
        out, line = [], 1
        for ts in segs:
            if ts:  # the replay never yields an empty segment
                out.append(_segment(f, ts, line))
            line += len(ts)
        return out

    got = []
    for seg, a, b in merged_runs([iter(stream_of(f, s)) for f, s in enumerate(files)]):
        assert a < b
        got += [(int(seg.ts[i]), seg.file_index, int(seg.lines[i])) for i in range(a, b)]
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 2)), max_size=60),
       st.integers(1, 20), st.booleans())  # fmt: skip
def test_static_memory_matches_one_by_one(rows: list[tuple[int, int]], cut: int,
                                          resumed: bool) -> None:
    """Vectorized change detection over chunks == sent_one record by record."""
    arr = np.zeros(len(rows), dtype=VESSEL_STATIC_DTYPE)
    arr["mmsi"] = [m for m, _ in rows]
    arr["draft"] = [float(d) for _, d in rows]
    arr["ts_ms"] = np.arange(len(rows))  # the time is not part of "changed"
    wires = encode_array(arr, Kind.VESSEL_STATIC)
    start: dict[int, str] = {}
    if resumed and wires:  # a digest from a previous run, as --resume loads it
        StaticMemory(start).sent_one(int(arr["mmsi"][0]), wires[0])
    one = StaticMemory(dict(start))
    expected = [one.sent_one(int(m), w) for m, w in zip(arr["mmsi"], wires, strict=True)]
    many = StaticMemory(dict(start))
    got: list[bool] = []
    for lo in range(0, len(rows), cut):
        got += many.changes(arr["mmsi"][lo : lo + cut], wires[lo : lo + cut]).tolist()
    assert got == expected
    assert many.digests == one.digests


def test_segments_of_a_file_match_the_per_line_parser(tmp_path: Path) -> None:
    fmt = FeedFormat.AIS_MARINECADASTRE_CSV
    good = GOOD[fmt]
    lines = [header(fmt)]
    for i in range(3000):
        row = good[i % len(good)]
        if i % 7 == 3:
            fields = row.split(b",")
            fields[i % len(fields)] = NEAR[i % len(NEAR)]
            row = b",".join(fields)
        lines.append(row)
    path = tmp_path / "rows.csv"
    # some lines end with CR LF (the per-line parser's business), the rest with LF
    path.write_bytes(b"".join(x + (b"\r\n" if i % 50 == 0 else b"\n")
                              for i, x in enumerate(lines)))
    ctx = FeedContext(fmt, window=TimeWindow(0, 2_000_000_000_000))
    old = files_mod.BLOCK_BYTES
    files_mod.BLOCK_BYTES = 4096  # many blocks, lines cut across block ends
    try:
        segs = list(file_segments(path, 0, ctx, 10, [0]))
    finally:
        files_mod.BLOCK_BYTES = old
    parser = FeedParser(ctx)
    expected = []
    for number, raw in enumerate(lines, 1):
        for out in parser.feed(raw, number):
            if number > 10 and not isinstance(out.result, Fragment):
                expected.append((number, type(out.result).__name__))
    got = []
    fast = 0
    for seg in segs:
        for i in range(len(seg)):
            item = seg.outcomes[i]
            if seg.row[i] >= 0:
                fast += 1
                got.append((int(seg.lines[i]), "PositionRecord"))
            else:
                assert item is not None
                got.append((int(seg.lines[i]), type(item.result).__name__))
    assert got == expected
    assert fast > 2000
