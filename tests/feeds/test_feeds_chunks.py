"""The vectorized CSV path (ChunkParser) against the per-line parser (FeedParser).

For every line, the two must agree: the same canonical bytes and keys for an
accepted line (and no note, since the fast path only takes lines without one),
the very same Rejection or Ignored (reason and message) for any other line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.feeds import (
    FeedContext,
    FeedFormat,
    FeedParser,
    Outcome,
    PositionRecord,
    TimeWindow,
    encode,
    encode_array,
    key_of,
    keys_of_array,
)
from streams.feeds.chunks import Chunk, ChunkParser
from streams.feeds.parse import DEFAULT_COLUMNS
from streams.feeds.results import RECORD_TYPES

PORTS = frozenset({"USLAX", "USLGB"})
WINDOW = TimeWindow(1_000_000_000_000, 1_700_000_000_000)  # 2001-09-09 .. 2023-11-14
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

MC_HEADER = b",".join(c.encode() for c in DEFAULT_COLUMNS[FeedFormat.AIS_MARINECADASTRE_CSV])
GOOD: dict[FeedFormat, list[bytes]] = {
    FeedFormat.AIS_MARINECADASTRE_CSV: [
        b"636021061,2023-01-11T00:00:00,26.09241,-80.04806,8.8,272.7,270.0,MSC NAISHA III,"
        b"IMO9307839,5LCB4,70,8.0,208.0,30.0,8.0,70.0,A",
        b"367752440,2023-01-11T00:00:00,43.07917,-70.75733,0.0,360.0,95.0,SAN JOSE,,WDI9818,"
        b"31,0.0,,,,52.0,A",
        b"3669999,2021-10-01T12:30:59,-0.0,-118.2,102.3,0.0,511,X,9074729,,0,15,1022,126,25.5,"
        b"255,B",
        b"366999712,2020-02-29T23:59:59,33.72,-118.21,,,,,,,,,,,,,",
        b"366999713,2021-10-01T00:00:00,90,180,102.2,359.9,359.0,A B,IMO9074729,CALL,1,1,0,0.0,"
        b"-0,0,",
    ],
    FeedFormat.CONTAINER_CSV: [
        b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,discharged",
        b"2021-11-15T08:00:00,USLGB,,MSCU1234566,gate_out_truck",
        b"2021-11-16T23:59:59Z,USLGB,LONG BEACH TERML,CSQU3054383,loaded_rail",
    ],
    FeedFormat.INVENTORY_CSV: [
        b"2021-12-01T00:00:00Z,AUS-FAB2,MCU-32,1200,300",
        b"2021-12-01T00:00:00,S,I,0.00000000000001,-0.0",
        b"2021-12-01T00:00:00Z,SITE WITH SPACES,ITEM/42,123456789012345,9.5",
    ],
}
# Spellings the per-line parser accepts (or rejects) that the fast path must hand over.
NEAR = [
    b"nan", b"inf", b"-inf", b"1e5", b"1E-3", b"1_0", b" 1", b"1 ", b"+1", b".5", b"5.", b"-",
    b"-0", b"0", b"00.10", b"1234567890123456", b"0.1234567890123456", b"91", b"181", b"90.0",
    b"-180", b"102.3", b"102.30000001", b"360", b"359.95", b"511", b"510", b"15.0", b"16", b"255",
    b"256", b"8.5", b"", b" ", b"IMO9074729", b"IMO9074728", b"imo9074729", b"IMO0000000",
    b"9074729", b"IMO", b"A", b"B", b"a", b"C", b"AB", b"X" * 21, b"X" * 20, b"ABCDEFGH",
    b" NAME", b"NAME ", b"USLAX", b"uslax", b"NLRTM", b"USLA1", b"US LAX", b"CSQU3054383",
    b"csqu3054383", b"CSQU 305438-3", b"CSQU3054384", b"discharged", b"Discharged",
    b"teleported", b"gate_out_truck ", b"2021-11-15T08:00:00Z", b"2021-11-15T08:00:00",
    b"2021-02-29T00:00:00", b"2020-02-29T00:00:00", b"2021-13-01T00:00:00", b"2021-11-15 08:00:00",
    b"2021-11-15T24:00:00", b"2021-11-15T08:00:60", b"2021-11-15T08:00:00+01:00", b"1636963200",
    b"1636963200.5", b"2999-01-01T00:00:00", b"1970-01-02T00:00:00", b"0001-01-01T00:00:00",
    b"a|b", b"|", b"S" * 33, b"I" * 48, b"I" * 49, b"\xc3\xa9", b"\xff", b'"x"', b"\x00", b"\t",
    b"\r", b"MMSI", b"time", b"3669999990", b"000000000", b"036699997",
]  # fmt: skip


def context(fmt: FeedFormat, max_bytes: int = 4096) -> FeedContext:
    return FeedContext(fmt, known_ports=PORTS, window=WINDOW, max_bytes=max_bytes)


def header(fmt: FeedFormat) -> bytes:
    return b",".join(c.encode() for c in DEFAULT_COLUMNS[fmt])


def _final(o: Outcome) -> tuple[Any, ...]:
    r = o.result
    if isinstance(r, RECORD_TYPES):
        recs: list[Any] = [r]
        if isinstance(r, PositionRecord) and r.static is not None:
            recs.append(r.static)
        notes = getattr(r, "notes", ())
        return (o.ref, "record", tuple(encode(recs)), tuple(key_of(x) for x in recs), notes)
    return (o.ref, "other", o.raw, r)


def per_line(ctx: FeedContext, lines: Sequence[bytes]) -> list[tuple[Any, ...]]:
    parser = FeedParser(ctx)
    out = [_final(o) for i, raw in enumerate(lines, 1) for o in parser.feed(raw, i)]
    return out + [_final(o) for o in parser.flush()]


def chunk_finals(chunk: Chunk) -> list[tuple[Any, ...]]:
    """Per-line view of a chunk, in the shape of :func:`per_line`."""
    out = [_final(o) for o in chunk.slow]
    refs = chunk.refs[chunk.fast].tolist()
    if refs:
        kinds = list(chunk.arrays)
        wires = [encode_array(chunk.arrays[k], k) for k in kinds]
        keys = [keys_of_array(chunk.arrays[k], k) for k in kinds]
        for j, ref in enumerate(refs):
            out.append((ref, "record", tuple(w[j] for w in wires), tuple(k[j] for k in keys), ()))
    return sorted(out, key=lambda t: t[0])


def chunked(ctx: FeedContext, lines: Sequence[bytes], size: int) -> tuple[list[Any], int]:
    """Per-line view of the chunked parse, and how many lines took the fast path."""
    parser = ChunkParser(ctx)
    out: list[Any] = []
    fast = 0
    for lo in range(0, len(lines), size):
        chunk = parser.parse_lines(lines[lo : lo + size], start=lo + 1)
        out += chunk_finals(chunk)
        fast += int(chunk.fast.sum())
    return out, fast


def assert_same(ctx: FeedContext, lines: Sequence[bytes], size: int = 7) -> int:
    expected = per_line(ctx, lines)
    got, fast = chunked(ctx, lines, size)
    assert got == expected
    return fast


CSV_FORMATS = list(GOOD)


@pytest.mark.parametrize("fmt", CSV_FORMATS)
def test_good_lines_take_the_fast_path_with_identical_bytes(fmt: FeedFormat) -> None:
    lines = [header(fmt), *GOOD[fmt]]
    assert assert_same(context(fmt), lines) == len(GOOD[fmt])


@pytest.mark.parametrize("fmt", CSV_FORMATS)
def test_every_field_replaced_by_a_near_valid_spelling(fmt: FeedFormat) -> None:
    """Exhaustive over fields and spellings: each variant agrees line for line."""
    lines = [header(fmt)]
    for good in GOOD[fmt]:
        fields = good.split(b",")
        for i in range(len(fields)):
            for spelling in NEAR:
                lines.append(b",".join([*fields[:i], spelling, *fields[i + 1 :]]))
    fast = assert_same(context(fmt), lines, size=501)
    assert 0 < fast < len(lines)


def test_short_and_long_rows_headers_and_blank_lines() -> None:
    fmt = FeedFormat.AIS_MARINECADASTRE_CSV
    row = GOOD[fmt][0]
    lines = [b"", MC_HEADER, row, row.rsplit(b",", 1)[0], row + b",x", b"", MC_HEADER, b"  ",
             row + b"\r", row[:4000] + b"," * 20, row]  # fmt: skip
    assert assert_same(context(fmt), lines, size=3) == 2
    assert assert_same(context(fmt, max_bytes=60), lines, size=4) == 0


def test_header_without_the_class_column_and_other_layouts() -> None:
    fmt = FeedFormat.AIS_MARINECADASTRE_CSV
    short_header = MC_HEADER.rsplit(b",", 1)[0]
    rows = [g.rsplit(b",", 1)[0] for g in GOOD[fmt]]
    assert assert_same(context(fmt), [short_header, *rows]) == len(rows)
    # columns in another order, or a header lacking a required column: all per line
    reordered = b"BaseDateTime,MMSI" + MC_HEADER[len(b"MMSI,BaseDateTime") :]
    assert assert_same(context(fmt), [reordered, *GOOD[fmt]]) == 0
    assert assert_same(context(fmt), [b"MMSI,LAT,LON", *GOOD[fmt]]) == 0


def test_formats_without_a_fast_path_go_line_by_line() -> None:
    fmt = FeedFormat.INVENTORY_JSONL
    lines = [b'{"time": 1638316800, "site": "S", "item": "I", "on_hand": 1, "daily_usage": 2}',
             b"{", b""]  # fmt: skip
    assert assert_same(context(fmt), lines) == 0


def test_real_marinecadastre_sample_agrees() -> None:
    path = SHARED / "ais-noaa-sample" / "test_data_noaa_20230101.csv"
    if not path.exists():
        pytest.skip("shared data not present")
    lines = path.read_bytes().splitlines()
    fast = assert_same(context(FeedFormat.AIS_MARINECADASTRE_CSV), lines, size=97)
    assert fast > 0.9 * (len(lines) - 1)


def test_buffer_form_strips_carriage_returns_like_the_replay() -> None:
    fmt = FeedFormat.INVENTORY_CSV
    text = header(fmt) + b"\r\n" + GOOD[fmt][0] + b"\r\n" + GOOD[fmt][1] + b"\n"
    ends = np.flatnonzero(np.frombuffer(text, np.uint8) == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    chunk = ChunkParser(context(fmt)).parse_buffer(text, starts, ends, strip_cr=True)
    lines = [raw.rstrip(b"\r") for raw in text.split(b"\n")[:-1]]
    assert chunk_finals(chunk) == per_line(context(fmt), lines)
    assert chunk.fast.tolist() == [False, False, True]


@st.composite
def near_valid(draw: st.DrawFn, fmt: FeedFormat) -> bytes:
    fields = draw(st.sampled_from(GOOD[fmt])).split(b",")
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(fields) - 1))
        op = draw(st.sampled_from(["near", "flip", "cut", "number"]))
        if op == "near":
            fields[i] = draw(st.sampled_from(NEAR))
        elif op == "flip" and fields[i]:
            pos = draw(st.integers(0, len(fields[i]) - 1))
            fields[i] = fields[i][:pos] + bytes([draw(st.integers(0x20, 0x7E))]) + fields[i][
                pos + 1 :
            ]
        elif op == "cut":
            fields[i] = fields[i][: draw(st.integers(0, len(fields[i])))]
        else:
            fields[i] = draw(
                st.from_regex(rb"\A-?[0-9]{1,9}(\.[0-9]{0,9})?\Z", fullmatch=True)
            )
    return b",".join(fields)


def _lines(fmt: FeedFormat) -> st.SearchStrategy[list[bytes]]:
    one = st.one_of(
        st.sampled_from(GOOD[fmt]), near_valid(fmt), st.binary(max_size=80),
        st.just(header(fmt)),
    )  # fmt: skip
    return st.lists(one, min_size=0, max_size=40)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("fmt", CSV_FORMATS)
def test_random_mixes_agree_line_for_line(fmt: FeedFormat) -> None:
    @PROPERTY
    @given(_lines(fmt), st.integers(1, 16), st.booleans())
    def run(lines: list[bytes], size: int, with_header: bool) -> None:
        stream = [header(fmt), *lines] if with_header else lines
        assert_same(context(fmt), stream, size)

    run()


@PROPERTY
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=50),
       st.integers(0, 9))  # fmt: skip
def test_decimals_are_exactly_float(values: list[float], decimals: int) -> None:
    """Numbers written with any precision parse to exactly ``float(text)``."""
    from streams.feeds.chunks import _decimal

    texts = [f"{v:.{decimals}f}".encode() for v in values]
    texts = [t for t in texts if len(t) <= 17]
    width = 17
    m = np.zeros((len(texts), width), dtype=np.uint8)
    for i, t in enumerate(texts):
        m[i, : len(t)] = np.frombuffer(t, np.uint8)
    lens = np.array([len(t) for t in texts], dtype=np.int64)
    value, ok, _ = _decimal(np.ascontiguousarray(m.T), lens, lens <= width)
    for t, v, good in zip(texts, value.tolist(), ok.tolist(), strict=True):
        digits = sum(ch.isdigit() for ch in t.decode())
        assert good == (digits <= 15)
        if good:
            assert np.float64(v).tobytes() == np.float64(float(t)).tobytes(), t


@PROPERTY
@given(st.lists(st.datetimes(), min_size=1, max_size=40), st.booleans())
def test_times_are_exactly_parse_time(times: list[Any], zulu: bool) -> None:
    """Any date from year 1 to 9999 (leap days included) gives parse_time's milliseconds."""
    from streams.feeds.chunks import _iso_time
    from streams.feeds.times import parse_time

    texts = [f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:"
             f"{t.second:02d}" + ("Z" if zulu else "") for t in times]  # fmt: skip
    width = 20
    m = np.zeros((width, len(texts)), dtype=np.uint8)
    for i, t in enumerate(texts):
        m[: len(t), i] = np.frombuffer(t.encode(), np.uint8)
    lens = np.array([len(t) for t in texts], dtype=np.int64)
    ms, ok = _iso_time(m, lens, lens <= width)
    for t, value, good in zip(texts, ms.tolist(), ok.tolist(), strict=True):
        assert good, t
        assert value == parse_time(t), t
