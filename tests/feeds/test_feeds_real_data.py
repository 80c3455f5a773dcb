"""The parsers on the real public samples in the shared data folder (read in place).

Expected figures come from each sample's PROVENANCE.txt or are derived here from the
raw text and from pyais used directly (independently of the parser under test); the
literal counts were found by inspecting the files and are explained next to them.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyais
import pytest

from streams.feeds import (
    FeedContext,
    FeedFormat,
    Kind,
    Outcome,
    PositionRecord,
    Reason,
    ReasonCounter,
    Rejection,
    VesselStaticRecord,
    decode_batch,
    encode,
    parse_lines,
    validate_batch,
)
from streams.feeds.results import Fragment, Ignored


def _run(path: Path, ctx: FeedContext) -> tuple[list[bytes], list[Outcome]]:
    lines = path.read_bytes().splitlines()
    return lines, list(parse_lines(lines, ctx))


def _assert_each_line_once(lines: list[bytes], outcomes: list[Outcome]) -> None:
    refs: list[object] = []
    for o in outcomes:
        if not isinstance(o.result, Fragment):
            refs += list(o.parts) if o.parts else [o.ref]
    assert sorted(refs) == list(range(1, len(lines) + 1))  # type: ignore[type-var]


def _sentence(line: bytes) -> bytes:
    return line.split(b" ", 1)[-1]


def _pyais_not_available_positions(lines: list[bytes]) -> int:
    """Single-sentence position reports with lat 91 or lon 181, decoded by pyais alone."""
    n = 0
    for line in lines:
        s = _sentence(line)
        if not re.match(rb"![A-Z]{2}VD[MO],1,1,", s) or s.split(b",")[5] == b"":
            continue
        msg = pyais.decode(s)
        if msg.msg_type in (1, 2, 3, 18, 19) and (msg.lat == 91.0 or msg.lon == 181.0):
            n += 1
    return n


def _unpaired_first_fragments(lines: list[bytes]) -> int:
    """Lines that are fragment 1 of 2 minus lines that are fragment 2 of 2."""
    heads = Counter(tuple(_sentence(line).split(b",")[1:3]) for line in lines)
    return heads[(b"2", b"1")] - heads[(b"2", b"2")]


# --- San Pedro Bay capture ----------------------------------------------------------


@pytest.fixture(scope="module")
def socal(shared_data: Path) -> tuple[list[bytes], list[Outcome]]:
    return _run(shared_data / "ais-socal-nmea" / "sample.ais", FeedContext(FeedFormat.AIS_NMEA))


def test_socal_every_line_accounted_for(socal: tuple[list[bytes], list[Outcome]]) -> None:
    lines, outcomes = socal
    assert len(lines) == 10_000  # PROVENANCE: 10,000 lines
    _assert_each_line_once(lines, outcomes)


def test_socal_positions_and_anchored_vessels(socal: tuple[list[bytes], list[Outcome]]) -> None:
    _, outcomes = socal
    positions = [o.result for o in outcomes if isinstance(o.result, PositionRecord)]
    # 6836 type 1 + 840 type 3 + 440 type 18 single-sentence reports (counted with pyais
    # while inspecting the file), minus the 350 without a fix (lat 91 / lon 181).
    assert len(positions) == 6836 + 840 + 440 - 350
    at_anchor = [p for p in positions if p.nav_status == 1]
    # PROVENANCE: 113 position reports with nav status 1 from 17 MMSIs.
    assert len(at_anchor) == 113
    assert len({p.mmsi for p in at_anchor}) == 17
    lat = np.array([p.lat for p in positions])
    lon = np.array([p.lon for p in positions])
    # PROVENANCE: centred on San Pedro Bay (median 33.73N, -118.24W), range 32.0-34.6N.
    assert abs(np.median(lat) - 33.73) < 0.05 and abs(np.median(lon) - -118.24) < 0.05
    assert lat.min() >= 32.0 and lat.max() <= 34.6
    in_bay = (lat > 33.5) & (lat < 33.85) & (lon > -118.4) & (lon < -118.0)
    assert in_bay.mean() > 0.5
    # receive times: 2016-01-10 23:29:12Z .. 23:36:20Z
    ts = [p.ts_ms for p in positions]
    assert min(ts) >= 1452468552000 and max(ts) < 1452468981000


def test_socal_rejections_and_ignored(socal: tuple[list[bytes], list[Outcome]]) -> None:
    lines, outcomes = socal
    counts = ReasonCounter()
    counts.update(outcomes)
    assert dict(counts.rejected) == {
        Reason.MISSING_POSITION: _pyais_not_available_positions(lines),
        Reason.INCOMPLETE_MULTIPART: _unpaired_first_fragments(lines),
    }
    # by inspection: 350 reports without a fix; 72 = (129 + 296) first fragments of
    # two-part messages from ABVDM/AIVDM minus (93 + 260) second fragments.
    assert counts.rejected[Reason.MISSING_POSITION] == 350
    assert counts.rejected[Reason.INCOMPLETE_MULTIPART] == 72
    # Not errors, but counted: base stations, binary broadcasts (single, 2- and
    # 3-part), data link management, aids to navigation (single and 2-part), etc.
    assert dict(counts.ignored) == {
        "ais_message_type:4": 540,
        "ais_message_type:8": 17 + 92 + 7,
        "ais_message_type:20": 12,
        "ais_message_type:21": 7 + 12,
        "ais_message_type:7": 1,
        "ais_message_type:10": 1,
    }


def test_socal_static_records(socal: tuple[list[bytes], list[Outcome]]) -> None:
    _, outcomes = socal
    static = [o.result for o in outcomes if isinstance(o.result, VesselStaticRecord)]
    by_type = Counter(s.msg_type for s in static)
    # 339 complete two-part type 5 messages and 327 type 24 parts (found with pyais)
    assert by_type == {5: 339, 24: 327}
    assert {s.part for s in static if s.msg_type == 24} == {"A", "B"}
    named = [s for s in static if s.msg_type == 5 and s.name]
    assert len(named) > 300 and all(len(s.callsign) <= 7 for s in named)
    assert all(s.imo == 0 or 1_000_000 <= s.imo <= 9_999_999 for s in static)


def test_socal_canonical_round_trip(socal: tuple[list[bytes], list[Outcome]]) -> None:
    _, outcomes = socal
    positions = [o.result for o in outcomes if isinstance(o.result, PositionRecord)]
    batch = decode_batch(encode(positions), Kind.POSITION)
    assert batch.rejections == [] and len(batch.records) == len(positions)
    assert validate_batch(batch.records, Kind.POSITION).ok.all()
    assert batch.records["mmsi"].tolist() == [p.mmsi for p in positions]
    assert np.array_equal(batch.records["lat"], [p.lat for p in positions])


# --- Greek sample (no receive times, about 100 undecodable lines) -------------------


def test_greek_sample_reasons(shared_data: Path) -> None:
    path = shared_data / "pyais-nmea" / "nmea_data_sample.txt"
    ctx = FeedContext(FeedFormat.AIS_NMEA, fallback_time_ms=1_609_545_600_000)
    lines, outcomes = _run(path, ctx)
    _assert_each_line_once(lines, outcomes)
    # 897 newline-terminated lines plus a last line without one.
    assert len(lines) == 898
    counts = ReasonCounter()
    counts.update(outcomes)
    empty_payload = sum(1 for line in lines if line.split(b",")[5] == b"")
    first_of_two = sum(1 for line in lines if line.startswith(b"!AIVDM,2,1,"))
    second_of_two = sum(1 for line in lines if line.startswith(b"!AIVDM,2,2,"))
    # By inspection: 100 sentences with an empty payload ("!AIVDM,1,1,,B,,0*25"), which
    # pyais cannot decode; 20 first fragments of type 5 messages whose second fragments
    # are not in the file; 4 position reports with lat 91 / lon 181 (no fix).
    assert (empty_payload, first_of_two, second_of_two) == (100, 20, 0)
    assert dict(counts.rejected) == {
        Reason.UNDECODABLE_NMEA: empty_payload,
        Reason.INCOMPLETE_MULTIPART: first_of_two,
        Reason.MISSING_POSITION: _pyais_not_available_positions(lines),
    }
    assert counts.rejected[Reason.MISSING_POSITION] == 4
    # Everything else decodes: 667 type 1 + 76 type 3 + 19 type 18 positions less the
    # 4 without a fix, 2 type 24 static parts; types 4, 15 and 20 are ignored.
    assert counts.records == {"PositionRecord": 667 + 76 + 19 - 4, "VesselStaticRecord": 2}
    assert dict(counts.ignored) == {
        "ais_message_type:4": 6,
        "ais_message_type:15": 7,
        "ais_message_type:20": 1,
    }
    positions = [o.result for o in outcomes if isinstance(o.result, PositionRecord)]
    lat = np.array([p.lat for p in positions])
    lon = np.array([p.lon for p in positions])
    # PROVENANCE: Aegean / Saronic Gulf, 35.6-38.6N, 19.5-25.2E (rounded to 0.1 degree)
    assert lat.min() >= 35.55 and lat.max() < 38.65 and lon.min() >= 19.45 and lon.max() < 25.25
    rejected = [o for o in outcomes if isinstance(o.result, Rejection)]
    assert all(o.raw == lines[o.ref - 1] for o in rejected)  # type: ignore[operator]


def test_greek_sample_without_fallback_time(shared_data: Path) -> None:
    path = shared_data / "pyais-nmea" / "nmea_data_sample.txt"
    _, outcomes = _run(path, FeedContext(FeedFormat.AIS_NMEA))
    counts = ReasonCounter()
    counts.update(outcomes)
    # bare sentences: no record can get a time, so every would-be record is rejected
    # (the time is checked before the position, so the 4 without a fix count here too)
    assert counts.records == {}
    assert counts.rejected[Reason.MISSING_TIME] == 667 + 76 + 19 + 2
    assert Reason.MISSING_POSITION not in counts.rejected


# --- MarineCadastre sample ----------------------------------------------------------


@pytest.fixture(scope="module")
def noaa(shared_data: Path) -> tuple[list[bytes], list[Outcome]]:
    path = shared_data / "ais-noaa-sample" / "test_data_noaa_20230101.csv"
    return _run(path, FeedContext(FeedFormat.AIS_MARINECADASTRE_CSV))


def _noaa_row(outcomes: list[Outcome], mmsi: int) -> PositionRecord:
    (rec,) = [
        o.result for o in outcomes if isinstance(o.result, PositionRecord) and o.result.mmsi == mmsi
    ]
    return rec


def test_noaa_all_rows_parse(noaa: tuple[list[bytes], list[Outcome]], shared_data: Path) -> None:
    lines, outcomes = noaa
    _assert_each_line_once(lines, outcomes)
    assert isinstance(outcomes[0].result, Ignored) and outcomes[0].result.kind == "csv_header"
    counts = ReasonCounter()
    counts.update(outcomes)
    assert counts.records == {"PositionRecord": 1000} and not counts.rejected
    # IMO: 26 seven-digit values fail the check digit and 7 are not seven digits
    # (e.g. IMO1001089558): the IMO is dropped with a note, the position kept.
    path = shared_data / "ais-noaa-sample" / "test_data_noaa_20230101.csv"
    with path.open(newline="") as fh:
        imos = [row["IMO"] for row in csv.DictReader(fh)]
    not_seven = sum(1 for v in imos if v and not re.fullmatch(r"IMO\d{7}", v))
    assert not_seven == 7
    assert counts.notes == {Reason.BAD_IMO: 26 + 7}


def test_noaa_known_rows(noaa: tuple[list[bytes], list[Outcome]]) -> None:
    _, outcomes = noaa
    # 636021061,2023-01-11T00:00:00,26.09241,-80.04806,8.8,272.7,270.0,MSC NAISHA III,
    # IMO9307839,5LCB4,70,8.0,208.0,30.0,8.0,70.0,A
    r = _noaa_row(outcomes, 636021061)
    assert r.static is not None
    assert (r.ts_ms, r.lat, r.lon, r.sog, r.cog, r.heading) == (
        1673395200000, 26.09241, -80.04806, 8.8, 272.7, 270,
    )  # fmt: skip
    assert (r.static.name, r.static.imo, r.static.callsign, r.ship_type, r.nav_status) == (
        "MSC NAISHA III", 9307839, "5LCB4", 70, 8,
    )  # fmt: skip
    assert (r.static.length, r.static.width, r.static.draft, r.static.cargo) == (208, 30, 8, 70)
    assert r.ais_class == 1
    # 3669882,...,0.0,135.6,511.0,,,,0,15.0,0.0,0.0,0.0,0.0,A: seven-digit MMSI (leading
    # zeros dropped), heading 511 and zero dimensions are "not available".
    r = _noaa_row(outcomes, 3669882)
    assert r.heading == 511 and r.nav_status == 15 and r.static is not None
    assert math.isnan(r.static.length) and math.isnan(r.static.draft) and r.static.name == ""
    # 249651000,...,102.3,360.0,146.0,ULISSE,IMO8688535,...: SOG 102.3 and COG 360 unknown
    r = _noaa_row(outcomes, 249651000)
    assert math.isnan(r.sog) and math.isnan(r.cog) and r.heading == 146
    assert r.static is not None and r.static.imo == 8688535
    # 368243940,...,CAPTAIN ROB,IMO1001089558,...: IMO dropped, row kept
    r = _noaa_row(outcomes, 368243940)
    assert r.static is not None and r.static.imo == 0 and r.static.name == "CAPTAIN ROB"
    assert [n.reason for n in r.notes] == [Reason.BAD_IMO]
    # 357628000,2023-01-11T23:59:01,...: the one late row of the file
    assert _noaa_row(outcomes, 357628000).ts_ms == 1673481541000


def test_noaa_class_b_and_static_round_trip(noaa: tuple[list[bytes], list[Outcome]]) -> None:
    lines, outcomes = noaa
    positions = [o.result for o in outcomes if isinstance(o.result, PositionRecord)]
    class_b = sum(1 for line in lines[1:] if line.endswith(b",B"))
    assert sum(1 for p in positions if p.ais_class == 2) == class_b == 46
    statics = [p.static for p in positions if p.static is not None]
    batch = decode_batch(encode(statics), Kind.VESSEL_STATIC)
    assert validate_batch(batch.records, Kind.VESSEL_STATIC).ok.all()
    assert batch.records["name"].tolist() == [s.name.encode() for s in statics]
