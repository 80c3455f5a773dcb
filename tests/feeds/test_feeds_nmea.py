"""AIS NMEA parser: line forms, message types, multipart assembly, every rejection."""

from __future__ import annotations

import math

import pytest

from streams.feeds import (
    AisClass,
    AisNmeaParser,
    FeedContext,
    FeedFormat,
    FeedParser,
    Fragment,
    Ignored,
    PositionRecord,
    Reason,
    Rejection,
    TimeWindow,
    VesselStaticRecord,
    validate_line,
)
from streams.feeds.results import ParseResult
from tests.feeds.feeds_helpers import (
    EVER_GIVEN,
    POSITION_FIELDS,
    T0_MS,
    T0_S,
    sentences,
    tag_block,
    with_time,
)

# First line of the San Pedro Bay capture (ais-socal-nmea/sample.ais).
SOCAL_LINE = b"1452468552.938 !AIVDM,1,1,,B,14Wtnn002SGLde:BbrBmdTLF0Vql,0*6E"


def one(line: bytes, **kwargs: object) -> ParseResult:
    outcomes = AisNmeaParser(**kwargs).feed(line, ref="x")  # type: ignore[arg-type]
    assert len(outcomes) == 1
    assert outcomes[0].ref == "x" and outcomes[0].raw == line
    return outcomes[0].result


def position_line(**overrides: object) -> bytes:
    (sentence,) = sentences(**{**POSITION_FIELDS, **overrides})
    return with_time(sentence)


def test_socal_line_with_epoch_prefix() -> None:
    rec = one(SOCAL_LINE)
    assert isinstance(rec, PositionRecord)
    assert rec.ts_ms == T0_MS
    assert rec.msg_type == 1 and rec.ais_class is AisClass.A
    # inside the capture's range given in its PROVENANCE (32.0-34.6 N), off Southern California
    assert 32.0 <= rec.lat <= 34.6 and -121.0 < rec.lon < -117.0


def test_position_fields_round_trip_through_encoder() -> None:
    rec = one(position_line())
    assert isinstance(rec, PositionRecord)
    assert rec.mmsi == 366999712
    assert rec.lat == pytest.approx(33.72) and rec.lon == pytest.approx(-118.21)
    assert rec.sog == pytest.approx(0.1) and rec.cog == pytest.approx(127.5)
    assert rec.heading == 130 and rec.nav_status == 1


@pytest.mark.parametrize("msg_type", [1, 2, 3, 18, 19])
def test_every_position_type_gives_a_position(msg_type: int) -> None:
    fields = {**POSITION_FIELDS, "type": msg_type}
    if msg_type == 19:
        fields.update(shipname="SEA STAR", ship_type=70, to_bow=10, to_stern=20)
    rec = one(position_line(**fields))
    assert isinstance(rec, PositionRecord) and rec.msg_type == msg_type
    expected_class = AisClass.A if msg_type <= 3 else AisClass.B
    assert rec.ais_class is expected_class
    if msg_type >= 18:
        assert rec.nav_status == 15  # class B reports carry no status
    if msg_type == 19:
        assert rec.static is not None and rec.static.name == "SEA STAR"
        assert rec.ship_type == 70 and rec.static.length == 30.0


def test_not_available_motion_values_become_unknown() -> None:
    rec = one(position_line(speed=102.3, course=360.0, heading=511, status=15))
    assert isinstance(rec, PositionRecord)
    assert math.isnan(rec.sog) and math.isnan(rec.cog)
    assert rec.heading == 511 and rec.nav_status == 15


def test_tag_block_time_and_talkers() -> None:
    (sentence,) = sentences(talker="AB", **POSITION_FIELDS)
    line = tag_block("s:rx1,c:1452468560") + sentence
    rec = one(line)
    assert isinstance(rec, PositionRecord) and rec.ts_ms == 1452468560000


def test_tag_block_time_in_milliseconds() -> None:
    (sentence,) = sentences(**POSITION_FIELDS)
    rec = one(tag_block("c:1452468560123") + sentence)
    assert isinstance(rec, PositionRecord) and rec.ts_ms == 1452468560123


def test_aivdo_own_vessel_sentence_is_parsed() -> None:
    (sentence,) = sentences(**POSITION_FIELDS)
    vdo = sentence.replace(b"!AIVDM", b"!AIVDO")
    body = vdo[1 : vdo.index(b"*")]
    check = 0
    for b in body:
        check ^= b
    vdo = vdo[: vdo.index(b"*") + 1] + f"{check:02X}".encode()
    assert isinstance(one(with_time(vdo)), PositionRecord)


