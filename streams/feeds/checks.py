"""Field checks shared by the parsers (AIS sentences, decoded rows, logistics feeds)."""

from __future__ import annotations

import math

from streams.feeds.results import Note, Reason, Rejection

AIS_LAT_NOT_AVAILABLE = 91.0
AIS_LON_NOT_AVAILABLE = 181.0
AIS_SOG_NOT_AVAILABLE = 102.3
AIS_COG_NOT_AVAILABLE = 360.0
HEADING_UNKNOWN = 511
NAV_STATUS_UNKNOWN = 15


def check_position(lat: float, lon: float) -> Rejection | None:
    """None for a usable position; AIS "not available" (91/181) is a missing position.

    >>> check_position(33.73, -118.24) is None
    True
    >>> str(check_position(91.0, -118.24).reason), str(check_position(95.0, 0.0).reason)
    ('missing_position', 'impossible_position')
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return Rejection(Reason.NON_FINITE, f"position lat={lat} lon={lon} is not finite")
    if lat == AIS_LAT_NOT_AVAILABLE or lon == AIS_LON_NOT_AVAILABLE:
        return Rejection(
            Reason.MISSING_POSITION,
            f"position not available (lat={lat}, lon={lon}: AIS 91/181 means no fix)",
        )
    if abs(lat) > 90.0 or abs(lon) > 180.0:
        return Rejection(Reason.IMPOSSIBLE_POSITION, f"impossible position lat={lat} lon={lon}")
    return None


def normalize_motion(
    sog: float, cog: float, heading: float, nav_status: float
) -> tuple[float, float, int, int] | Rejection:
    """Speed, course, heading and navigational status in canonical form.

    "Not available" codes become NaN (speed 102.3, course 360) or stay the
    canonical unknown (heading 511, status 15). Values outside the AIS domain
    (negative speed, course above 360, heading 360..510, status above 15) reject
    the record, since a transmitter that sends them cannot be trusted.

    >>> normalize_motion(102.3, 360.0, 511, 15)
    (nan, nan, 511, 15)
    >>> normalize_motion(0.0, 12.5, 400, 0).reason
    <Reason.OUT_OF_RANGE: 'out_of_range'>
    """
    for name, value in (("sog", sog), ("cog", cog), ("heading", heading), ("status", nav_status)):
        if math.isinf(value):
            return Rejection(Reason.NON_FINITE, f"{name} is {value}")
    if math.isnan(sog) or abs(sog - AIS_SOG_NOT_AVAILABLE) < 1e-6:
        sog = math.nan
    elif not 0.0 <= sog < AIS_SOG_NOT_AVAILABLE:
        return Rejection(Reason.OUT_OF_RANGE, f"speed over ground {sog} kn outside 0..102.2")
    if math.isnan(cog) or cog == AIS_COG_NOT_AVAILABLE:
        cog = math.nan
    elif not 0.0 <= cog < AIS_COG_NOT_AVAILABLE:
        return Rejection(Reason.OUT_OF_RANGE, f"course over ground {cog} outside 0..359.9")
    if math.isnan(heading):
        heading = HEADING_UNKNOWN
    if heading != HEADING_UNKNOWN and not (0 <= heading < 360 and heading == int(heading)):
        return Rejection(Reason.OUT_OF_RANGE, f"heading {heading} is not 0..359 or 511")
    if math.isnan(nav_status):
        nav_status = NAV_STATUS_UNKNOWN
    if not (0 <= nav_status <= 15 and nav_status == int(nav_status)):
        return Rejection(Reason.OUT_OF_RANGE, f"navigational status {nav_status} is not 0..15")
    return sog, cog, int(heading), int(nav_status)


def fit_text(value: str, width: int, field: str, notes: list[Note]) -> str:
    """Text cut to at most ``width`` UTF-8 bytes at a character boundary, with a note.

    >>> notes: list[Note] = []
    >>> fit_text("EVER GIVEN", 5, "name", notes), notes[0].reason
    ('EVER ', <Reason.FIELD_TRUNCATED: 'field_truncated'>)
    """
    encoded = value.encode("utf-8")
    if len(encoded) <= width:
        return value
    cut = encoded[:width].decode("utf-8", errors="ignore")
    notes.append(Note(Reason.FIELD_TRUNCATED, f"{field} cut to {width} bytes: {value!r}"))
    return cut


def fits(value: str, width: int) -> bool:
    """Whether ``value`` encodes to at most ``width`` UTF-8 bytes."""
    return len(value) <= width // 4 or len(value.encode("utf-8")) <= width


def parse_float(text: str, field: str) -> float | Rejection:
    """A decimal number; empty is missing, NaN/inf are non-finite.

    >>> parse_float("8.8", "SOG"), str(parse_float("x", "SOG").reason)
    (8.8, 'wrong_type')
    >>> str(parse_float("1e999", "SOG").reason)
    'non_finite'
    """
    t = text.strip()
    if not t:
        return Rejection(Reason.MISSING_FIELD, f"{field} is empty")
    try:
        value = float(t)
    except ValueError:
        return Rejection(Reason.WRONG_TYPE, f"{field} {_clip(t)!r} is not a number")
    if not math.isfinite(value):
        return Rejection(Reason.NON_FINITE, f"{field} is {_clip(t)}")
    return value


def parse_optional_float(text: str, field: str) -> float | Rejection:
    """Like :func:`parse_float` but empty means unknown (NaN)."""
    if not text.strip():
        return math.nan
    return parse_float(text, field)


def parse_optional_int(text: str, field: str, lo: int, hi: int, default: int) -> int | Rejection:
    """An integer code (``"70"`` or ``"70.0"``) in ``lo..hi``; empty is ``default``.

    >>> parse_optional_int("8.0", "Status", 0, 15, 15), parse_optional_int("", "Status", 0, 15, 15)
    (8, 15)
    """
    t = text.strip()
    if not t:
        return default
    value = parse_float(t, field)
    if isinstance(value, Rejection):
        return value
    if value != int(value):
        return Rejection(Reason.WRONG_TYPE, f"{field} {t!r} is not an integer code")
    if not lo <= value <= hi:
        return Rejection(Reason.OUT_OF_RANGE, f"{field} {t} outside {lo}..{hi}")
    return int(value)


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."
