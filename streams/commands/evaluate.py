"""``berthwatch evaluate``: score detectors against labelled anomaly windows.

The work is in :mod:`streams.evaluation`; this command adds the progress bar,
the table and the output files.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from detectors import DETECTORS
from streams import evaluation as ev


@click.command("evaluate")
@click.argument("series_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON: {"relative/path.csv": [["start", "end"], ...]} (inclusive windows).',
)
@click.option(
    "--detector",
    "names",
    multiple=True,
    help=f"Detector to evaluate (repeatable; default: all of {', '.join(sorted(DETECTORS))}).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("evaluation"),
    show_default=True,
    help="Folder for evaluation.json, index.html and plots/.",
)
def evaluate(series_dir: Path, labels_path: Path, names: tuple[str, ...], out: Path) -> None:
    """Run detectors and two baselines over every CSV under SERIES_DIR and score them."""
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        known = ", ".join(sorted(DETECTORS))
        raise click.BadParameter(
            f"unknown detector {unknown[0]!r} (known: {known})", param_hint="--detector"
        )
    try:
        labels = ev.load_labels(labels_path)
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise click.BadParameter(f"cannot read labels: {e}", param_hint="--labels") from None
    dets = list(names) or sorted(DETECTORS)
    default = ev.DEFAULT_DETECTOR if ev.DEFAULT_DETECTOR in dets else dets[0]
    n_series = len(ev.find_series(series_dir))
    if n_series == 0:
        raise click.BadParameter(f"no CSV files under {series_dir}", param_hint="SERIES_DIR")
    console = Console(stderr=True, highlight=False)
    with Progress(
        TextColumn("{task.description:<50}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=n_series * (len(dets) + len(ev.BASELINES)))

        def step(text: str) -> None:
            bar.update(task, advance=1, description=text[:50])

        report = ev.evaluate(series_dir, labels, dets, default=default, progress=step)
    out.mkdir(parents=True, exist_ok=True)
    ev.write_json(report, out / "evaluation.json")
    baseline = max(
        (e for e in report.entries.values() if e.kind == "baseline"),
        key=lambda e: e.halves[ev.TUNING].score,
    )
    with console.status("plotting"):
        page = ev.write_html(report, out, [default, baseline.name])
    table = Table(
        title="Detection quality: score = 2PR/(P+R) on each half; "
        "R_e, P, hits, false alarms and lateness on the held-out half (* = default)"
    )
    for col in ev.CONSOLE_HEADER:
        table.add_column(col, justify="left" if col == "entry" else "right")
    for row in ev.console_rows(report):
        table.add_row(*row)
    # at least 112 columns, so the table stays readable when output is piped
    Console(highlight=False, width=max(Console().width, 112)).print(table)
    click.echo(
        f"default {default}: held-out score / better baseline = "
        f"{report.ratio(ev.HELD_OUT):.2f} (tuning {report.ratio(ev.TUNING):.2f}); "
        f"{len(report.series)} series in {report.seconds:.0f} s; wrote {out / 'evaluation.json'}"
        f" and {page}",
        err=True,
    )
