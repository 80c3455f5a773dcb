"""Score a ``timestamp,value[,series]`` table with one detector (``berthwatch detect``).

:func:`score_rows` reads CSV text, runs the named detector and the default alert
policy over every row and adds ``score`` and ``alert`` columns; bad input is an
:class:`~streams.offline.InputError` naming the option at fault. The evaluation
scores every series through it, so ``berthwatch evaluate`` measures exactly what
``berthwatch detect`` computes.

>>> text = "timestamp,value\\n" + "".join(f"{i * 3600},{1.0 + (i == 30) * 50}\\n"
...                                       for i in range(40))
>>> scored = score_rows(text.splitlines(keepends=True), "ewma")
>>> scored.fieldnames, len(scored.rows)
(['timestamp', 'value', 'score', 'alert'], 40)
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from detectors import DETECTORS, DampedTrend, SeriesRegistry
from detectors.policy import AlertPolicy
from streams.offline import InputError
from streams.times import parse_timestamp

__all__ = [
    "MISSING_VALUES",
    "Scored",
    "check_detector",
    "csv_text",
    "make_detector",
    "open_table",
    "score_rows",
    "write_rows",
]

MISSING_VALUES = {"", "nan", "na", "n/a", "null", "none"}


@dataclass
class Scored:
    """The input rows with ``score`` and ``alert`` columns added, and the alert transitions."""

    fieldnames: list[str]
    rows: list[dict[str, Any]]
    n_alerts: int


def check_detector(name: str) -> type[Any]:
    """The detector class called ``name``; :class:`InputError` (``--detector``) if none is.

    >>> check_detector("ewma").__name__
    'EWMA'
    """
    cls = DETECTORS.get(name)
    if cls is None:
        known = ", ".join(sorted(DETECTORS))
        raise InputError(f"unknown detector {name!r} (known: {known})", "--detector")
    return cls


def make_detector(name: str, warmup: int | None = None, limit: float | None = None) -> Any:
    """A detector by name with default parameters (``warmup``/``limit`` if given)."""
    cls = check_detector(name)
    kwargs: dict[str, Any] = {}
    if warmup is not None:
        if warmup < 0:
            raise InputError("warmup must be >= 0", "--warmup")
        kwargs["warmup"] = warmup
    if limit is not None:
        if cls is not DampedTrend:
            raise InputError("--limit only applies to the trend detector", "--limit")
        kwargs["limit"] = limit
    return cls(**kwargs)


def score_rows(
    lines: Iterable[str],
    detector: str = "ewma",
    series_column: str | None = None,
    time_column: str = "timestamp",
    value_column: str = "value",
    warmup: int | None = None,
    limit: float | None = None,
) -> Scored:
    """Read CSV text, run the detector and the default alert policy over all rows."""
    det = make_detector(detector, warmup, limit)
    reader = csv.DictReader(lines)
    fields = list(reader.fieldnames or [])
    if not fields:
        raise InputError("the CSV is empty (no header row)", "FILE")
    for col, opt in ((time_column, "--time-column"), (value_column, "--value-column")):
        if col not in fields:
            raise InputError(f"missing column {col!r} (columns: {', '.join(fields)})", opt)
    if series_column is not None and series_column not in fields:
        raise InputError(
            f"missing column {series_column!r} (columns: {', '.join(fields)})", "--series-column"
        )
    for name in ("score", "alert"):
        if name in fields:
            raise InputError(f"the CSV already has a {name!r} column", "FILE")
    registry = SeriesRegistry()
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    ts: list[float] = []
    values: list[float] = []
    for rec in reader:
        line = reader.line_num
        raw_t = rec.get(time_column)
        if raw_t is None:
            raise InputError(f"line {line}: too few columns", "FILE")
        try:
            ts.append(parse_timestamp(raw_t))
        except ValueError:
            raise InputError(
                f"line {line}: unparsable timestamp {raw_t!r} (want ISO 8601 or epoch seconds)",
                "FILE",
            ) from None
        raw_v = (rec.get(value_column) or "").strip()
        if raw_v.lower() in MISSING_VALUES:
            values.append(math.nan)
        else:
            try:
                values.append(float(raw_v))
            except ValueError:
                raise InputError(f"line {line}: unparsable value {raw_v!r}", "FILE") from None
        keys.append(rec.get(series_column) or "" if series_column else "")
        rows.append(rec)
    series = registry.rows(keys)
    t, v = np.array(ts, dtype=np.float64), np.array(values, dtype=np.float64)
    result = det.update(series, t, v)
    policy = AlertPolicy(detector)
    decided = policy.evaluate(series, t, result.score, keys=registry, value=v, result=result)
    for rec, s, a in zip(rows, result.score, decided.alert, strict=True):
        rec["score"] = f"{float(s):.6f}"
        rec["alert"] = int(a > 0)
    added = ["score", "alert"]
    if result.kinds:  # the detector names the kind of change: say it on every row
        if "kind" in fields:
            raise InputError("the CSV already has a 'kind' column", "FILE")
        added.append("kind")
        for i, rec in enumerate(rows):
            name = result.kind_name(i)
            rec["kind"] = "" if name == result.kinds[0] else name
    n_alerts = sum(1 for tr in decided.transitions if tr.state == "firing")
    return Scored([*fields, *added], rows, n_alerts)


@contextmanager
def open_table(path: Path) -> Iterator[TextIO]:
    """A CSV file opened for :func:`score_rows` (UTF-8, with or without a byte order
    mark); text that cannot be read as CSV is an :class:`InputError` naming ``FILE``."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            yield fh
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read CSV: {e}", "FILE") from None


def write_rows(scored: Scored, out: TextIO) -> None:
    """The scored rows as CSV, header first."""
    writer = csv.DictWriter(out, fieldnames=scored.fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(scored.rows)


def csv_text(scored: Scored) -> str:
    """:func:`write_rows` into a string."""
    buf = io.StringIO()
    write_rows(scored, buf)
    return buf.getvalue()