def test_bare_sentence_uses_fallback_time() -> None:
    (sentence,) = sentences(**POSITION_FIELDS)
    rec = one(sentence, fallback_time_ms=1_700_000_000_000)
    assert isinstance(rec, PositionRecord) and rec.ts_ms == 1_700_000_000_000
    # a per-call fallback wins over the parser's
    parser = AisNmeaParser(fallback_time_ms=1)
    (out,) = parser.feed(sentence, fallback_time_ms=5)
    assert isinstance(out.result, PositionRecord) and out.result.ts_ms == 5


def test_bare_sentence_without_time_is_rejected() -> None:
    (sentence,) = sentences(**POSITION_FIELDS)
    rec = one(sentence)
    assert isinstance(rec, Rejection) and rec.reason is Reason.MISSING_TIME


def test_type5_static_record() -> None:
    parts = sentences(seq_id=3, **EVER_GIVEN, to_port=30, to_starboard=29, destination="USLAX")
    assert len(parts) == 2
    parser = AisNmeaParser()
    (first,) = parser.feed(with_time(parts[0]), ref=1)
    assert isinstance(first.result, Fragment) and (first.result.part, first.result.of) == (1, 2)
    (done,) = parser.feed(with_time(parts[1], T0_S + 0.01), ref=2)
    rec = done.result
    assert isinstance(rec, VesselStaticRecord)
    assert done.parts == (1, 2) and done.ref == 2
    assert (rec.mmsi, rec.imo, rec.name, rec.callsign) == (
        353136000,
        9074729,
        "EVER GIVEN",
        "3FOF8",
    )
    assert (rec.ship_type, rec.length, rec.width, rec.draft) == (71, 400.0, 59.0, 14.5)
    assert rec.destination == "USLAX" and rec.ts_ms == T0_MS
    assert parser.pending == 0


def test_type5_with_bad_imo_keeps_record_and_drops_imo() -> None:
    parts = sentences(seq_id=1, type=5, mmsi=353136000, imo=9074728, shipname="X")
    parser = AisNmeaParser()
    parser.feed(with_time(parts[0]))
    (done,) = parser.feed(with_time(parts[1]))
    rec = done.result
    assert isinstance(rec, VesselStaticRecord) and rec.imo == 0
    assert [n.reason for n in rec.notes] == [Reason.BAD_IMO]


def test_multipart_fragments_out_of_order_assemble() -> None:
    parts = sentences(seq_id=4, type=5, mmsi=353136000, shipname="REVERSED")
    parser = AisNmeaParser()
    assert isinstance(parser.feed(with_time(parts[1]), ref="b")[0].result, Fragment)
    (done,) = parser.feed(with_time(parts[0]), ref="a")
    assert isinstance(done.result, VesselStaticRecord) and done.result.name == "REVERSED"
    assert done.parts == ("a", "b")


def test_type24_parts_a_and_b() -> None:
    (a,) = sentences(type=24, partno=0, mmsi=338123456, shipname="PILOT 3")
    (b,) = sentences(
        type=24, partno=1, mmsi=338123456, ship_type=50, callsign="WDA1234",
        to_bow=5, to_stern=10, to_port=2, to_starboard=2,
    )  # fmt: skip
    ra, rb = one(with_time(a)), one(with_time(b))
    assert isinstance(ra, VesselStaticRecord) and (ra.part, ra.name) == ("A", "PILOT 3")
    assert isinstance(rb, VesselStaticRecord) and rb.part == "B"
    assert (rb.ship_type, rb.callsign, rb.length, rb.width) == (50, "WDA1234", 15.0, 4.0)


@pytest.mark.parametrize(
    ("fields", "msg_type"),
    [
        ({"type": 4, "mmsi": 3669702, "year": 2016, "lat": 33.7, "lon": -118.2}, 4),
        ({"type": 21, "mmsi": 993692001, "name": "LA LIGHT", "lat": 33.7, "lon": -118.2}, 21),
    ],
)
def test_other_types_are_ignored_with_their_type(fields: dict[str, object], msg_type: int) -> None:
    (sentence,) = sentences(**fields)[-1:]
    res = one(with_time(sentence)) if len(sentences(**fields)) == 1 else None
    if res is None:  # type 21 with a long name is multipart
        parser = AisNmeaParser()
        outs = [o for s in sentences(**fields) for o in parser.feed(with_time(s))]
        res = outs[-1].result
    assert isinstance(res, Ignored)
    assert res.kind == "ais_message_type" and res.msg_type == msg_type
    assert res.mmsi == fields["mmsi"]
    assert str(msg_type) in res.detail


# --- one test per rejection reason -------------------------------------------------


def test_bad_checksum() -> None:
    line = SOCAL_LINE[:-2] + b"6F"
    res = one(line)
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_CHECKSUM


