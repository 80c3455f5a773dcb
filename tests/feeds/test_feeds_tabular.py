"""CSV and JSON-lines parsers: MarineCadastre AIS rows, container events, inventory."""

from __future__ import annotations

import csv
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.feeds import (
    MARINECADASTRE_COLUMNS,
    ContainerEvent,
    ContainerEventType,
    FeedContext,
    FeedFormat,
    FeedParser,
    Ignored,
    InventorySnapshot,
    PositionRecord,
    Reason,
    Rejection,
    TimeWindow,
    parse_lines,
    validate_line,
)
from streams.feeds.identifiers import (
    ISO6346_LETTER_VALUES,
    container_number_problem,
    iso6346_check_digit,
    parse_mmsi_text,
    valid_imo,
    valid_locode,
)
from streams.feeds.results import ParseResult
from streams.feeds.tabular import split_csv
from streams.feeds.times import parse_time

PORTS = frozenset({"USLAX", "USLGB"})
CONTAINER = FeedContext(FeedFormat.CONTAINER_CSV, known_ports=PORTS)
CONTAINER_JSON = FeedContext(FeedFormat.CONTAINER_JSONL, known_ports=PORTS)
INVENTORY = FeedContext(FeedFormat.INVENTORY_CSV)
INVENTORY_JSON = FeedContext(FeedFormat.INVENTORY_JSONL)
AIS_CSV = FeedContext(FeedFormat.AIS_MARINECADASTRE_CSV)
# Second data row of ais-noaa-sample/test_data_noaa_20230101.csv.
NOAA_ROW = (
    "636021061,2023-01-11T00:00:00,26.09241,-80.04806,8.8,272.7,270.0,MSC NAISHA III,"
    "IMO9307839,5LCB4,70,8.0,208.0,30.0,8.0,70.0,A"
)


def reason(result: ParseResult) -> Reason:
    assert isinstance(result, Rejection), result
    return result.reason


# --- identifiers and times -------------------------------------------------------


def test_iso6346_letter_values_skip_multiples_of_eleven() -> None:
    values = ISO6346_LETTER_VALUES
    assert (values["A"], values["B"], values["K"], values["L"]) == (10, 12, 21, 23)
    assert (values["U"], values["V"], values["Z"]) == (32, 34, 38)
    assert not any(v % 11 == 0 for v in values.values())


def test_iso6346_check_digit() -> None:
    # Worked example of ISO 6346 (CSQU 305438 3): sum 6185, 6185 mod 11 = 3.
    assert iso6346_check_digit("CSQU305438") == 3
    assert container_number_problem("CSQU3054383") is None
    assert container_number_problem("CSQU3054385") == "check digit is 5, expected 3"
    assert "category" in (container_number_problem("CSQX3054383") or "")


def test_imo_mmsi_locode() -> None:
    assert valid_imo(9074729) and not valid_imo(9074720) and not valid_imo(123456)
    assert parse_mmsi_text("3669999") == 3669999  # leading zeros dropped in decoded files
    assert parse_mmsi_text("1234567890") is None and parse_mmsi_text("-1") is None
    assert valid_locode("USLGB") and not valid_locode("USL1B")


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2021-11-16T00:00:00Z", 1637020800000),
        ("2021-11-16T00:00:00", 1637020800000),
        ("2021-11-15T16:00:00-08:00", 1637020800000),
        ("2021-11-16 00:00:00.250+00:00", 1637020800250),
        ("1637020800", 1637020800000),
        ("1637020800.5", 1637020800500),
        ("1969-12-31T23:59:59.500Z", -500),
    ],
)
def test_parse_time(text: str, ms: int) -> None:
    assert parse_time(text) == ms


@pytest.mark.parametrize(("text", "why"), [("", Reason.MISSING_FIELD), ("soon", Reason.WRONG_TYPE),
                                           ("nan", Reason.NON_FINITE), ("1e400", Reason.NON_FINITE),
                                           ("2021-13-01", Reason.WRONG_TYPE)])  # fmt: skip
def test_parse_time_rejects(text: str, why: Reason) -> None:
    assert reason(parse_time(text)) is why  # type: ignore[arg-type]


# --- container events ------------------------------------------------------------


def test_container_csv_row() -> None:
    rec = validate_line(b"2021-11-15T08:00:00Z,USLGB,LBCT,csqu 305438-3,gate_out_truck", CONTAINER)
    assert isinstance(rec, ContainerEvent)
    assert (rec.port, rec.terminal, rec.container) == ("USLGB", "LBCT", "CSQU3054383")
    assert rec.event is ContainerEventType.GATE_OUT_TRUCK and rec.ts_ms == 1636963200000


