"""Times as berthwatch writes and reads them: epoch seconds or milliseconds, UTC.

One place for the formatters and parsers that reports, alerts, commands and feeds
share (the feeds' validating parser, which returns a rejection rather than raising,
is :func:`streams.feeds.times.parse_time`, built on the same rules).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

HOUR = 3600.0
DAY = 86400.0

# Years datetime can hold; epoch seconds outside them are not times.
MIN_S = -62_135_596_800.0  # 0001-01-01
MAX_S = 253_402_300_799.0  # 9999-12-31T23:59:59


def iso(ts: float) -> str:
    """RFC 3339 UTC text, whole seconds, of epoch seconds.

    >>> iso(1634299200.0)
    '2021-10-15T12:00:00Z'
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(ts: float | None) -> str | None:
    """:func:`iso`, or None for a missing or non-finite time (reports, JSON).

    >>> iso_or_none(None), iso_or_none(float("nan")), iso_or_none(0.0)
    (None, None, '1970-01-01T00:00:00Z')
    """
    if ts is None or not math.isfinite(ts):
        return None
    return iso(ts)


def minute(ts: float | None) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC) of epoch seconds, for people (terminal lines,
    annotations); empty for a missing or non-finite time.

    >>> minute(1604721600.0), minute(None)
    ('2020-11-07 04:00', '')
    """
    text = iso_or_none(ts)
    return "" if text is None else text[:16].replace("T", " ")


def iso_ms(ts_ms: int) -> str:
    """:func:`iso` of epoch milliseconds (whole seconds).

    >>> iso_ms(1452468552938)
    '2016-01-10T23:29:12Z'
    """
    return iso(ts_ms / 1000)


def format_ms(ts_ms: int) -> str:
    """ISO 8601 UTC text of epoch milliseconds, to the millisecond (for messages about
    records); a value no calendar holds is written as a number.

    >>> format_ms(1452468552938)
    '2016-01-10T23:29:12.938Z'
    >>> format_ms(10**20)
    '100000000000000000000 ms'
    """
    if not MIN_S * 1000 <= ts_ms <= MAX_S * 1000:
        return f"{ts_ms} ms"
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> float:
    """Epoch seconds from ISO 8601 (naive means UTC) or a number of epoch seconds;
    ValueError otherwise.

    >>> parse_timestamp("2021-10-25T00:00:00Z"), parse_timestamp("1635120000")
    (1635120000.0, 1635120000.0)
    >>> parse_timestamp("2021-10-25 02:00:00+02:00")
    1635120000.0
    """
    s = text.strip()
    try:
        t = float(s)
    except ValueError:
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    if not math.isfinite(t):
        raise ValueError(f"not a finite time: {text!r}")
    return t


def parse_optional(text: str | None) -> float | None:
    """:func:`parse_timestamp`, passing None through (optional fields of files).

    >>> parse_optional(None), parse_optional("1970-01-02T00:00:00Z")
    (None, 86400.0)
    """
    return None if text is None else parse_timestamp(str(text))