def test_payload_change_breaks_checksum() -> None:
    line = SOCAL_LINE.replace(b"14Wtnn", b"14Wtno")
    res = one(line)
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_CHECKSUM


def test_missing_checksum() -> None:
    res = one(SOCAL_LINE[: SOCAL_LINE.index(b"*")])
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_CHECKSUM


def test_bad_tag_block_checksum() -> None:
    (sentence,) = sentences(**POSITION_FIELDS)
    res = one(b"\\c:1452468560*00\\" + sentence)
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_CHECKSUM


@pytest.mark.parametrize(
    "line",
    [
        b"1452468552.938 hello world",
        b"!AIVDM,1,1,,B,,0*25",  # empty payload, as in the Greek sample
        b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
        b"1452468552.938",
        b"\\c:1452468560*0B",
    ],
)
def test_undecodable(line: bytes) -> None:
    res = one(line, fallback_time_ms=0)
    assert isinstance(res, Rejection) and res.reason is Reason.UNDECODABLE_NMEA


def test_truncated_payload_is_undecodable() -> None:
    # A type 1 message cut to 13 characters (78 bits) with a correct checksum.
    body = b"AIVDM,1,1,,B,14Wtnn002SGLd,0"
    check = 0
    for b in body:
        check ^= b
    res = one(b"!" + body + f"*{check:02X}".encode(), fallback_time_ms=0)
    assert isinstance(res, Rejection) and res.reason is Reason.UNDECODABLE_NMEA
    assert "bits" in res.message


def test_wrong_typed_time_prefix() -> None:
    res = one(b"1452468552.9x8 " + SOCAL_LINE.split(b" ")[1])
    assert isinstance(res, Rejection) and res.reason is Reason.WRONG_TYPE


def test_non_finite_time_prefix() -> None:
    res = one(b"1e999 " + SOCAL_LINE.split(b" ")[1])
    assert isinstance(res, Rejection) and res.reason is Reason.NON_FINITE


def test_missing_position_91_181() -> None:
    res = one(position_line(lat=91.0, lon=181.0))
    assert isinstance(res, Rejection) and res.reason is Reason.MISSING_POSITION


def test_impossible_position() -> None:
    res = one(position_line(lat=95.0))
    assert isinstance(res, Rejection) and res.reason is Reason.IMPOSSIBLE_POSITION


def test_heading_out_of_range() -> None:
    res = one(position_line(heading=400))
    assert isinstance(res, Rejection) and res.reason is Reason.OUT_OF_RANGE


def test_bad_mmsi() -> None:
    res = one(position_line(mmsi=0))
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_MMSI


def test_oversized_line() -> None:
    res = one(SOCAL_LINE + b" " * 100, max_bytes=82)
    assert isinstance(res, Rejection) and res.reason is Reason.OVERSIZED_RECORD


def test_non_ascii_bytes() -> None:
    res = one(SOCAL_LINE.replace(b"14W", b"1\xc3\xa9"))
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_ENCODING


def test_time_window() -> None:
    window = TimeWindow.around(T0_MS, past_s=60, future_s=5)
    assert isinstance(one(SOCAL_LINE, window=window), PositionRecord)
    late = one(with_time(SOCAL_LINE.split(b" ")[1], T0_S + 10), window=window)
    early = one(with_time(SOCAL_LINE.split(b" ")[1], T0_S - 120), window=window)
    assert isinstance(late, Rejection) and late.reason is Reason.TIME_IN_FUTURE
    assert isinstance(early, Rejection) and early.reason is Reason.TIME_TOO_OLD


def test_incomplete_multipart_on_flush() -> None:
    parts = sentences(seq_id=2, type=5, mmsi=353136000, shipname="HALF")
    parser = AisNmeaParser()
    assert isinstance(parser.feed(with_time(parts[0]), ref=10)[0].result, Fragment)
    (out,) = parser.flush()
    assert out.ref == 10 and out.raw == with_time(parts[0])
    assert isinstance(out.result, Rejection) and out.result.reason is Reason.INCOMPLETE_MULTIPART
    assert parser.pending == 0


def test_incomplete_multipart_superseded_by_same_sequence_id() -> None:
    first = sentences(seq_id=2, type=5, mmsi=353136000, shipname="FIRST")
    second = sentences(seq_id=2, type=5, mmsi=353136001, shipname="SECOND")
    parser = AisNmeaParser()
    parser.feed(with_time(first[0]), ref=1)
    evicted, fragment = parser.feed(with_time(second[0]), ref=2)
    assert evicted.ref == 1 and isinstance(evicted.result, Rejection)
    assert evicted.result.reason is Reason.INCOMPLETE_MULTIPART
    assert isinstance(fragment.result, Fragment)
    (done,) = parser.feed(with_time(second[1]), ref=3)
    assert isinstance(done.result, VesselStaticRecord) and done.result.name == "SECOND"


