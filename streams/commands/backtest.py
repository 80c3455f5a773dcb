"""``berthwatch backtest``: features and detection in-process over feed files, scored
against labelled windows, with a terminal table, an HTML report and JSON.

The work is in :mod:`streams.backtest`; this module only parses options, shows
progress and prints.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams.backtest import (
    BacktestResult,
    geography_for,
    load_labels,
    monthly_report,
    run_backtest,
    write_html,
    write_json,
)
from streams.detection import PipelineConfig

#: the level the San Pedro Bay region's queue is watched against by default (FACTS.md:
#: 40 container ships at anchor on 2021-02-01, FreightWaves)
SPB_LEVEL = ("vessels_waiting|san-pedro-bay", 40.0)
FEED_FILES = ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz")


def _level_option(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for v in values:
        series, sep, level = v.rpartition("=")
        try:
            out[series] = float(level)
        except ValueError:
            raise click.BadParameter(
                f"{v!r}: want SERIES=LEVEL", param_hint="--lead-level"
            ) from None
        if not sep or not series:
            raise click.BadParameter(f"{v!r}: want SERIES=LEVEL", param_hint="--lead-level")
    return out


def _simulate(
    out: Path,
    scenario: str,
    seed: int,
    start: str | None,
    end: str | None,
    ports: int,
    console: Console,
) -> list[Path]:
    from streams.tools.simulator import ScenarioOptions, simulate

    console.print(f"simulating {scenario} (seed {seed}) into a temporary directory")
    simulate(out, scenario, ScenarioOptions(seed=seed, start=start, end=end, ports=ports))
    return [out / f for f in FEED_FILES if (out / f).exists()]


def print_result(result: BacktestResult, console: Console) -> None:
    m = result.metrics
    if m is not None:
        t = Table(title="Labelled windows")
        for col in (
            "series",
            "kind",
            "onset",
            "detected",
            "first warning",
            "lead from onset (d)",
            "lead to limit (d)",
        ):
            t.add_column(col)
        shown = 0
        for w in result.windows:
            if w.series.startswith("days_of_supply") and w.detected and shown > 40:
                continue
            shown += 1
            t.add_row(
                w.series,
                w.kind,
                _d(w.onset),
                ("[green]yes" if w.detected else "[red]no") if w.observed else "not in features",
                _d(w.first_warning),
                _f(w.lead_from_onset_days),
                _f(w.lead_to_limit_days),
            )
        console.print(t)
        s = Table(title="Quality by family")
        for col in (
            "family",
            "windows",
            "detected",
            "recall",
            "series",
            "false alarms",
            "per series per 90 d",
        ):
            s.add_column(col, justify="right")
        for fam, d in m.by_family.items():
            s.add_row(
                fam,
                str(int(d["windows"])),
                str(int(d["detected"])),
                _f(d["recall"], 3),
                str(int(d["series"])),
                str(int(d["false_alarms"])),
                _f(d["false_alarms_per_series_per_90d"], 3),
            )
        s.add_row(
            "all",
            str(m.windows),
            str(m.detected),
            _f(m.recall, 3),
            str(m.scored_series),
            str(m.false_alarms),
            _f(m.false_alarms_per_series_per_90d, 3),
            style="bold",
        )
        console.print(s)
        if m.unobserved:
            console.print(
                f"{m.unobserved} labelled window(s) on series the features do not produce "
                "(not counted in the recall)"
            )
    for x in result.level_leads:
        console.print(
            f"{x.series}: first reached {x.level:g} at {_d(x.reached)}; first warning "
            f"{_d(x.first_warning)}; lead {_f(x.lead_days)} days"
        )
    fired = sum(1 for a in result.output.alerts if a.state == "firing")
    times = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"{fired} alerts fired; {times}")


def _d(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def _f(x: float | None, digits: int = 1) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


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
    help="Also report the first warning's lead before SERIES' daily mean reaches "
    "LEVEL (default for San Pedro Bay: vessels_waiting|san-pedro-bay=40).",
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
    levels = _level_option(lead_level)
    with tempfile.TemporaryDirectory(prefix="berthwatch-backtest-") as tmp:
        paths = list(feeds)
        if scenario is not None:
            if paths:
                raise click.UsageError("give FEED files or --scenario, not both")
            try:
                paths = _simulate(Path(tmp), scenario, seed, start, end, ports, console)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--scenario") from None
        if not paths:
            raise click.UsageError("no FEED files (or --scenario NAME)")
        if labels_path is None:
            cand = paths[0].parent / "labels.json"
            labels_path = cand if cand.exists() else None
        labels = load_labels(labels_path) if labels_path is not None else None
        if labels is not None and labels.scenario == "san-pedro-bay-2021" and not lead_level:
            levels = {SPB_LEVEL[0]: SPB_LEVEL[1]}
        geo = geography_for(paths, geography)
        cfg = PipelineConfig.from_geography(geo)
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
            result = run_backtest(
                paths,
                labels,
                geography=geo,
                config=cfg,
                level_leads=levels,
                progress=lambda step, frac: bar.update(task, description=step, completed=frac),
            )
        if monthly_data is not None:
            result.monthly = monthly_report(monthly_data)
    print_result(result, console)
    if json_out is not None:
        write_json(result, json_out)
        console.print(f"wrote {json_out}")
    if report is not None:
        write_html(result, report)
        console.print(f"wrote {report}")
    if result.metrics is None and not json_out and not report:
        console.print(json.dumps(result.summary()["alerts_fired_by_route"]))
