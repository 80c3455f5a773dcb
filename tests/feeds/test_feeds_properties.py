"""Property tests: random bytes and near-valid lines never make a parser raise, every line
gets exactly one final outcome, and every record a parser accepts passes the vectorized
validation of the canonical codec."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.feeds import (
    FeedContext,
    FeedFormat,
    FeedParser,
    Fragment,
    Ignored,
    Outcome,
    PositionRecord,
    Rejection,
    decode_batch,
    encode,
    validate_batch,
    validate_line,
)
from streams.feeds.codec import kind_of
from streams.feeds.results import RECORD_TYPES
from tests.feeds.feeds_helpers import (
    EVER_GIVEN,
    POSITION_FIELDS,
    T0_MS,
    sentences,
    tag_block,
    with_time,
)

PORTS = frozenset({"USLAX", "USLGB"})
TYPE5 = sentences(seq_id=1, **EVER_GIVEN)
VALID: dict[FeedFormat, list[bytes]] = {
    FeedFormat.AIS_NMEA: [
        b"1452468552.938 !AIVDM,1,1,,B,14Wtnn002SGLde:BbrBmdTLF0Vql,0*6E",
        b"1452468553.005 !ABVDM,1,1,,B,403OthQv0EGM<oV9DFC5hdg020S:,0*6A",
        with_time(sentences(**POSITION_FIELDS)[0]),
        tag_block("s:rx1,c:1452468560") + sentences(**{**POSITION_FIELDS, "type": 18})[0],
        with_time(TYPE5[0]),
        with_time(TYPE5[1]),
        sentences(type=24, partno=0, mmsi=338123456, shipname="PILOT 3")[0],
    ],
    FeedFormat.AIS_MARINECADASTRE_CSV: [
        b"636021061,2023-01-11T00:00:00,26.09241,-80.04806,8.8,272.7,270.0,MSC NAISHA III,"
        b"IMO9307839,5LCB4,70,8.0,208.0,30.0,8.0,70.0,A",
        b"367752440,2023-01-11T00:00:00,43.07917,-70.75733,0.0,360.0,95.0,SAN JOSE,,WDI9818,"
        b"31,0.0,,,,52.0,A",
    ],
    FeedFormat.CONTAINER_CSV: [
        b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,discharged",
        b"1636963200,USLGB,LBCT,CSQU3054383,gate_out_truck",
    ],
    FeedFormat.CONTAINER_JSONL: [
        json.dumps(
            {
                "time": "2021-11-15T08:00:00Z",
                "port": "USLAX",
                "terminal": "APMT",
                "container": "CSQU3054383",
                "event": "loaded_rail",
            }
        ).encode(),
    ],
    FeedFormat.INVENTORY_CSV: [b"2021-12-01T00:00:00Z,AUS-FAB2,MCU-32,1200,300"],
    FeedFormat.INVENTORY_JSONL: [
        json.dumps(
            {
                "time": 1638316800,
                "site": "AUS-FAB2",
                "item": "MCU-32",
                "on_hand": 1200.5,
                "daily_usage": 300,
            }
        ).encode(),
    ],
}
FINAL = (*RECORD_TYPES, Rejection, Ignored)
NASTY = [
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"1e999",
    b"-1",
    b"9" * 40,
    b"",
    b",",
    b'"',
    b"*",
    b"\\",
    b"!",
    b"\x00",
    b"\xff",
    b"91",
    b"181",
    b"-0",
    b"1e-400",
    b"{",
    b"}",
    b"null",
]


def context(fmt: FeedFormat) -> FeedContext:
    return FeedContext(fmt, known_ports=PORTS, fallback_time_ms=T0_MS, max_bytes=512)


@st.composite
def mutated(draw: st.DrawFn, fmt: FeedFormat) -> bytes:
    line = bytearray(draw(st.sampled_from(VALID[fmt])))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "replace_field"]))
        pos = draw(st.integers(0, max(len(line) - 1, 0)))
        if op == "flip" and line:
            line[pos] = draw(st.integers(0x20, 0x7E))
        elif op == "truncate":
            del line[pos:]
        elif op == "insert":
            line[pos:pos] = draw(st.sampled_from(NASTY))
        elif op == "delete" and line:
            del line[pos]
        else:
            parts = bytes(line).split(b",")
            i = draw(st.integers(0, len(parts) - 1))
            parts[i] = draw(st.sampled_from(NASTY))
            line = bytearray(b",".join(parts))
    return bytes(line)


def lines_for(fmt: FeedFormat) -> st.SearchStrategy[list[bytes]]:
    one = st.one_of(st.binary(max_size=120), mutated(fmt), st.sampled_from(VALID[fmt]))
    return st.lists(one, min_size=1, max_size=12)


def check_stream(fmt: FeedFormat, lines: list[bytes]) -> list[Outcome]:
    parser = FeedParser(context(fmt), max_pending=4)
    outcomes: list[Outcome] = []
    for i, raw in enumerate(lines):
        outcomes += parser.feed(raw, i)
    outcomes += parser.flush()
    final: list[object] = []
    for o in outcomes:
        assert isinstance(o.result, (*FINAL, Fragment)), o
        if isinstance(o.result, Fragment):
            continue
        final += list(o.parts) if o.parts else [o.ref]
        if isinstance(o.result, Rejection):
            assert o.result.message and o.raw == lines[o.ref]  # type: ignore[index]
    # every line has exactly one final outcome
    assert sorted(final) == list(range(len(lines)))  # type: ignore[type-var]
    return outcomes


def check_records_pass_batch_validation(outcomes: list[Outcome]) -> None:
    records = [o.result for o in outcomes if isinstance(o.result, RECORD_TYPES)]
    records += [r.static for r in records if isinstance(r, PositionRecord) and r.static]
    for rec in records:
        kind = kind_of(rec)  # type: ignore[arg-type]
        batch = decode_batch(encode([rec]), kind)  # type: ignore[list-item]
        assert batch.rejections == []
        checked = validate_batch(batch.records, kind, known_ports=PORTS)
        assert checked.ok.all(), (rec, checked.reasons)
        assert int(batch.records["ts_ms"][0]) == rec.ts_ms  # type: ignore[union-attr]


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _stream_test(fmt: FeedFormat) -> None:
    @FUZZ
    @given(lines_for(fmt))
    def run(lines: list[bytes]) -> None:
        prefix = [] if not fmt.is_csv else [",".join(_header(fmt)).encode()]
        outcomes = check_stream(fmt, prefix + lines)
        check_records_pass_batch_validation(outcomes)

    run()


def _header(fmt: FeedFormat) -> tuple[str, ...]:
    from streams.feeds.parse import DEFAULT_COLUMNS

    return DEFAULT_COLUMNS[fmt]


def test_fuzz_ais_nmea_stream() -> None:
    _stream_test(FeedFormat.AIS_NMEA)


def test_fuzz_marinecadastre_stream() -> None:
    _stream_test(FeedFormat.AIS_MARINECADASTRE_CSV)


def test_fuzz_container_csv_stream() -> None:
    _stream_test(FeedFormat.CONTAINER_CSV)


def test_fuzz_container_jsonl_stream() -> None:
    _stream_test(FeedFormat.CONTAINER_JSONL)


def test_fuzz_inventory_csv_stream() -> None:
    _stream_test(FeedFormat.INVENTORY_CSV)


def test_fuzz_inventory_jsonl_stream() -> None:
    _stream_test(FeedFormat.INVENTORY_JSONL)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(FeedFormat)), st.binary(max_size=300))
def test_validate_line_never_raises_on_random_bytes(fmt: FeedFormat, raw: bytes) -> None:
    result = validate_line(raw, context(fmt))
    assert isinstance(result, (*FINAL, Fragment))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_valid_lines_give_a_record_or_a_reason(data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(list(FeedFormat)))
    raw = data.draw(mutated(fmt))
    result = validate_line(raw, context(fmt))
    assert isinstance(result, (*FINAL, Fragment))
    if isinstance(result, Rejection):
        assert result.reason.value and result.message


def test_every_single_character_change_is_caught() -> None:
    """Exhaustive: changing any one character of a sentence (after the time prefix) to
    any printable character never yields a different record: the checksum, the payload
    armour or the parser catches it (or the change does not alter the record, e.g. the
    radio channel or the case of the checksum's hex digits)."""
    ctx = context(FeedFormat.AIS_NMEA)
    for line in VALID[FeedFormat.AIS_NMEA][:4]:
        original = validate_line(line, ctx)
        assert isinstance(original, (PositionRecord, Ignored))
        for pos in range(line.index(b"!"), len(line)):
            for char in range(0x20, 0x7F):
                if line[pos] == char:
                    continue
                changed = line[:pos] + bytes([char]) + line[pos + 1 :]
                result = validate_line(changed, ctx)
                assert isinstance(result, Rejection) or result == original, (changed, result)