def test_container_json_line() -> None:
    line = json.dumps({"time": 1636963200, "port": "USLAX", "terminal": "APMT",
                       "container": "CSQU3054383", "event": "loaded_rail"}).encode()  # fmt: skip
    rec = validate_line(line, CONTAINER_JSON)
    assert isinstance(rec, ContainerEvent) and rec.event is ContainerEventType.LOADED_RAIL
    assert rec.ts_ms == 1636963200000


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054384,discharged", Reason.BAD_CONTAINER_NUMBER),
        (b"2021-11-15T08:00:00Z,USLAX,APMT,CSQ3054383,discharged", Reason.BAD_CONTAINER_NUMBER),
        (b"2021-11-15T08:00:00Z,NLRTM,ECT,CSQU3054383,discharged", Reason.UNKNOWN_PORT),
        (b"2021-11-15T08:00:00Z,LA,APMT,CSQU3054383,discharged", Reason.UNKNOWN_PORT),
        (b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,stolen", Reason.UNKNOWN_EVENT),
        (b"2021-11-15T08:00:00Z,USLAX,APMT,,discharged", Reason.MISSING_FIELD),
        (b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383", Reason.MISSING_FIELD),
        (b"tomorrow,USLAX,APMT,CSQU3054383,discharged", Reason.WRONG_TYPE),
        (b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,discharged,extra", Reason.MALFORMED_CSV),
        (b'2021-11-15T08:00:00Z,"USLAX,APMT', Reason.MALFORMED_CSV),
        (b"2021-11-15T08:00:00Z,USLAX,A VERY LONG TERMINAL NAME,CSQU3054383,discharged",
         Reason.FIELD_TOO_LONG),
        (b"2021-11-15T08:00:00Z,USLAX,\xff\xfe,CSQU3054383,discharged", Reason.BAD_ENCODING),
    ],
)  # fmt: skip
def test_container_rejections(line: bytes, why: Reason) -> None:
    assert reason(validate_line(line, CONTAINER)) is why


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        ({"time": True, "port": "USLAX", "container": "CSQU3054383", "event": "discharged"},
         Reason.WRONG_TYPE),
        ({"time": "2021-11-15", "port": 7, "container": "CSQU3054383", "event": "discharged"},
         Reason.WRONG_TYPE),
        ({"time": "2021-11-15", "port": "USLAX", "event": "discharged"}, Reason.MISSING_FIELD),
        ({"time": float("nan"), "port": "USLAX", "container": "CSQU3054383",
          "event": "discharged"}, Reason.NON_FINITE),
    ],
)  # fmt: skip
def test_container_json_rejections(obj: dict[str, object], why: Reason) -> None:
    assert reason(validate_line(json.dumps(obj).encode(), CONTAINER_JSON)) is why


def test_malformed_json() -> None:
    assert reason(validate_line(b"{not json", CONTAINER_JSON)) is Reason.MALFORMED_JSON
    assert reason(validate_line(b"[1, 2]", CONTAINER_JSON)) is Reason.MALFORMED_JSON


