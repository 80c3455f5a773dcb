"""``berthwatch dashboards``: preview the dashboards from live Prometheus, push them to Grafana.

``preview`` draws every time-series panel with matplotlib from Prometheus's
range queries, so the dashboards can be checked without a Grafana server;
``push`` uploads the generated models into the ``berthwatch`` folder of a
Grafana with grafana-client (the ``[grafana]`` extra).
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import click
import httpx
import numpy as np

from streams.settings import Settings

FOLDER = "berthwatch"
TOKEN_ENV = "BERTHWATCH_GRAFANA_TOKEN"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _dashboards() -> tuple[dict[str, Any], Any]:
    """The dashboards as code (they need the Grafana SDK of the ``[grafana]`` extra)."""
    try:
        from dashboards import DASHBOARDS, substitute
    except ImportError as e:
        raise click.ClickException(
            f"{e.name} is missing: pip install 'berthwatch[grafana]'"
        ) from None
    return dict(DASHBOARDS), substitute


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as ``90m`` or ``1h``.

    >>> parse_duration("1h"), parse_duration("15s")
    (3600, 15)
    """
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 2d")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def _settings(ctx: click.Context) -> Settings:
    from streams.cli import settings_from  # the command line's loader, shared by every command

    return settings_from(ctx)


def _legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend with the series' labels."""
    if not template or template == "__auto":
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return f"{labels.get('__name__', '')}{{{inner}}}"
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return " ".join(text.split()) or "value"


