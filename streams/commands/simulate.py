"""``berthwatch simulate``: write a simulated feed (positions, containers, inventory, labels)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams.tools.simulator import SCENARIOS, ScenarioOptions, SimulationSummary, TrackOptions
from streams.tools.simulator import simulate as run_simulation
from streams.tools.simulator.scenarios import MAX_RANDOM_PORTS

__all__ = ["simulate", "summary_lines", "summary_table"]

console = Console(stderr=True, highlight=False)


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param=param) from None


def _scale(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise click.BadParameter("must be in (0, 1], e.g. 0.01 for 1/100 of the boxes", param=param)
    return value


def summary_table(summary: SimulationSummary) -> Table:
    """The closing summary: rows and size per file, then time range and labelled windows."""
    table = Table(title=f"{summary.scenario} (seed {summary.seed}) -> {summary.out_dir}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    table.add_column("size", justify="right")
    for name, rows in summary.rows.items():
        path = summary.out_dir / name
        size = path.stat().st_size / 1e6 if path.exists() else 0.0
        table.add_row(name, f"{rows:,}", f"{size:,.1f} MB")
    return table


def summary_lines(summary: SimulationSummary) -> list[str]:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.windows_by_kind.items()))
    return [
        f"time range: {summary.start} .. {summary.end} (end exclusive)",
        f"ship calls: {summary.visits:,} by {summary.vessels:,} vessels",
        f"labels.json: {summary.windows:,} labelled windows ({kinds or 'none'}), "
        f"{summary.events} events",
        f"generated in {sum(summary.seconds.values()):.1f} s",
    ]


@click.command("simulate")
@click.option(
    "--scenario",
    type=click.Choice(sorted(SCENARIOS)),
    default="san-pedro-bay-2021",
    show_default=True,
    help="Calibrated San Pedro Bay 2020-2022, or random disruptions at fictional ports.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sim-out"),
    show_default=True,
    help="Output directory (created if missing).",
)
@click.option("--from", "start", callback=_date, help="First day, YYYY-MM-DD (scenario default).")
@click.option("--to", "end", callback=_date, help="Last day, inclusive, YYYY-MM-DD.")
@click.option(
    "--ports",
    type=click.IntRange(1, MAX_RANDOM_PORTS),
    default=5,
    show_default=True,
    help="Number of fictional ports (random scenario).",
)
@click.option("--items", type=click.IntRange(1), default=None, help="Inventory items per site.")
@click.option("--sites", type=click.IntRange(1), default=None, help="Inventory sites.")
@click.option("--nmea", is_flag=True, help="Also write positions.nmea.gz (types 1 and 5; slow).")
@click.option(
    "--volume-scale",
    type=float,
    default=0.01,
    show_default=True,
    callback=_scale,
    help="Fraction of the real container volumes to generate.",
)
@click.option(
    "--cadence",
    type=click.IntRange(10, 86_400),
    default=600,
    show_default=True,
    help="Seconds between AIS reports underway and at anchor.",
)
def simulate(
    scenario: str,
    seed: int,
    out_dir: Path,
    start: str | None,
    end: str | None,
    ports: int,
    items: int | None,
    sites: int | None,
    nmea: bool,
    volume_scale: float,
    cadence: int,
) -> None:
    """Simulate AIS positions, container events and inventory with labelled disruptions."""
    if start and end and end < start:
        raise click.BadParameter(f"{end} is before --from {start}", param_hint="'--to'")
    options = ScenarioOptions(
        seed=seed,
        start=start,
        end=end,
        ports=ports,
        items=items,
        sites=sites,
        volume_scale=volume_scale,
    )
    track = TrackOptions(cadence_s=float(cadence), moored_cadence_s=float(max(cadence, 1800)))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting", total=1.0)

        def report(step: str, fraction: float) -> None:
            progress.update(task, description=step, completed=fraction)

        try:
            summary = run_simulation(
                out_dir, scenario, options, track=track, nmea=nmea, progress=report
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    console.print(summary_table(summary))
    for line in summary_lines(summary):
        console.print(line)
