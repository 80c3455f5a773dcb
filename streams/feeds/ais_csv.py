"""Decoded AIS rows in the US MarineCadastre (NOAA/BOEM) CSV layout.

Header: ``MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,
VesselType,Status,Length,Width,Draft,Cargo[,TransceiverClass]``. Every column
maps to a field of :class:`PositionRecord` or its ``static`` record; see
docs/FEEDS.md for the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from streams.feeds.checks import (
    HEADING_UNKNOWN,
    NAV_STATUS_UNKNOWN,
    check_position,
    fit_text,
    normalize_motion,
    parse_float,
    parse_optional_float,
    parse_optional_int,
)
from streams.feeds.identifiers import parse_mmsi_text, valid_imo
from streams.feeds.results import (
    AisClass,
    Note,
    PositionRecord,
    Reason,
    Rejection,
    VesselStaticRecord,
)
from streams.feeds.times import TimeWindow, parse_time

MARINECADASTRE_COLUMNS: tuple[str, ...] = (
    "MMSI",
    "BaseDateTime",
    "LAT",
    "LON",
    "SOG",
    "COG",
    "Heading",
    "VesselName",
    "IMO",
    "CallSign",
    "VesselType",
    "Status",
    "Length",
    "Width",
    "Draft",
    "Cargo",
    "TransceiverClass",
)
MARINECADASTRE_REQUIRED: tuple[str, ...] = ("MMSI", "BaseDateTime", "LAT", "LON")

_CLASSES = {"": AisClass.UNKNOWN, "A": AisClass.A, "B": AisClass.B}


def parse_imo_text(text: str, notes: list[Note]) -> int:
    """IMO from ``IMO9307839`` or ``9307839``; empty or all zeros is unknown (0).

    An IMO that is not seven digits with a valid check digit is dropped (0) and a
    ``bad_imo`` note says so: the position in the same row is still good data.

    >>> notes: list[Note] = []
    >>> parse_imo_text("IMO9307839", notes), parse_imo_text("IMO1001089558", notes), len(notes)
    (9307839, 0, 1)
    """
    t = text.strip().upper()
    if t.startswith("IMO"):
        t = t[3:].strip()
    if not t or (t.isdigit() and int(t) == 0):
        return 0
    if len(t) == 7 and t.isascii() and t.isdigit() and valid_imo(int(t)):
        return int(t)
    notes.append(
        Note(Reason.BAD_IMO, f"IMO {text.strip()!r} is not 7 digits with a check digit; dropped")
    )
    return 0


# Largest values AIS can carry (ITU-R M.1371): bow + stern 511 + 511 m, port +
# starboard 63 + 63 m, draught 25.5 m. Larger numbers are not vessel dimensions.
DIMENSION_LIMITS = {"Length": 1022.0, "Width": 126.0, "Draft": 25.5}


def _dimension(text: str, field: str) -> float | Rejection:
    value = parse_optional_float(text, field)
    if isinstance(value, Rejection):
        return value
    if value < 0:
        return Rejection(Reason.NEGATIVE_QUANTITY, f"{field} {value} is negative")
    if value > DIMENSION_LIMITS[field]:
        return Rejection(
            Reason.OUT_OF_RANGE, f"{field} {value} m exceeds {DIMENSION_LIMITS[field]} m"
        )
    return value if value > 0 else math.nan  # 0 is AIS "not available"


def parse_marinecadastre(
    f: Mapping[str, str], window: TimeWindow | None = None
) -> PositionRecord | Rejection:
    """One MarineCadastre row (named text fields) to a position with its static record.

    >>> row = dict(MMSI="636021061", BaseDateTime="2023-01-11T00:00:00", LAT="26.09241",
    ...            LON="-80.04806", SOG="8.8", COG="272.7", Heading="270.0",
    ...            VesselName="MSC NAISHA III", IMO="IMO9307839", CallSign="5LCB4",
    ...            VesselType="70", Status="8.0", Length="208.0", Width="30.0", Draft="8.0",
    ...            Cargo="70.0", TransceiverClass="A")
    >>> rec = parse_marinecadastre(row)
    >>> rec.mmsi, rec.nav_status, rec.static.imo, rec.static.length
    (636021061, 8, 9307839, 208.0)
    """
    for name in MARINECADASTRE_REQUIRED:
        if not f.get(name, "").strip():
            return Rejection(Reason.MISSING_FIELD, f"{name} is empty")
    mmsi = parse_mmsi_text(f["MMSI"])
    if mmsi is None:
        return Rejection(Reason.BAD_MMSI, f"MMSI {f['MMSI'][:20]!r} is not 1 to 9 digits")
    ts = parse_time(f["BaseDateTime"], "BaseDateTime")
    if isinstance(ts, Rejection):
        return ts
    lat = parse_float(f["LAT"], "LAT")
    if isinstance(lat, Rejection):
        return lat
    lon = parse_float(f["LON"], "LON")
    if isinstance(lon, Rejection):
        return lon
    bad = check_position(lat, lon)
    if bad is not None:
        return bad
    numbers: dict[str, float] = {}
    for name in ("SOG", "COG", "Heading"):
        value = parse_optional_float(f.get(name, ""), name)
        if isinstance(value, Rejection):
            return value
        numbers[name] = value
    status = parse_optional_int(f.get("Status", ""), "Status", 0, 15, NAV_STATUS_UNKNOWN)
    if isinstance(status, Rejection):
        return status
    motion = normalize_motion(
        numbers["SOG"],
        numbers["COG"],
        numbers["Heading"] if not math.isnan(numbers["Heading"]) else HEADING_UNKNOWN,
        status,
    )
    if isinstance(motion, Rejection):
        return motion
    sog, cog, heading, nav_status = motion
    ship_type = parse_optional_int(f.get("VesselType", ""), "VesselType", 0, 255, 0)
    if isinstance(ship_type, Rejection):
        return ship_type
    cargo = parse_optional_int(f.get("Cargo", ""), "Cargo", 0, 255, 0)
    if isinstance(cargo, Rejection):
        return cargo
    dims: dict[str, float] = {}
    for name in ("Length", "Width", "Draft"):
        dim = _dimension(f.get(name, ""), name)
        if isinstance(dim, Rejection):
            return dim
        dims[name] = dim
    cls_text = f.get("TransceiverClass", "").strip().upper()
    if cls_text not in _CLASSES:
        return Rejection(Reason.WRONG_TYPE, f"TransceiverClass {cls_text[:10]!r} is not A or B")
    ais_class = _CLASSES[cls_text]
    if window is not None:
        late = window.check(ts)
        if late is not None:
            return late
    notes: list[Note] = []
    static = VesselStaticRecord(
        ts_ms=ts,
        mmsi=mmsi,
        imo=parse_imo_text(f.get("IMO", ""), notes),
        name=fit_text(f.get("VesselName", "").strip(), 20, "VesselName", notes),
        callsign=fit_text(f.get("CallSign", "").strip(), 7, "CallSign", notes),
        ship_type=ship_type,
        cargo=cargo,
        length=dims["Length"],
        width=dims["Width"],
        draft=dims["Draft"],
        ais_class=ais_class,
        notes=tuple(notes),
    )
    return PositionRecord(
        ts_ms=ts,
        mmsi=mmsi,
        lat=lat,
        lon=lon,
        sog=sog,
        cog=cog,
        heading=heading,
        nav_status=nav_status,
        msg_type=0,
        ship_type=ship_type,
        ais_class=ais_class,
        static=static,
        notes=tuple(notes),
    )
