"""Result types shared by every feed parser.

A parser never raises on bad input. For each line it returns one of:

* a record (:class:`PositionRecord`, :class:`VesselStaticRecord`,
  :class:`ContainerEvent`, :class:`InventorySnapshot`),
* :class:`Rejection` - the line is bad; it goes to the dead-letter topic with
  ``reason`` (a stable :class:`Reason` code) and a human ``message``,
* :class:`Ignored` - the line is well formed but carries nothing berthwatch
  uses (a CSV header, an AIS base-station report); it says what it was so the
  caller can count it,
* :class:`Fragment` - one part of a multipart AIS message, buffered until the
  other parts arrive (or until it is evicted, which yields a Rejection).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import NamedTuple


class Reason(StrEnum):
    """Why a record was rejected (or, for notes, why a field was dropped).

    The values are stable: they appear in dead-letter headers, metrics labels
    and dashboards. Add new members; never rename or reuse one.
    """

    OVERSIZED_RECORD = "oversized_record"
    """The raw line is longer than the configured maximum number of bytes."""
    BAD_ENCODING = "bad_encoding"
    """The bytes are not valid UTF-8 (CSV/JSON) or not ASCII (NMEA)."""
    UNDECODABLE_NMEA = "undecodable_nmea"
    """Not a well-formed AIS VDM/VDO sentence, or its payload cannot be decoded."""
    BAD_CHECKSUM = "bad_checksum"
    """The NMEA sentence (or its tag block) checksum does not match."""
    INCOMPLETE_MULTIPART = "incomplete_multipart"
    """A fragment of a multipart AIS message whose other parts never arrived."""
    MISSING_TIME = "missing_time"
    """No receive time: no line prefix, no tag block ``c:`` and no fallback."""
    MISSING_POSITION = "missing_position"
    """Position report with AIS "not available" coordinates (lat 91 / lon 181)."""
    MALFORMED_CSV = "malformed_csv"
    """The CSV line cannot be split, or has more columns than the header."""
    MALFORMED_JSON = "malformed_json"
    """The JSON line is not a JSON object."""
    MISSING_FIELD = "missing_field"
    """A required field is absent or empty."""
    WRONG_TYPE = "wrong_type"
    """A field does not parse as its type (number, integer, time, text)."""
    NON_FINITE = "non_finite"
    """A numeric field is NaN or infinite (including numbers too large for a double)."""
    IMPOSSIBLE_POSITION = "impossible_position"
    """Latitude beyond +-90 or longitude beyond +-180 degrees."""
    OUT_OF_RANGE = "out_of_range"
    """A bounded field (speed, course, heading, nav status, ship type) is outside its domain."""
    NEGATIVE_QUANTITY = "negative_quantity"
    """A quantity that cannot be negative is (on hand, daily usage, dimensions)."""
    BAD_MMSI = "bad_mmsi"
    """MMSI is not 1..999999999 (at most nine digits)."""
    BAD_IMO = "bad_imo"
    """IMO number is not seven digits with a valid check digit (a note: the IMO is dropped)."""
    BAD_CONTAINER_NUMBER = "bad_container_number"
    """Container number fails ISO 6346 (owner code, category, serial, check digit)."""
    BAD_SITE_OR_ITEM = "bad_site_or_item"
    """Inventory site or item is empty or contains the key separator ``|``."""
    FIELD_TOO_LONG = "field_too_long"
    """An identifier is longer than its canonical field (site 32, item 48, terminal 16 bytes)."""
    FIELD_TRUNCATED = "field_truncated"
    """A free-text field was cut to its canonical width (a note, the record is kept)."""
    TIME_IN_FUTURE = "time_in_future"
    """Event time is later than the caller's window allows."""
    TIME_TOO_OLD = "time_too_old"
    """Event time is earlier than the caller's window allows."""
    UNKNOWN_PORT = "unknown_port"
    """Port is not a UN/LOCODE, or not in the caller's set of known ports."""
    UNKNOWN_EVENT = "unknown_event"
    """Container event is not one of discharged, gate_out_truck, loaded_rail."""
    BAD_VERSION = "bad_version"
    """Canonical message with an unknown codec version byte."""
    BAD_KIND = "bad_kind"
    """Canonical message whose kind byte is not the kind expected on the topic."""
    BAD_LENGTH = "bad_length"
    """Canonical message whose length does not match its kind's packed size."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A bad record: the reason code and a message an operator can act on."""

    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something dropped or changed in a record that was otherwise kept."""

    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed line that carries no berthwatch record.

    ``kind`` is a stable snake_case word (``ais_message_type``, ``csv_header``,
    ``blank_line``); for AIS, ``msg_type`` and ``mmsi`` say which message it was.
    """

    kind: str
    detail: str
    msg_type: int | None = None
    mmsi: int | None = None


@dataclass(frozen=True, slots=True)
class Fragment:
    """One buffered part of a multipart AIS message (not a final result)."""

    part: int
    of: int
    key: str


class AisClass(IntEnum):
    """AIS transceiver class of a report."""

    UNKNOWN = 0
    A = 1
    B = 2


