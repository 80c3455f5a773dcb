"""``berthwatch detect``: score a CSV of ``timestamp,value`` rows with one detector.

The work is in :func:`score_rows`, which a test can call without click; the
command only maps its :class:`DetectInputError` to a one-line usage error.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
import numpy as np

from detectors import DETECTORS, DampedTrend, SeriesRegistry
from detectors.policy import AlertPolicy

MISSING_VALUES = {"", "nan", "na", "n/a", "null", "none"}


class DetectInputError(ValueError):
    """Bad input for ``detect``; ``param`` names the option or argument at fault."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class Scored:
    """The input rows with ``score`` and ``alert`` columns added, and the alert transitions."""

    fieldnames: list[str]
    rows: list[dict[str, Any]]
    n_alerts: int


def parse_timestamp(text: str) -> float:
    """Epoch seconds from ISO 8601 (naive means UTC) or a number of epoch seconds.

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


def make_detector(name: str, warmup: int | None = None, limit: float | None = None) -> Any:
    """A detector by name with default parameters (``warmup``/``limit`` if given)."""
    cls = DETECTORS.get(name)
    if cls is None:
        known = ", ".join(sorted(DETECTORS))
        raise DetectInputError(f"unknown detector {name!r} (known: {known})", "--detector")
    kwargs: dict[str, Any] = {}
    if warmup is not None:
        if warmup < 0:
            raise DetectInputError("warmup must be >= 0", "--warmup")
        kwargs["warmup"] = warmup
    if limit is not None:
        if cls is not DampedTrend:
            raise DetectInputError("--limit only applies to the trend detector", "--limit")
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
        raise DetectInputError("the CSV is empty (no header row)", "FILE")
    for col, opt in ((time_column, "--time-column"), (value_column, "--value-column")):
        if col not in fields:
            raise DetectInputError(f"missing column {col!r} (columns: {', '.join(fields)})", opt)
    if series_column is not None and series_column not in fields:
        raise DetectInputError(
            f"missing column {series_column!r} (columns: {', '.join(fields)})", "--series-column"
        )
    for name in ("score", "alert"):
        if name in fields:
            raise DetectInputError(f"the CSV already has a {name!r} column", "FILE")
    registry = SeriesRegistry()
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    ts: list[float] = []
    values: list[float] = []
    for rec in reader:
        line = reader.line_num
        raw_t = rec.get(time_column)
        if raw_t is None:
            raise DetectInputError(f"line {line}: too few columns", "FILE")
        try:
            ts.append(parse_timestamp(raw_t))
        except ValueError:
            raise DetectInputError(
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
                raise DetectInputError(f"line {line}: unparsable value {raw_v!r}", "FILE") from None
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
    n_alerts = sum(1 for tr in decided.transitions if tr.state == "firing")
    return Scored([*fields, "score", "alert"], rows, n_alerts)


def write_rows(scored: Scored, out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=scored.fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(scored.rows)


@click.command("detect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--detector",
    default="changes",
    show_default=True,
    help=f"Detector to run: {', '.join(sorted(DETECTORS))}.",
)
@click.option(
    "--series-column", default=None, help="Column naming the series (default: one series)."
)
@click.option("--time-column", default="timestamp", show_default=True, help="Timestamp column.")
@click.option("--value-column", default="value", show_default=True, help="Value column.")
@click.option("--warmup", type=int, default=None, help="Points per series before scoring.")
@click.option("--limit", type=float, default=None, help="Limit for the trend detector's ETA.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output CSV (default: standard output).",
)
def detect(
    file: Path,
    detector: str,
    series_column: str | None,
    time_column: str,
    value_column: str,
    warmup: int | None,
    limit: float | None,
    out: Path | None,
) -> None:
    """Score FILE (CSV with timestamp,value) and add score and alert columns."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as fh:
            scored = score_rows(
                fh, detector, series_column, time_column, value_column, warmup, limit
            )
    except DetectInputError as e:
        raise click.BadParameter(str(e), param_hint=e.param) from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise click.BadParameter(f"cannot read CSV: {e}", param_hint="FILE") from None
    if out is None:
        write_rows(scored, sys.stdout)
    else:
        buf = io.StringIO()
        write_rows(scored, buf)
        out.write_text(buf.getvalue(), encoding="utf-8")
    click.echo(f"{len(scored.rows)} rows scored, {scored.n_alerts} alerts fired", err=True)
