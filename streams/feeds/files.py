"""Feed files: opening them (plain or gzip), telling their format, reading them in blocks.

The replay streams a file a block of whole lines at a time (:func:`blocks`); the
backtest reads a whole file into the canonical arrays (:func:`read_arrays`), CSV
through the vectorized :class:`~streams.feeds.chunks.ChunkParser` (exact to the
per-line parser), other formats line by line through
:class:`~streams.feeds.parse.FeedParser`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from streams.feeds.chunks import ChunkParser
from streams.feeds.codec import Kind, kind_of, to_array
from streams.feeds.parse import FeedContext, FeedFormat, FeedParser
from streams.feeds.results import (
    ContainerEvent,
    InventorySnapshot,
    Outcome,
    PositionRecord,
    Rejection,
)

CSV_HEADERS: dict[str, FeedFormat] = {
    "mmsi": FeedFormat.AIS_MARINECADASTRE_CSV,
    "time,port,terminal,container,event": FeedFormat.CONTAINER_CSV,
    "time,site,item,on_hand,daily_usage": FeedFormat.INVENTORY_CSV,
}
"""First line of a CSV feed (lower case, no blanks) -> its format."""

BLOCK_BYTES = 1 << 20
"""Bytes read per block (about 8,000 MarineCadastre lines: the parse works in cache)."""

#: the canonical records the features read (vessel static data is not one of them)
FEATURE_RECORDS = (PositionRecord, ContainerEvent, InventorySnapshot)
FEATURE_KINDS = frozenset({Kind.POSITION, Kind.CONTAINER_EVENT, Kind.INVENTORY})


class FeedFileError(Exception):
    """A feed file problem phrased as one line (unreadable, empty, unknown format)."""


def open_tracked(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(file on disk, reader): the reader gunzips by magic number, not by name; the
    file's position says how far the reader got (for progress)."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise FeedFileError(f"cannot read {path}: {e.strerror}") from None
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw, raw


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, transparently gunzipped."""
    return open_tracked(path)[1]


def detect_format(path: Path) -> FeedFormat:
    """Tell a feed's format from its first non-blank line.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = Path(d) / "x.csv"; _ = p.write_text("time,site,item,on_hand,daily_usage\\n")
    >>> detect_format(p)
    <FeedFormat.INVENTORY_CSV: 'inventory_csv'>
    """
    with open_binary(path) as fh:
        try:
            for raw in fh:  # first non-blank line
                line = raw.decode("utf-8", errors="replace").strip()
                if line:
                    break
            else:
                raise FeedFileError(f"{path}: file is empty")
        except (OSError, EOFError) as e:
            raise FeedFileError(f"{path}: unreadable ({e})") from None
    head = line.lower().replace(" ", "")
    if head.startswith("mmsi,"):
        return FeedFormat.AIS_MARINECADASTRE_CSV
    for header, fmt in CSV_HEADERS.items():
        if head.startswith(header):
            return fmt
    if "!" in line[:40] and ("vdm," in head or "vdo," in head):
        return FeedFormat.AIS_NMEA
    if head.startswith("{"):
        if '"container"' in head:
            return FeedFormat.CONTAINER_JSONL
        if '"site"' in head:
            return FeedFormat.INVENTORY_JSONL
    raise FeedFileError(
        f"{path}: unknown feed format (first line {line[:60]!r}); expected AIS NMEA, "
        "MarineCadastre CSV, or container/inventory CSV or JSON lines (docs/FEEDS.md)"
    )


Block = tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64]]


def blocks(fh: IO[bytes], block_bytes: int | None = None) -> Iterator[Block]:
    """Whole lines of a file, a block at a time: (buffer, line starts, line ends without
    ``\\n``); a last line without a newline counts as a line."""
    size = block_bytes or BLOCK_BYTES
    carry = b""
    while True:
        data = fh.read(size)
        if not data:
            if carry:
                data, carry = carry + b"\n", b""
            else:
                return
        else:
            data, carry = carry + data, b""
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            data, carry = data[:cut], data[cut:]
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A).astype(np.int64)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        yield data, starts, ends


class _Collector:
    """Feature records of parse outcomes, as arrays per kind, and the rejections counted."""

    def __init__(self) -> None:
        self.parts: dict[Kind, list[npt.NDArray[Any]]] = {}
        self.records: dict[Kind, list[Any]] = {}
        self.rejected = 0

    def outcomes(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if isinstance(o.result, FEATURE_RECORDS):
                self.records.setdefault(kind_of(o.result), []).append(o.result)
            elif isinstance(o.result, Rejection):
                self.rejected += 1

    def arrays(self) -> dict[Kind, npt.NDArray[Any]]:
        parts = {k: list(v) for k, v in self.parts.items()}
        for kind, recs in self.records.items():
            parts.setdefault(kind, []).append(to_array(recs, kind))
        return {k: np.concatenate(v) for k, v in parts.items()}


def read_arrays(
    path: Path, fmt: FeedFormat, *, vectorized: bool = True
) -> tuple[dict[Kind, npt.NDArray[Any]], int]:
    """Every feature record of a feed file as canonical arrays per kind (positions,
    container events, inventory snapshots), and the number of lines rejected.

    CSV goes through :class:`ChunkParser` a block at a time (unless ``vectorized`` is
    False: the tests' reference), other formats line by line; both give the records and
    rejections of :class:`FeedParser` (the vectorized rows of a block come before the
    per-line parser's records; the features sort by event time).
    """
    out = _Collector()
    ctx = FeedContext(fmt)
    with open_binary(path) as fh:
        if fmt.is_csv and vectorized:
            parser = ChunkParser(ctx)
            number = 1
            for buf, starts, ends in blocks(fh):
                chunk = parser.parse_buffer(buf, starts, ends, number, strip_cr=True)
                number += len(starts)
                for kind, arr in chunk.arrays.items():
                    if kind in FEATURE_KINDS:
                        out.parts.setdefault(kind, []).append(arr)
                out.outcomes(chunk.slow)
            out.outcomes(parser.parser.flush())
        else:
            lines = FeedParser(ctx)
            for i, raw in enumerate(fh, 1):
                out.outcomes(lines.feed(raw.rstrip(b"\r\n"), i))
            out.outcomes(lines.flush())
    return out.arrays(), out.rejected
