"""``berthwatch dashboards``: preview the dashboards from live Prometheus, push them to Grafana.

``preview`` draws every time-series panel of every dashboard with matplotlib from
Prometheus's range queries, and lists the stat panels' values as text, so the
dashboards can be checked without a Grafana server. With ``--event-time`` the
port panels are drawn against event time: each sample's wall time is mapped to
``berthwatch_event_time_seconds`` of its port, so a replay that pushed a year
through in minutes shows on a calendar axis, with the detector alerts' starts as
vertical lines. ``push`` uploads the generated models into the ``berthwatch``
folder of a Grafana with grafana-client (the ``[grafana]`` extra) and adds one
annotation per replay run recorded in ``<stack_dir>/replays.jsonl``. The work is
:mod:`streams.grafana`'s; these commands parse options and say what happened.
"""

from __future__ import annotations

from pathlib import Path

import click

from streams.commands.common import settings_from
from streams.grafana.marks import topic_marks
from streams.grafana.models import DashboardsError
from streams.grafana.preview import preview_dashboards
from streams.grafana.prometheus import MAX_POINTS, literal_regex, parse_duration
from streams.grafana.push import REPLAYS_FILE, push_dashboards


@click.group("dashboards")
def dashboards() -> None:
    """Preview berthwatch's Grafana dashboards from live Prometheus, or push them to Grafana."""


@dashboards.command("preview")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("dashboards-preview"), show_default=True,
              help="Folder for the PNGs and index.html.")
@click.option("--since", default="1h", show_default=True,
              help="Time range back from now (30m, 6h, 2d...).")
@click.option("--port", "port_value", default=".*", show_default=True,
              help="Value of the $port variable (a UN/LOCODE, a region id or a regex).")
@click.option("--terminal", "terminal_value", default=".*", show_default=True,
              help="Value of the $terminal variable (a terminal code or a regex).")
@click.option("--site", "site_value", default=".*", show_default=True,
              help="Value of the $site variable (an inventory site or a regex).")
@click.option("--topic", "topic_value", default=".*", show_default=True,
              help="Value of the $topic variable (a topic name or a regex).")
@click.option("--detector", "detector_value", default=None,
              help="Detector of the drill-down (a name; default: the highest-scoring one).")
@click.option("--series", "series_value", default=None,
              help="Series key of the drill-down, e.g. 'vessels_waiting|USLAX' "
                   "(default: the highest-scoring one).")
@click.option("--event-time", is_flag=True,
              help="Draw the port overview and drill-down against event time (each "
                   "sample's wall time mapped to the port's berthwatch_event_time_seconds) "
                   "with detector alert starts as vertical lines.")
@click.option("--step", default=None,
              help="Query resolution (15s, 1m...); default: the range / 300, or / 2000 "
                   "with --event-time (a replay's year passes in minutes).")
@click.option("--alerts-topic/--no-alerts-topic", default=True, show_default=True,
              help="With --event-time, also mark the port's queue and disruption alerts "
                   "read from the alerts topic: a replay raises and resolves many between "
                   "two scrapes, and the topic holds every transition.")
@click.pass_context
def preview(ctx: click.Context, out: Path, since: str, port_value: str, terminal_value: str,
            site_value: str, topic_value: str, detector_value: str | None,
            series_value: str | None, event_time: bool, step: str | None,
            alerts_topic: bool) -> None:
    """Render every time-series panel to PNG from Prometheus, with an index.html that also
    lists the stat panels' values."""
    try:
        seconds = parse_duration(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    step_s = None
    if step is not None:
        try:
            step_s = parse_duration(step)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--step") from None
        if seconds / step_s > MAX_POINTS:
            raise click.BadParameter(f"{since} in steps of {step} is more than {MAX_POINTS} "
                                     "points: use a longer step", param_hint="--step")
    values = {"port": port_value, "terminal": terminal_value, "site": site_value,
              "topic": topic_value}
    if detector_value is not None:
        values["detector"] = literal_regex(detector_value)
    if series_value is not None:
        values["series"] = literal_regex(series_value)
    settings = settings_from(ctx)
    extra = topic_marks(settings, port_value) if event_time and alerts_topic else []
    try:
        index = preview_dashboards(settings.prom_url, out, since, values,
                                   event_time=event_time, step=step_s, extra_marks=extra)
    except DashboardsError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"preview: {index}")


@dashboards.command("push")
@click.option("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000.")
@click.option("--replays", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Replay runs to annotate (default: {REPLAYS_FILE} in the stack folder; "
                   "a missing file adds none).")
@click.option("--datasource", default=None,
              help="Name (or uid) of the target Grafana's Prometheus datasource the "
                   "dashboards use (default: the provisioned one, else its default or only "
                   "Prometheus datasource).")
@click.pass_context
def push(ctx: click.Context, url: str, replays: Path | None, datasource: str | None) -> None:
    """Upload every dashboard into the Grafana folder "berthwatch" (token from
    BERTHWATCH_GRAFANA_TOKEN) and add one annotation per replay run."""
    settings = settings_from(ctx)
    secret = settings.grafana_token
    token = secret.get_secret_value() if secret is not None else ""
    path = replays if replays is not None else settings.stack_dir / REPLAYS_FILE
    try:
        push_dashboards(url, token, path, report=click.echo, datasource=datasource)
    except DashboardsError as e:
        raise click.ClickException(str(e)) from None