class ContainerEventType(IntEnum):
    """Container event; the integer is the canonical ``event`` byte."""

    DISCHARGED = 1
    GATE_OUT_TRUCK = 2
    LOADED_RAIL = 3

    @property
    def label(self) -> str:
        """The source-format word for the event, e.g. ``gate_out_truck``."""
        return self.name.lower()


NAN = math.nan


@dataclass(frozen=True, slots=True)
class VesselStaticRecord:
    """Static and voyage data of a vessel (AIS 5, 24 A/B, 19, or decoded rows).

    Unknown values: ``imo`` 0, text "", ``ship_type``/``cargo`` 0, offsets 0,
    ``length``/``width``/``draft`` NaN. ``part`` is "A" or "B" for type 24.
    """

    ts_ms: int
    mmsi: int
    imo: int = 0
    name: str = ""
    callsign: str = ""
    destination: str = ""
    ship_type: int = 0
    cargo: int = 0
    to_bow: int = 0
    to_stern: int = 0
    to_port: int = 0
    to_starboard: int = 0
    length: float = NAN
    width: float = NAN
    draft: float = NAN
    msg_type: int = 0
    part: str = ""
    ais_class: AisClass = AisClass.UNKNOWN
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """One position report. Unknown: ``sog``/``cog`` NaN, ``heading`` 511,
    ``nav_status`` 15, ``ship_type`` 0, ``msg_type`` 0 (decoded rows).

    ``static`` carries the static fields that came in the same row or message
    (MarineCadastre rows, AIS type 19); publish it on the static topic.
    """

    ts_ms: int
    mmsi: int
    lat: float
    lon: float
    sog: float = NAN
    cog: float = NAN
    heading: int = 511
    nav_status: int = 15
    msg_type: int = 0
    ship_type: int = 0
    ais_class: AisClass = AisClass.UNKNOWN
    static: VesselStaticRecord | None = None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """A container moved: discharged off a vessel, gated out by truck, or railed."""

    ts_ms: int
    port: str
    terminal: str
    container: str
    event: ContainerEventType
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class InventorySnapshot:
    """Stock of one item at one site; days of supply = on_hand / daily_usage."""

    ts_ms: int
    site: str
    item: str
    on_hand: float
    daily_usage: float
    notes: tuple[Note, ...] = ()


Record = PositionRecord | VesselStaticRecord | ContainerEvent | InventorySnapshot
ParseResult = Record | Rejection | Ignored | Fragment
RECORD_TYPES = (  # unannotated: isinstance(x, RECORD_TYPES) narrows x to Record
    PositionRecord,
    VesselStaticRecord,
    ContainerEvent,
    InventorySnapshot,
)


class Outcome(NamedTuple):
    """The result for one source line of a stateful parser.

    ``ref`` is whatever the caller passed with the line (offset, line number);
    ``raw`` the line's bytes, for the dead-letter topic. For a record assembled
    from several lines, ``parts`` holds the refs of all its lines (the last one
    is ``ref``); their earlier outcomes were :class:`Fragment`.
    """

    ref: Hashable
    raw: bytes
    result: ParseResult
    parts: tuple[Hashable, ...] = ()


@dataclass
class ReasonCounter:
    """Counts of results for summaries: records by type, rejections by reason,
    ignored lines by kind (and AIS message type).

    >>> c = ReasonCounter()
    >>> c.add(Rejection(Reason.BAD_CHECKSUM, "x"))
    >>> c.add(Ignored("ais_message_type", "base station", msg_type=4))
    >>> c.rejected[Reason.BAD_CHECKSUM], c.ignored["ais_message_type:4"], c.total
    (1, 1, 2)
    """

    records: Counter[str] = field(default_factory=Counter)
    rejected: Counter[Reason] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    notes: Counter[Reason] = field(default_factory=Counter)
    fragments: int = 0

    def add(self, result: ParseResult) -> None:
        """Count one result (a Fragment is counted apart: it is not final)."""
        if isinstance(result, Rejection):
            self.rejected[result.reason] += 1
        elif isinstance(result, Ignored):
            key = result.kind if result.msg_type is None else f"{result.kind}:{result.msg_type}"
            self.ignored[key] += 1
        elif isinstance(result, Fragment):
            self.fragments += 1
        else:
            self.records[type(result).__name__] += 1
            for note in result.notes:
                self.notes[note.reason] += 1

    def update(self, results: Iterable[ParseResult | Outcome]) -> None:
        """Count many results or outcomes."""
        for item in results:
            self.add(item.result if isinstance(item, Outcome) else item)

    @property
    def total(self) -> int:
        """Final results counted (records + rejections + ignored)."""
        return sum(self.records.values()) + sum(self.rejected.values()) + sum(self.ignored.values())

    def summary(self) -> Mapping[str, Mapping[str, int]]:
        """Plain nested dict for logs and reports."""
        return {
            "records": dict(self.records),
            "rejected": {str(k): v for k, v in self.rejected.items()},
            "ignored": dict(self.ignored),
            "notes": {str(k): v for k, v in self.notes.items()},
        }
