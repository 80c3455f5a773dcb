"""One entry point for every source format: a raw line plus context to a result.

:func:`validate_line` is the stateless form (one line, one result).
:class:`FeedParser` is the stateful form a producer or ``berthwatch replay``
uses for a whole stream: it reads CSV headers and assembles multipart AIS
messages, and gives every line exactly one final outcome.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from streams.feeds.ais_csv import (
    MARINECADASTRE_COLUMNS,
    MARINECADASTRE_REQUIRED,
    parse_marinecadastre,
)
from streams.feeds.ais_nmea import AisNmeaParser
from streams.feeds.logistics import (
    CONTAINER_COLUMNS,
    CONTAINER_REQUIRED,
    INVENTORY_COLUMNS,
    INVENTORY_REQUIRED,
    parse_container_event,
    parse_inventory,
)
from streams.feeds.results import Ignored, Outcome, ParseResult, Reason, Rejection
from streams.feeds.tabular import CsvLayout, csv_fields, decode_utf8, json_object, split_csv
from streams.feeds.times import TimeWindow


class FeedFormat(StrEnum):
    """Source formats berthwatch reads."""

    AIS_NMEA = "ais_nmea"
    AIS_MARINECADASTRE_CSV = "ais_marinecadastre_csv"
    CONTAINER_CSV = "container_csv"
    CONTAINER_JSONL = "container_jsonl"
    INVENTORY_CSV = "inventory_csv"
    INVENTORY_JSONL = "inventory_jsonl"

    @property
    def is_csv(self) -> bool:
        return self.value.endswith("_csv")


DEFAULT_COLUMNS: dict[FeedFormat, tuple[str, ...]] = {
    FeedFormat.AIS_MARINECADASTRE_CSV: MARINECADASTRE_COLUMNS,
    FeedFormat.CONTAINER_CSV: CONTAINER_COLUMNS,
    FeedFormat.INVENTORY_CSV: INVENTORY_COLUMNS,
}
REQUIRED_COLUMNS: dict[FeedFormat, tuple[str, ...]] = {
    FeedFormat.AIS_MARINECADASTRE_CSV: MARINECADASTRE_REQUIRED,
    FeedFormat.CONTAINER_CSV: CONTAINER_REQUIRED,
    FeedFormat.INVENTORY_CSV: INVENTORY_REQUIRED,
}


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What a parser needs to know besides the line.

    ``known_ports``: UN/LOCODEs accepted in container events (None: any
    well-formed code). ``window``: accepted event times (None: any).
    ``max_bytes``: longer lines are rejected unread. ``fallback_time_ms``:
    receive time for bare NMEA sentences. ``columns``: the CSV header when the
    stream does not start with one (None: the format's standard header, and a
    :class:`FeedParser` reads the first line as the header).
    """

    fmt: FeedFormat
    known_ports: Collection[str] | None = None
    window: TimeWindow | None = None
    max_bytes: int = 4096
    fallback_time_ms: int | None = None
    columns: tuple[str, ...] | None = None


def _oversized(raw: bytes, ctx: FeedContext) -> Rejection | None:
    if len(raw) > ctx.max_bytes:
        return Rejection(
            Reason.OVERSIZED_RECORD, f"line of {len(raw)} bytes exceeds {ctx.max_bytes}"
        )
    return None


def _parse_fields(fields: Mapping[str, Any], ctx: FeedContext) -> ParseResult:
    # CSV fields are all text; JSON values are typed and checked by the parsers.
    fmt = ctx.fmt
    if fmt is FeedFormat.AIS_MARINECADASTRE_CSV:
        return parse_marinecadastre(fields, ctx.window)
    if fmt in (FeedFormat.CONTAINER_CSV, FeedFormat.CONTAINER_JSONL):
        return parse_container_event(fields, ctx.known_ports, ctx.window)
    return parse_inventory(fields, ctx.window, json_types=fmt is FeedFormat.INVENTORY_JSONL)


def parse_tabular_line(raw: bytes, ctx: FeedContext, layout: CsvLayout) -> ParseResult:
    """A CSV or JSON line (not NMEA) with a known header layout."""
    too_big = _oversized(raw, ctx)
    if too_big is not None:
        return too_big
    text = decode_utf8(raw)
    if isinstance(text, Rejection):
        return text
    if not text.strip():
        return Ignored("blank_line", "empty line")
    if ctx.fmt.is_csv:
        fields = csv_fields(text, layout, REQUIRED_COLUMNS[ctx.fmt])
        if isinstance(fields, Rejection):
            return fields
        first = layout.columns[0] if layout.columns else ""
        if fields.get(first, "").strip() == first and (
            tuple(v.strip() for v in fields.values()) == layout.columns
        ):
            return Ignored("csv_header", "repeated CSV header line")
        return _parse_fields(fields, ctx)
    obj = json_object(text)
    if isinstance(obj, Rejection):
        return obj
    return _parse_fields(obj, ctx)


