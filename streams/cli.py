"""The ``berthwatch`` command line.

Click gives typed options and one-line usage errors for free; every other
expected failure (bad settings, a stack that cannot start) is raised as a
``click.ClickException`` so the user sees one line and a non-zero exit, never
a traceback.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from streams.commands.backtest import backtest
from streams.commands.common import settings_from
from streams.commands.dashboards import dashboards
from streams.commands.detect import detect
from streams.commands.evaluate import evaluate
from streams.commands.simulate import simulate
from streams.feeds.files import FeedFileError
from streams.feeds.results import Rejection
from streams.feeds.times import parse_time
from streams.kafka.admin import create_topics, differing, list_topics, replication_factor
from streams.kafka.client import KafkaClientError
from streams.settings import CONFIG_ENV
from streams.times import iso_ms
from streams.tools import stack as stack_mod

console = Console(stderr=True, highlight=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help="YAML settings file (environment variables BERTHWATCH_* override it).",
)
@click.version_option(package_name="berthwatch")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """berthwatch: early warning for port congestion and supply-chain disruption."""
    if config is not None and not config.is_file():
        raise click.BadParameter(f"file not found: {config}", param_hint="--config")
    ctx.ensure_object(dict)["config"] = config


# --- stack -------------------------------------------------------------------
@cli.group()
def stack() -> None:
    """Start, stop and inspect the local Kafka, Prometheus and Alertmanager."""


@stack.command("up")
@click.pass_context
def stack_up(ctx: click.Context) -> None:
    """Start every local service that is not running, and wait until each answers."""
    s = settings_from(ctx)
    t0 = time.monotonic()
    try:
        stack_mod.up(s, report=lambda line: console.print(line))
    except stack_mod.StackError as e:
        raise click.ClickException(str(e)) from None
    console.print(f"stack ready in {time.monotonic() - t0:.1f}s (data in {s.stack_dir})")


@stack.command("fetch")
@click.pass_context
def stack_fetch(ctx: click.Context) -> None:
    """Fetch the Kafka jars from Maven Central into the cache folder (once)."""
    s = settings_from(ctx)
    kafka = stack_mod.Kafka(s)
    problem = kafka.missing()
    try:
        if problem:
            raise stack_mod.StackError(problem)
        kafka.fetch_jars()
    except stack_mod.StackError as e:
        raise click.ClickException(str(e)) from None
    console.print(f"Kafka {s.kafka_version} jars in {kafka.libs}")


@stack.command("down")
@click.pass_context
def stack_down(ctx: click.Context) -> None:
    """Stop every local service this stack started."""
    s = settings_from(ctx)
    stopped = stack_mod.down(s, report=lambda line: console.print(line))
    if not stopped:
        console.print("nothing was running")


@stack.command("status")
@click.pass_context
def stack_status(ctx: click.Context) -> None:
    """Say what runs, where, and what is missing and how to get it."""
    s = settings_from(ctx)
    table = Table(title=f"berthwatch stack ({s.stack_dir})")
    for col in ("service", "state", "address", "pid", "note"):
        table.add_column(col)
    rows = stack_mod.status(s)
    for st in rows:
        state = "ready" if st.ready else ("starting" if st.running else "stopped")
        table.add_row(st.name, state, st.address, str(st.pid or "-"), st.note)
    Console().print(table)
    if not all(st.ready for st in rows):
        ctx.exit(3)


# --- topics ------------------------------------------------------------------
@cli.group()
def topics() -> None:
    """Create and list berthwatch's Kafka topics."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create every missing topic with its partitions, replication, retention and
    compaction; say in one line per existing topic what differs from the settings."""
    s = settings_from(ctx)
    try:
        created, existing = create_topics(s)
        differences = differing(s) if existing else []
    except ConnectionError as e:
        raise click.ClickException(str(e)) from None
    for name in created:
        console.print(f"created {name}")
    for line in differences:
        console.print(line, soft_wrap=True)
    console.print(f"{len(created)} created, {len(existing)} already present"
                  + (f", {len(differences)} differ (left as they are)" if differences else ""))


@topics.command("list")
@click.pass_context
def topics_list(ctx: click.Context) -> None:
    """List every topic with its partitions and configuration as the broker reports them,
    and what differs from the table (exit code 3 when a topic is missing)."""
    s = settings_from(ctx)
    try:
        rows = list_topics(s)
    except ConnectionError as e:
        raise click.ClickException(str(e)) from None
    table = Table(title=f"berthwatch topics ({s.kafka_bootstrap})")
    table.add_column("topic", no_wrap=True)
    table.add_column("partitions", justify="right")
    table.add_column("configuration", overflow="fold")
    table.add_column("note", overflow="fold")
    for r in rows:
        table.add_row(r.name, "-" if r.partitions is None else str(r.partitions),
                      "\n".join(f"{k}={v}" for k, v in r.config.items()),
                      "\n".join(r.differences()))
    Console().print(table)
    missing = [r.name for r in rows if r.missing]
    if missing:
        console.print(f"{len(missing)} missing: `berthwatch topics create` creates them")
        ctx.exit(3)


# --- replay ------------------------------------------------------------------
class _When(click.ParamType):
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        parsed = parse_time(str(value), "time")
        if isinstance(parsed, Rejection):
            self.fail(f"{value!r} is not an ISO 8601 time or epoch seconds", param, ctx)
        return parsed


@cli.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", type=click.FloatRange(min=0, min_open=True),
              help="Replay at N times real time (event time / wall time).")
@click.option("--max", "as_fast", is_flag=True,
              help="As fast as the broker takes it (the default).")
@click.option("--from", "start", type=_When(), help="Skip records before this event time.")
@click.option("--to", "end", type=_When(), help="Skip records at or after this event time.")
@click.option("--resume", is_flag=True, help="Continue a replay of these files where it stopped.")
@click.option("--wait", "wait_broker", is_flag=True,
              help="Ride out a broker outage (stop after kafka_outage_seconds otherwise).")
@click.option("--default-time", type=_When(),
              help="Receive time for bare NMEA sentences that carry none (else dead-lettered).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG of records per day of event time and rejections by reason "
                   "(default: replay/last.png in the stack folder).")
@click.pass_context
def replay(ctx: click.Context, paths: tuple[Path, ...], speed: float | None, as_fast: bool,
           start: int | None, end: int | None, resume: bool, wait_broker: bool,
           default_time: int | None, plot_path: Path | None) -> None:
    """Replay feed files (AIS NMEA, MarineCadastre CSV, container or inventory CSV/JSON
    lines; plain or gzip) into Kafka in event time, dead-lettering bad lines."""
    from streams import replay as replay_mod

    if speed is not None and as_fast:
        raise click.BadParameter("give either --speed or --max", param_hint="--speed")
    s = settings_from(ctx)
    options = replay_mod.options_from_settings(
        s, speed=speed, start_ms=start, end_ms=end, resume=resume, fallback_time_ms=default_time,
        wait=wait_broker,
    )
    total = sum(p.stat().st_size for p in paths)
    columns = (
        TextColumn("[bold]replay"), BarColumn(), DownloadColumn(),
        TextColumn("{task.fields[rate]} rec/s"), TextColumn("event time {task.fields[event]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("replay", total=total, rate="-", event="-")
        t0 = time.monotonic()

        def progress(done_bytes: int, records: int, ts_ms: int | None) -> None:
            rate = records / max(time.monotonic() - t0, 1e-6)
            event = iso_ms(ts_ms) if ts_ms else "-"
            bar.update(task, completed=done_bytes, rate=f"{rate:,.0f}", event=event)

        try:
            stats = asyncio.run(replay_mod.replay(s, list(paths), options, progress))
        except FeedFileError as e:
            raise click.ClickException(str(e)) from None
        bar.update(task, completed=total)
    for line in stats.summary():
        click.echo(line)
    plotted = stats.plot(plot_path or s.stack_dir / "replay" / "last.png")
    click.echo(f"plot: {plotted}")


# --- worker ------------------------------------------------------------------
@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--web-port", type=click.IntRange(1, 65535), help="Port for /metrics.")
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--tag", hidden=True, help="A label that identifies this process (stack use).")
@click.pass_context
def worker(ctx: click.Context, web_port: int | None, loglevel: str, tag: str | None) -> None:
    """Run a streaming worker (joins the consumer group of BERTHWATCH_WORKER_ID)."""
    s = settings_from(ctx)  # fail early, with one line, on bad settings
    try:
        create_topics(s)
        replication = replication_factor(s)
    except KafkaClientError as e:  # the broker answered and refused
        raise click.ClickException(str(e)) from None
    except ConnectionError as e:
        raise click.ClickException(f"{e} (is the stack up? `berthwatch stack up`)") from None
    os.environ["BERTHWATCH_TOPIC_REPLICATION_FACTOR"] = str(replication)  # faust's topics
    if web_port is not None:
        os.environ["BERTHWATCH_WORKER_WEB_PORT"] = str(web_port)
    config = ctx.ensure_object(dict).get("config")
    if config is not None:  # the faust app loads its settings at import
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    from streams.app import main as worker_main

    worker_main(["--loglevel", loglevel])


# --- demo --------------------------------------------------------------------
@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Bring the stack up, start a worker, replay the bundled simulated feed, say what it saw."""
    from streams.tools.demo import DemoError, run_demo

    s = settings_from(ctx)
    try:
        run_demo(s, console)
    except (stack_mod.StackError, DemoError, FeedFileError, ConnectionError) as e:
        raise click.ClickException(str(e)) from None


# --- commands that live in their own modules ----------------------------------
cli.add_command(backtest)
cli.add_command(dashboards)
cli.add_command(detect)
cli.add_command(evaluate)
cli.add_command(simulate)


def main() -> None:
    cli(prog_name="berthwatch")