def test_container_time_window() -> None:
    ctx = FeedContext(
        FeedFormat.CONTAINER_CSV,
        known_ports=PORTS,
        window=TimeWindow(1636934400000, 1637020800000),  # 2021-11-15 .. 2021-11-16
    )
    ok = validate_line(b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,discharged", ctx)
    assert isinstance(ok, ContainerEvent)
    late = validate_line(b"2021-11-17T08:00:00Z,USLAX,APMT,CSQU3054383,discharged", ctx)
    early = validate_line(b"2021-11-14T08:00:00Z,USLAX,APMT,CSQU3054383,discharged", ctx)
    assert reason(late) is Reason.TIME_IN_FUTURE and reason(early) is Reason.TIME_TOO_OLD


def test_oversized_csv_line() -> None:
    ctx = FeedContext(FeedFormat.CONTAINER_CSV, known_ports=PORTS, max_bytes=40)
    line = b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,discharged"
    assert reason(validate_line(line, ctx)) is Reason.OVERSIZED_RECORD


def test_container_file_with_header_in_other_order() -> None:
    lines = [b"event,container,time,port,terminal", b"discharged,CSQU3054383,1636963200,USLAX,"]
    outs = list(parse_lines(lines, CONTAINER))
    assert isinstance(outs[0].result, Ignored) and outs[0].result.kind == "csv_header"
    rec = outs[1].result
    assert isinstance(rec, ContainerEvent) and rec.terminal == "" and outs[1].ref == 2


def test_header_without_required_columns_rejects_every_line() -> None:
    outs = list(parse_lines([b"time,port,box,event", b"1636963200,USLAX,CSQU3054383,discharged"],
                            CONTAINER))  # fmt: skip
    assert [reason(o.result) for o in outs] == [Reason.MISSING_FIELD, Reason.MISSING_FIELD]


# --- inventory -------------------------------------------------------------------


def test_inventory_csv_and_json() -> None:
    rec = validate_line(b"2021-12-01T00:00:00Z,AUS-FAB2,MCU-32,1200,300", INVENTORY)
    assert isinstance(rec, InventorySnapshot)
    assert (rec.site, rec.item, rec.on_hand, rec.daily_usage) == (
        "AUS-FAB2",
        "MCU-32",
        1200.0,
        300.0,
    )
    obj = {
        "time": "2021-12-01",
        "site": "AUS-FAB2",
        "item": "MCU-32",
        "on_hand": 0,
        "daily_usage": 0,
    }
    line = json.dumps(obj).encode()
    rec2 = validate_line(line, INVENTORY_JSON)
    assert isinstance(rec2, InventorySnapshot) and rec2.on_hand == 0.0


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"2021-12-01,AUS-FAB2,MCU-32,-1,300", Reason.NEGATIVE_QUANTITY),
        (b"2021-12-01,AUS-FAB2,MCU-32,10,-0.5", Reason.NEGATIVE_QUANTITY),
        (b"2021-12-01,AUS-FAB2,MCU-32,nan,300", Reason.NON_FINITE),
        (b"2021-12-01,AUS-FAB2,MCU-32,1e999,300", Reason.NON_FINITE),
        (b"2021-12-01,AUS-FAB2,MCU-32,lots,300", Reason.WRONG_TYPE),
        (b"2021-12-01,AUS-FAB2,MCU-32,,300", Reason.MISSING_FIELD),
        (b"2021-12-01,,MCU-32,10,300", Reason.BAD_SITE_OR_ITEM),
        (b"2021-12-01,AUS-FAB2,  ,10,300", Reason.BAD_SITE_OR_ITEM),
        (b"2021-12-01,AUS|FAB2,MCU-32,10,300", Reason.BAD_SITE_OR_ITEM),
        (b"2021-12-01,AUS-FAB2," + b"X" * 49 + b",10,300", Reason.FIELD_TOO_LONG),
    ],
)
def test_inventory_rejections(line: bytes, why: Reason) -> None:
    assert reason(validate_line(line, INVENTORY)) is why


@pytest.mark.parametrize(
    ("on_hand", "why"),
    [
        ('"1200"', Reason.WRONG_TYPE),
        ("true", Reason.WRONG_TYPE),
        ("NaN", Reason.NON_FINITE),
        ("Infinity", Reason.NON_FINITE),
        ("1e999", Reason.NON_FINITE),
        ("-3", Reason.NEGATIVE_QUANTITY),
    ],
)
def test_inventory_json_typing(on_hand: str, why: Reason) -> None:
    line = (
        f'{{"time": 1638316800, "site": "S", "item": "I", "on_hand": {on_hand}, "daily_usage": 1}}'
    )
    assert reason(validate_line(line.encode(), INVENTORY_JSON)) is why


def test_blank_lines_are_ignored_not_lost() -> None:
    res = validate_line(b"\r\n", INVENTORY)
    assert isinstance(res, Ignored) and res.kind == "blank_line"


# --- MarineCadastre rows -------------------------------------------------------------


def test_marinecadastre_row_maps_every_column() -> None:
    rec = validate_line(NOAA_ROW.encode(), AIS_CSV)
    assert isinstance(rec, PositionRecord) and rec.static is not None
    s = rec.static
    assert (rec.mmsi, rec.ts_ms) == (636021061, 1673395200000)  # MMSI, BaseDateTime
    assert (rec.lat, rec.lon, rec.sog, rec.cog, rec.heading) == (26.09241, -80.04806,
                                                                  8.8, 272.7, 270)  # fmt: skip
    assert (s.name, s.imo, s.callsign) == ("MSC NAISHA III", 9307839, "5LCB4")
    assert (rec.ship_type, rec.nav_status) == (70, 8)  # VesselType, Status
    assert (s.length, s.width, s.draft, s.cargo) == (208.0, 30.0, 8.0, 70)
    assert rec.ais_class == 1  # TransceiverClass A


