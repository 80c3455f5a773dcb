"""``berthwatch detect``: score a CSV of ``timestamp,value`` rows with one detector.

The work is in :mod:`streams.offline.detect`; the command maps its
:class:`~streams.offline.InputError` to a one-line usage error and writes the rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from detectors import DETECTORS
from streams.offline import InputError
from streams.offline.detect import csv_text, open_table, score_rows, write_rows


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
        with open_table(file) as fh:
            scored = score_rows(
                fh, detector, series_column, time_column, value_column, warmup, limit
            )
    except InputError as e:
        raise click.BadParameter(str(e), param_hint=e.param) from None
    if out is None:
        write_rows(scored, sys.stdout)
    else:
        out.write_text(csv_text(scored), encoding="utf-8")
    click.echo(f"{len(scored.rows)} rows scored, {scored.n_alerts} alerts fired", err=True)