def query_range(client: httpx.Client, prom_url: str, expr: str, start: float, end: float,
                step: int) -> list[dict[str, Any]]:
    """The matrix of a range query; a Prometheus error raises ``click.ClickException``."""
    try:
        resp = client.get(f"{prom_url}/api/v1/query_range",
                          params={"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                  "step": str(step)})
    except httpx.HTTPError as e:
        raise click.ClickException(f"Prometheus at {prom_url} is unreachable ({e}); "
                                   "is the stack up? `berthwatch stack up`") from None
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") \
        else {}
    if body.get("status") != "success":
        raise click.ClickException(
            f"Prometheus rejected {expr!r}: {body.get('error', resp.text[:200])}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _render_panel(panel: dict[str, Any], series: list[tuple[str, list[float], list[float]]],
                  path: Path, since: str, start: float, end: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import UTC

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    try:
        for label, ts, values in series:
            when = np.asarray([round(t * 1000) for t in ts], dtype="datetime64[ms]")
            ax.plot(when, values, label=label, linewidth=1.2)
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off") != "off":
            for step in defaults.get("thresholds", {}).get("steps", []):
                if step.get("value") is not None:
                    ax.axhline(step["value"], color=step.get("color", "red"),
                               linestyle="--", linewidth=1)
        unit = defaults.get("unit", "")
        ax.set_title(f"{panel['title']} (last {since})", fontsize=11)
        if unit and unit not in ("none", "short"):
            ax.set_ylabel(unit)
        window = np.asarray([round(start * 1000), round(end * 1000)], dtype="datetime64[ms]")
        ax.set_xlim(window[0], window[1])
        locator = mdates.AutoDateLocator(tz=UTC)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
        ax.set_xlabel("UTC")
        if defaults.get("min") is not None:
            ax.set_ylim(bottom=defaults["min"])
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8, loc="upper left")
        else:
            ax.text(0.5, 0.9, "no data", transform=ax.transAxes, ha="center", va="center",
                    color="grey")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def preview_dashboards(prom_url: str, out: Path, since: str, values: dict[str, str],
                       now: float | None = None) -> Path:
    """Draw every time-series panel of every dashboard to PNG; return ``out/index.html``."""
    seconds = parse_duration(since)
    end = time.time() if now is None else now
    start = end - seconds
    step = max(15, math.ceil(seconds / 300))
    variables = {"__interval": f"{step}s", "__rate_interval": f"{max(4 * step, 60)}s",
                 "__range": f"{seconds}s", **values}
    DASHBOARDS, substitute = _dashboards()
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    with httpx.Client(timeout=10) as client:
        for uid, build in sorted(DASHBOARDS.items()):
            model = build()
            items = []
            for panel in model.get("panels", []):
                if panel.get("type") != "timeseries":
                    continue
                series = []
                for target in panel.get("targets", []):
                    expr = substitute(target["expr"], variables)
                    for s in query_range(client, prom_url, expr, start, end, step):
                        ts = [float(t) for t, _ in s["values"]]
                        vals = [float(v) for _, v in s["values"]]
                        series.append((_legend(target.get("legendFormat", ""), s["metric"]),
                                       ts, vals))
                name = f"{uid}-{panel['id']:02d}.png"
                _render_panel(panel, series, out / name, since, start, end)
                items.append(f'<figure><img src="{name}" alt="{html.escape(panel["title"])}">'
                             f"<figcaption>{html.escape(panel.get('description', ''))}"
                             "</figcaption></figure>")
            sections.append(f'<section id="{uid}"><h2>{html.escape(model["title"])}</h2>'
                            + "\n".join(items) + "</section>")
    chosen = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
    index = out / "index.html"
    index.write_text(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>berthwatch dashboards"
        "</title><style>body{font-family:sans-serif;margin:2em}figure{margin:1em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:90%}</style></head><body>\n"
        f"<h1>berthwatch dashboards</h1><p>Prometheus {html.escape(prom_url)}, last "
        f"{html.escape(since)} to {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(end))}"
        f"; variables: {html.escape(chosen)}.</p>\n<ul>"
        + "".join(f'<li><a href="#{uid}">{uid}</a></li>' for uid in sorted(DASHBOARDS))
        + "</ul>\n" + "\n".join(sections) + "\n</body></html>\n", encoding="utf-8")
    return index


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
              help="Value of the $port variable (a UN/LOCODE or a regex).")
@click.option("--topic", "topic_value", default=".*", show_default=True,
              help="Value of the $topic variable (a topic name or a regex).")
@click.pass_context
def preview(ctx: click.Context, out: Path, since: str, port_value: str,
            topic_value: str) -> None:
    """Render every time-series panel to PNG from Prometheus, with an index.html."""
    try:
        parse_duration(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    prom_url = _settings(ctx).prom_url
    index = preview_dashboards(prom_url, out, since,
                               {"port": port_value, "topic": topic_value})
    click.echo(f"preview: {index}")


@dashboards.command("push")
@click.option("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000.")
@click.pass_context
def push(ctx: click.Context, url: str) -> None:
    """Upload every dashboard into the Grafana folder "berthwatch" (token from
    BERTHWATCH_GRAFANA_TOKEN)."""
    secret = _settings(ctx).grafana_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        raise click.ClickException(f"no Grafana token: set {TOKEN_ENV} "
                                   "(a service account token with dashboard write access)")
    try:
        from grafana_client import GrafanaApi
        from grafana_client.client import GrafanaException, GrafanaTimeoutError
    except ImportError:
        raise click.ClickException("grafana-client is missing: "
                                   "pip install 'berthwatch[grafana]'") from None
    api = GrafanaApi.from_url(url, credential=token, timeout=10)
    DASHBOARDS, _ = _dashboards()
    try:
        folder_uid = _folder(api)
        for uid, build in sorted(DASHBOARDS.items()):
            api.dashboard.update_dashboard({"dashboard": build(), "folderUid": folder_uid,
                                            "overwrite": True,
                                            "message": "berthwatch dashboards push"})
            click.echo(f"pushed {uid} to {url.rstrip('/')}/d/{uid}")
    except GrafanaTimeoutError:
        raise click.ClickException(f"Grafana at {url} did not answer in time") from None
    except GrafanaException as e:
        raise click.ClickException(f"Grafana at {url} refused: "
                                   f"{e.status_code} {json.dumps(e.message)}") from None
    except OSError as e:  # connection refused, DNS, TLS, timeout (niquests/requests errors)
        raise click.ClickException(f"Grafana at {url} is unreachable: "
                                   f"{type(e).__name__}") from None


def _folder(api: Any) -> str:
    """Uid of the ``berthwatch`` folder, created if missing."""
    for folder in api.folder.get_all_folders():
        if folder.get("title") == FOLDER:
            return str(folder["uid"])
    created = api.folder.create_folder(FOLDER, uid=FOLDER)
    return str(created["uid"])
