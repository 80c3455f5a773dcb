"""Splitting CSV and JSON lines into named text fields, with a header layout."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.feeds.results import Reason, Rejection


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """Column positions from a CSV header line.

    >>> layout = CsvLayout.from_header(["time", "site", "item", "on_hand", "daily_usage"])
    >>> layout.index["item"], layout.missing(("time", "port"))
    (2, ('port',))
    """

    columns: tuple[str, ...]
    index: Mapping[str, int]

    @classmethod
    def from_header(cls, columns: Sequence[str]) -> CsvLayout:
        cleaned = tuple(c.strip().lstrip("\ufeff") for c in columns)
        return cls(cleaned, {name: i for i, name in enumerate(cleaned)})

    def missing(self, required: Sequence[str]) -> tuple[str, ...]:
        """Required columns the header lacks."""
        return tuple(name for name in required if name not in self.index)


def decode_utf8(raw: bytes) -> str | Rejection:
    """Bytes to text without the line ending, or ``bad_encoding``."""
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return Rejection(Reason.BAD_ENCODING, f"not UTF-8 at byte {exc.start}")


def split_csv(text: str) -> list[str] | Rejection:
    """One CSV line to fields (stdlib csv dialect: commas, double quotes)."""
    if "\x00" in text:
        return Rejection(Reason.MALFORMED_CSV, "NUL byte in CSV line")
    if '"' not in text and "\r" not in text and "\n" not in text:
        return text.split(",")  # what csv.reader gives for an unquoted line, much faster
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        return Rejection(Reason.MALFORMED_CSV, f"cannot split CSV line: {exc}")
    if len(rows) != 1:
        return Rejection(Reason.MALFORMED_CSV, "not exactly one CSV row")
    return rows[0]


def csv_fields(text: str, layout: CsvLayout, required: Sequence[str]) -> dict[str, str] | Rejection:
    """Named text fields of one CSV line; too few or too many columns reject it."""
    fields = split_csv(text)
    if isinstance(fields, Rejection):
        return fields
    n = len(layout.columns)
    if len(fields) > n:
        return Rejection(Reason.MALFORMED_CSV, f"{len(fields)} columns, header has {n}")
    if len(fields) < n:
        absent = [c for c in layout.columns[len(fields) :] if c in required]
        if absent:
            return Rejection(
                Reason.MISSING_FIELD,
                f"{len(fields)} columns, header has {n}; missing {', '.join(absent)}",
            )
        fields = [*fields, *([""] * (n - len(fields)))]
    return {name: fields[i] for name, i in layout.index.items()}


def _json_constant(name: str) -> float:
    # NaN / Infinity literals are read (to be rejected as non-finite, not as malformed).
    return math.nan if name == "NaN" else math.copysign(math.inf, -1.0 if name[0] == "-" else 1.0)


def json_object(text: str) -> dict[str, object] | Rejection:
    """A JSON line that must hold one object."""
    try:
        value = json.loads(text, parse_constant=_json_constant)
    except (ValueError, RecursionError) as exc:
        return Rejection(Reason.MALFORMED_JSON, f"not JSON: {str(exc)[:80]}")
    if not isinstance(value, dict):
        return Rejection(Reason.MALFORMED_JSON, f"JSON {type(value).__name__}, expected an object")
    return value