def test_marinecadastre_not_available_codes() -> None:
    row = (
        "367752440,2023-01-11T00:00:00,43.07917,-70.75733,102.3,360.0,511.0,SAN JOSE,,"
        "WDI9818,31,,,,,,B"
    )
    rec = validate_line(row.encode(), AIS_CSV)
    assert isinstance(rec, PositionRecord) and rec.static is not None
    assert math.isnan(rec.sog) and math.isnan(rec.cog) and rec.heading == 511
    assert rec.nav_status == 15 and math.isnan(rec.static.length) and rec.static.imo == 0
    assert rec.ais_class == 2


def test_marinecadastre_bad_imo_is_dropped_with_a_note() -> None:
    row = NOAA_ROW.replace("IMO9307839", "IMO9307838")
    rec = validate_line(row.encode(), AIS_CSV)
    assert isinstance(rec, PositionRecord) and rec.static is not None and rec.static.imo == 0
    assert [n.reason for n in rec.notes] == [Reason.BAD_IMO]


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ("636021061,", "63602106100,", Reason.BAD_MMSI),
        ("636021061,", "63602X061,", Reason.BAD_MMSI),
        ("26.09241", "", Reason.MISSING_FIELD),
        ("26.09241", "north", Reason.WRONG_TYPE),
        ("26.09241", "nan", Reason.NON_FINITE),
        ("26.09241,-80.04806", "91.0,181.0", Reason.MISSING_POSITION),
        ("-80.04806", "-190.0", Reason.IMPOSSIBLE_POSITION),
        ("8.8,272.7", "-1.0,272.7", Reason.OUT_OF_RANGE),
        ("270.0", "400.0", Reason.OUT_OF_RANGE),
        ("70,8.0", "70,16.0", Reason.OUT_OF_RANGE),
        ("208.0,30.0", "-208.0,30.0", Reason.NEGATIVE_QUANTITY),
        ("208.0,30.0", "1e40,30.0", Reason.OUT_OF_RANGE),  # would overflow float32
        ("30.0,8.0", "30.0,26.0", Reason.OUT_OF_RANGE),  # draught above AIS's 25.5 m
        (",A", ",C", Reason.WRONG_TYPE),
    ],
)
def test_marinecadastre_rejections(old: str, new: str, why: Reason) -> None:
    assert old in NOAA_ROW
    assert reason(validate_line(NOAA_ROW.replace(old, new, 1).encode(), AIS_CSV)) is why


def test_marinecadastre_without_transceiver_class_column() -> None:
    header = ",".join(MARINECADASTRE_COLUMNS[:-1]).encode()
    row = NOAA_ROW.rsplit(",", 1)[0].encode()
    parser = FeedParser(AIS_CSV)
    (h,) = parser.feed(header, 1)
    (r,) = parser.feed(row, 2)
    assert isinstance(h.result, Ignored)
    assert isinstance(r.result, PositionRecord) and r.result.ais_class == 0


def test_long_vessel_name_is_truncated_with_a_note() -> None:
    row = NOAA_ROW.replace("MSC NAISHA III", "MSC NAISHA III EXTRA LONG NAME")
    rec = validate_line(row.encode(), AIS_CSV)
    assert isinstance(rec, PositionRecord) and rec.static is not None
    assert rec.static.name == "MSC NAISHA III EXTRA"  # 20 bytes
    assert [n.reason for n in rec.notes] == [Reason.FIELD_TRUNCATED]


def test_every_reason_code_is_exercised_by_a_test() -> None:
    from pathlib import Path

    text = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    untested = [r.name for r in Reason if f"Reason.{r.name}" not in text]
    assert untested == []
    assert len({r.value for r in Reason}) == len(Reason)  # codes are unique
    assert all(r.value == r.name.lower() for r in Reason)  # snake_case of the name


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00"), min_size=1, max_size=60))
def test_split_csv_matches_the_csv_module(text: str) -> None:
    fields = split_csv(text)
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error:
        assert isinstance(fields, Rejection) and fields.reason is Reason.MALFORMED_CSV
        return
    if len(rows) == 1:
        assert fields == rows[0]
    else:
        assert isinstance(fields, Rejection)