def test_multipart_buffer_is_bounded() -> None:
    parser = AisNmeaParser(max_pending=3)
    evicted = []
    for seq in range(5):
        first = sentences(seq_id=seq, type=5, mmsi=353136000 + seq, shipname="S")[0]
        evicted += [
            o for o in parser.feed(with_time(first), ref=seq) if isinstance(o.result, Rejection)
        ]
    assert parser.pending == 3
    assert [o.ref for o in evicted] == [0, 1]  # oldest first
    assert all(o.result.reason is Reason.INCOMPLETE_MULTIPART for o in evicted)  # type: ignore[union-attr]


def test_multipart_expires_by_age() -> None:
    parser = AisNmeaParser(max_age_ms=1000)
    first = sentences(seq_id=7, type=5, mmsi=353136000, shipname="OLD")[0]
    parser.feed(with_time(first), ref="old")
    outs = parser.feed(with_time(SOCAL_LINE.split(b" ")[1], T0_S + 5), ref="new")
    assert [o.ref for o in outs] == ["old", "new"]
    assert isinstance(outs[0].result, Rejection)
    assert outs[0].result.reason is Reason.INCOMPLETE_MULTIPART


def test_validate_line_nmea_context() -> None:
    ctx = FeedContext(FeedFormat.AIS_NMEA, fallback_time_ms=T0_MS)
    (sentence,) = sentences(**POSITION_FIELDS)
    rec = validate_line(sentence, ctx)
    assert isinstance(rec, PositionRecord) and rec.ts_ms == T0_MS


def _checksummed(body: bytes) -> bytes:
    check = 0
    for b in body:
        check ^= b
    return b"!" + body + f"*{check:02X}".encode()


@pytest.mark.parametrize("first_char", [b"0", b"w"])  # message types 0 and 63 do not exist
def test_nonexistent_message_type_is_undecodable(first_char: bytes) -> None:
    line = _checksummed(b"AIVDM,1,1,,A," + first_char + b"3P;Tw0tjBQO22:E7dm66DrB20UP,0")
    res = one(line, fallback_time_ms=0)
    assert isinstance(res, Rejection) and res.reason is Reason.UNDECODABLE_NMEA
    assert "does not exist" in res.message


def test_type5_destination_is_kept() -> None:
    parts = sentences(
        seq_id=5, type=5, mmsi=353136000, shipname="A", destination="LONG BEACH CA USA"
    )
    parser = AisNmeaParser()
    parser.feed(with_time(parts[0]))
    (done,) = parser.feed(with_time(parts[1]))
    assert isinstance(done.result, VesselStaticRecord)
    assert done.result.destination == "LONG BEACH CA USA" and done.result.notes == ()


def test_star_inside_payload_is_caught() -> None:
    # Found by the property test: a '*' replacing payload character 31 of the first
    # San Pedro Bay line makes the XOR up to the first '*' equal the sentence's
    # checksum; the checksum covers everything up to the last '*', and '*' is not
    # an AIS payload character anyway.
    changed = SOCAL_LINE[:46] + b"*" + SOCAL_LINE[47:]
    res = one(changed)
    assert isinstance(res, Rejection) and res.reason is Reason.BAD_CHECKSUM


def test_payload_character_outside_the_armour() -> None:
    res = one(_checksummed(b"AIVDM,1,1,,A,14Wtnn002SGLde:BbrBmdTLF0V{l,0"), fallback_time_ms=0)
    assert isinstance(res, Rejection) and res.reason is Reason.UNDECODABLE_NMEA
    assert "armour" in res.message


def test_pending_refs_tell_the_consumer_what_not_to_commit() -> None:
    parser = FeedParser(FeedContext(FeedFormat.AIS_NMEA))
    parts = sentences(seq_id=6, type=5, mmsi=353136000, shipname="WAIT")
    parser.feed(with_time(parts[0]), ref=100)
    parser.feed(SOCAL_LINE, ref=101)
    assert parser.pending_refs() == [100]
    parser.feed(with_time(parts[1]), ref=102)
    assert parser.pending_refs() == []


def test_feed_parser_per_line_fallback_time() -> None:
    parser = FeedParser(FeedContext(FeedFormat.AIS_NMEA))
    (sentence,) = sentences(**POSITION_FIELDS)
    (out,) = parser.feed(sentence, 1, fallback_time_ms=T0_MS)
    assert isinstance(out.result, PositionRecord) and out.result.ts_ms == T0_MS
