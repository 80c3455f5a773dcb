"""``berthwatch backtest``: features and detection in-process over feed files, scored
against labelled windows, with a terminal table, an HTML report and JSON.

The work is in :mod:`streams.offline.backtest` and the outputs in
:mod:`streams.reports.backtest`; this module only parses options, shows progress and
prints.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from streams.offline import InputError
from streams.offline.backtest import backtest_feeds, parse_levels, simulate_feeds
from streams.reports.backtest import print_result, write_reports


@click.command("backtest")
@click.argument("feeds", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="labels.json with windows and methodology events (default: next to the "
    "feeds, if present).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write an HTML report with plots.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write machine-readable results.",
)
@click.option(
    "--scenario",
    default=None,
    help="Simulate this scenario into a temporary "
    "directory and backtest it (instead of FEED files).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --scenario.")
@click.option("--from", "start", default=None, help="First day of --scenario, YYYY-MM-DD.")
@click.option("--to", "end", default=None, help="Last day of --scenario, YYYY-MM-DD.")
@click.option(
    "--ports", type=int, default=5, show_default=True, help="Ports of the random --scenario."
)
@click.option(
    "--geography",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Geography YAML merged over the packaged one (default: a "
    "geography.yaml next to the feeds).",
)
@click.option(
    "--lead-level",
    multiple=True,
    metavar="SERIES=LEVEL",
    help="Also report the lead of the warning in force (renewed without a gap of more "
    "than 3 days) when SERIES first reaches LEVEL (default for San Pedro Bay: "
    "vessels_waiting|san-pedro-bay=40).",
)
@click.option(
    "--monthly-data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder with the public monthly series (gscpi/, la-lb-teu/, "
    "fred-inventory/): add what fires in 2020-2022 to the report.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def backtest(
    feeds: tuple[Path, ...],
    labels_path: Path | None,
    report: Path | None,
    json_out: Path | None,
    scenario: str | None,
    seed: int,
    start: str | None,
    end: str | None,
    ports: int,
    geography: Path | None,
    lead_level: tuple[str, ...],
    monthly_data: Path | None,
    quiet: bool,
) -> None:
    """Run features and detection over FEED files in-process and score them against labels."""
    console = Console(stderr=False)
    try:
        levels = parse_levels(lead_level)
    except InputError as e:
        raise click.BadParameter(str(e), param_hint=e.param) from None
    with tempfile.TemporaryDirectory(prefix="berthwatch-backtest-") as tmp:
        paths = list(feeds)
        if scenario is not None:
            if paths:
                raise click.UsageError("give FEED files or --scenario, not both")
            console.print(f"simulating {scenario} (seed {seed}) into a temporary directory")
            try:
                paths = simulate_feeds(Path(tmp), scenario, seed, start, end, ports)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--scenario") from None
        if not paths:
            raise click.UsageError("no FEED files (or --scenario NAME)")
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=True,
        ) as bar:
            task = bar.add_task("backtest", total=1.0)
            result = backtest_feeds(
                paths,
                labels_path,
                geography,
                levels,
                monthly_data,
                progress=lambda step, frac: bar.update(task, description=step, completed=frac),
            )
    print_result(result, console)
    for path in write_reports(result, json_out, report):
        console.print(f"wrote {path}")
    if result.metrics is None and not json_out and not report:
        console.print(json.dumps(result.summary()["alerts_fired_by_route"]))