def validate_line(raw: bytes, ctx: FeedContext) -> ParseResult:
    """Stateless: one raw line and its context to a record, Rejection or Ignored.

    A fragment of a multipart AIS message comes back as a :class:`Fragment`
    (assembly needs :class:`FeedParser`). CSV lines use ``ctx.columns`` or the
    format's standard header.

    >>> ctx = FeedContext(FeedFormat.INVENTORY_CSV)
    >>> validate_line(b"2021-12-01,AUS-FAB2,MCU-32,-5,300", ctx).reason
    <Reason.NEGATIVE_QUANTITY: 'negative_quantity'>
    """
    if ctx.fmt is FeedFormat.AIS_NMEA:
        parser = AisNmeaParser(
            fallback_time_ms=ctx.fallback_time_ms, window=ctx.window, max_bytes=ctx.max_bytes
        )
        return parser.feed(raw)[-1].result
    layout = CsvLayout.from_header(ctx.columns or DEFAULT_COLUMNS.get(ctx.fmt, ()))
    return parse_tabular_line(raw, ctx, layout)


class FeedParser:
    """Stateful parser of one stream (file or partition) of one format.

    Every line fed gets exactly one final outcome: a record, a Rejection or an
    Ignored, either right away or, for an AIS fragment, when its message is
    complete (the record's outcome lists the refs of all its lines) or is
    evicted (a Rejection per line). Call :meth:`flush` at end of stream.
    """

    def __init__(self, ctx: FeedContext, *, max_pending: int = 64, max_age_ms: int = 60_000):
        self.ctx = ctx
        self._nmea: AisNmeaParser | None = None
        self._layout: CsvLayout | None = None
        self._header_missing: tuple[str, ...] = ()
        if ctx.fmt is FeedFormat.AIS_NMEA:
            self._nmea = AisNmeaParser(
                fallback_time_ms=ctx.fallback_time_ms,
                window=ctx.window,
                max_bytes=ctx.max_bytes,
                max_pending=max_pending,
                max_age_ms=max_age_ms,
            )
        elif not ctx.fmt.is_csv:
            self._layout = CsvLayout.from_header(())
        elif ctx.columns is not None:
            self._layout = CsvLayout.from_header(ctx.columns)

    def feed(
        self, raw: bytes, ref: Hashable = None, *, fallback_time_ms: int | None = None
    ) -> list[Outcome]:
        """Parse one line; returns the outcomes that became final.

        ``fallback_time_ms`` (NMEA only) overrides the context's fallback receive
        time for this line, e.g. the wall clock of a live receiver.
        """
        if self._nmea is not None:
            return self._nmea.feed(raw, ref, fallback_time_ms=fallback_time_ms)
        if self._layout is None:
            return [Outcome(ref, raw, self._read_header(raw))]
        if self._header_missing:
            return [
                Outcome(
                    ref,
                    raw,
                    Rejection(
                        Reason.MISSING_FIELD,
                        f"header lacks {', '.join(self._header_missing)}",
                    ),
                )
            ]
        return [Outcome(ref, raw, parse_tabular_line(raw, self.ctx, self._layout))]

    @property
    def layout(self) -> CsvLayout | None:
        """The CSV header layout once known (None before the header line, or for NMEA)."""
        return self._layout if self._nmea is None else None

    @property
    def header_missing(self) -> tuple[str, ...]:
        """Required columns the CSV header lacks (every line is then rejected)."""
        return self._header_missing

    def flush(self) -> list[Outcome]:
        """Final outcomes for anything buffered (incomplete AIS multiparts)."""
        return self._nmea.flush() if self._nmea is not None else []

    def pending_refs(self) -> list[Hashable]:
        """Refs of lines still buffered (AIS fragments); do not commit past them."""
        return self._nmea.pending_refs() if self._nmea is not None else []

    def _read_header(self, raw: bytes) -> ParseResult:
        too_big = _oversized(raw, self.ctx)
        if too_big is not None:
            return too_big
        text = decode_utf8(raw)
        if isinstance(text, Rejection):
            return text
        if not text.strip():
            return Ignored("blank_line", "empty line before the header")
        fields = split_csv(text)
        if isinstance(fields, Rejection):
            return fields
        self._layout = CsvLayout.from_header(fields)
        self._header_missing = self._layout.missing(REQUIRED_COLUMNS[self.ctx.fmt])
        if self._header_missing:
            return Rejection(
                Reason.MISSING_FIELD, f"header lacks {', '.join(self._header_missing)}"
            )
        return Ignored("csv_header", f"header with {len(self._layout.columns)} columns")


def parse_lines(lines: Iterable[bytes], ctx: FeedContext, *, start: int = 1) -> Iterator[Outcome]:
    """Outcomes of a whole stream; refs are line numbers from ``start``.

    >>> ctx = FeedContext(FeedFormat.CONTAINER_CSV, known_ports={"USLAX"})
    >>> lines = [b"time,port,terminal,container,event",
    ...          b"2021-11-15T08:00:00Z,USLAX,APMT,CSQU3054383,discharged"]
    >>> [type(o.result).__name__ for o in parse_lines(lines, ctx)]
    ['Ignored', 'ContainerEvent']
    """
    parser = FeedParser(ctx)
    for i, raw in enumerate(lines, start):
        yield from parser.feed(raw, i)
    yield from parser.flush()
