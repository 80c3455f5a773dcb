"""``berthwatch evaluate``: score detectors against labelled anomaly windows.

The work is in :mod:`streams.offline.evaluation` and the outputs in
:mod:`streams.reports.evaluation`; this command adds the progress bar and prints.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from detectors import DETECTORS
from streams.offline import InputError
from streams.offline.evaluation import HELD_OUT, TUNING, plan_evaluation
from streams.reports.evaluation import console_table, write_reports


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
    try:
        plan = plan_evaluation(series_dir, labels_path, names)
    except InputError as e:
        raise click.BadParameter(str(e), param_hint=e.param) from None
    console = Console(stderr=True, highlight=False)
    with Progress(
        TextColumn("{task.description:<50}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=plan.steps)

        def step(text: str) -> None:
            bar.update(task, advance=1, description=text[:50])

        report = plan.run(progress=step)
    with console.status("plotting"):
        doc, page = write_reports(report, out)
    # at least 132 columns, so the table stays readable when output is piped
    Console(highlight=False, width=max(Console().width, 132)).print(console_table(report))
    click.echo(
        f"default {plan.default}: held-out score / better baseline = "
        f"{report.ratio(HELD_OUT):.2f} (tuning {report.ratio(TUNING):.2f}), "
        f"NAB standard {report.nab_ratio(HELD_OUT):.2f} (tuning {report.nab_ratio(TUNING):.2f}); "
        f"{len(report.series)} series in {report.seconds:.0f} s; wrote {doc}"
        f" and {page}",
        err=True,
    )
