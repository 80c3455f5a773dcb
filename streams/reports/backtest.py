"""The backtest's outputs: a self-contained HTML page with plots, the JSON file and the
terminal tables (the numbers are :mod:`streams.offline.backtest`'s)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from streams.offline.backtest import BacktestResult
from streams.offline.scoring import SCORED_ROUTES, AlertLoad, LevelLead
from streams.reports import json_safe
from streams.series import family_of
from streams.times import DAY, iso_or_none, minute, parse_timestamp

F64 = NDArray[np.float64]

__all__ = [
    "alert_load_line",
    "level_lead_line",
    "plot_monthly",
    "plot_series",
    "plotted_series",
    "print_alert_load",
    "print_result",
    "write_html",
    "write_json",
    "write_reports",
]


def _fmt(x: float | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals; empty for a missing or non-finite one."""
    if x is None or not math.isfinite(x):
        return ""
    return f"{x:.{digits}f}"


NO_WARNING = "no warning in force when the level was crossed"


def level_lead_line(x: LevelLead) -> str:
    """One line: when ``x.series`` first reached its level and the lead of the warning in
    force then (:func:`streams.offline.scoring.level_lead`).

    >>> print(level_lead_line(LevelLead("q", 40.0, 86400.0 * 20, 86400.0 * 5, 15.0)))
    q: first reached 40 at 1970-01-21 00:00; warning in force since 1970-01-06 00:00; lead 15.0 days
    >>> print(level_lead_line(LevelLead("q", 40.0, 86400.0 * 20, None, None)))
    q: first reached 40 at 1970-01-21 00:00; no warning in force when the level was crossed
    """
    if x.reached is None:
        return f"{x.series}: never reached {x.level:g}"
    head = f"{x.series}: first reached {x.level:g} at {minute(x.reached)}; "
    if x.first_warning is None:
        return head + NO_WARNING
    return head + (
        f"warning in force since {minute(x.first_warning)}; lead {_fmt(x.lead_days)} days"
    )


def alert_load_line(load: AlertLoad) -> str:
    """One line of the alert load (:func:`streams.offline.scoring.alert_load`).

    >>> from streams.offline.scoring import alert_load
    >>> alert_load_line(alert_load([], 0.0, 86400.0 * 90))
    'alert load: no series fired in 90 days'
    """
    if not load.series_fired:
        return f"alert load: no series fired in {load.days:.0f} days"
    return (
        f"alert load: {load.firings} firings on {load.series_fired} series in "
        f"{load.days:.0f} days; firings per series per 90 d: mean "
        f"{load.mean_firings_per_series_per_90d:.2f} (of the series that fired), max "
        f"{load.max_firings_per_series_per_90d:.2f}; {load.refired_within_30d} series "
        "fired more than once within 30 days"
    )


def print_alert_load(load: AlertLoad, console: Console) -> None:
    """The alert load's line and a table of the worst flappers (the series with the most
    firings, their routes and the shortest gap between two firings)."""
    console.print(alert_load_line(load))
    if not load.worst:
        return
    t = Table(title="Worst flappers")
    t.add_column("series", overflow="fold")
    t.add_column("firings", justify="right")
    t.add_column("routes", overflow="fold")
    t.add_column("shortest gap (d)", justify="right")
    for f in load.worst:
        t.add_row(f.series, str(f.firings), ", ".join(f.routes), _fmt(f.shortest_gap_days))
    console.print(t)


def write_reports(
    result: BacktestResult, json_path: Path | None = None, html_path: Path | None = None
) -> list[Path]:
    """The JSON file and the HTML page, each if a path is given; the paths written."""
    written = []
    if json_path is not None:
        write_json(result, json_path)
        written.append(json_path)
    if html_path is not None:
        write_html(result, html_path)
        written.append(html_path)
    return written


def write_json(result: BacktestResult, path: Path) -> None:
    """The summary and every alert transition as JSON (non-finite numbers as null)."""
    doc = result.summary()
    doc["alerts"] = [a.as_dict() for a in result.output.alerts]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(doc), indent=1) + "\n", encoding="utf-8")


def plot_series(result: BacktestResult, key: str) -> str:
    """One PNG (base64) of a series: value, band, limit, windows, alerts, projection, score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fam = family_of(key)
    routes = SCORED_ROUTES.get(fam, ())
    sc = result.output.scores
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )

    def dt(x: F64) -> F64:  # matplotlib date numbers: days since 1970-01-01
        return np.asarray(x, dtype=np.float64) / DAY

    drawn = False
    limit = math.nan
    colors = {"changes": "tab:green"}
    for route in routes:
        s = sc.series(key, route)
        if not len(s["ts"]):
            continue
        if not drawn:
            ax.plot(dt(s["ts"]), s["value"], lw=0.7, color="black", label="value")
            drawn = True
        ok = np.isfinite(s["lower"]) & np.isfinite(s["upper"])
        if ok.any():
            ax.fill_between(
                dt(s["ts"][ok]),
                s["lower"][ok],
                s["upper"][ok],
                alpha=0.15,
                color=colors.get(route, "tab:blue"),
                label=f"{route} band",
            )
        ax2.plot(dt(s["ts"]), s["score"], lw=0.7, color=colors.get(route, "tab:blue"), label=route)
        if route.endswith("trend"):
            limit = result.config.limit_of(route, key)
    if math.isfinite(limit):
        ax.axhline(limit, color="red", ls="--", lw=0.8, label=f"limit {limit:g}")
    for w in result.labels.windows if result.labels else []:
        if w.series == key:
            ax.axvspan(w.onset / DAY, w.end / DAY, color="gold", alpha=0.2)
            if w.limit_crossed:
                ax.axvline(w.limit_crossed / DAY, color="darkorange", lw=0.8)
    for ch in result.config.changes:
        if ch.matches(key):
            ax.axvline(ch.time_s / DAY, color="grey", ls=":", lw=1.0, label="methodology change")
    for e0, e1 in result.episodes.get(key, []):
        ax2.axvspan(e0 / DAY, e1 / DAY, color="red", alpha=0.2)
    for a in result.output.alerts:
        if (
            a.series == key
            and a.state == "firing"
            and math.isfinite(a.crossing_ts)
            and a.eta_seconds > 0
        ):
            lo = a.ts + a.eta_lower if math.isfinite(a.eta_lower) else a.crossing_ts
            hi = a.ts + a.eta_upper if math.isfinite(a.eta_upper) else a.crossing_ts
            c = a.crossing_ts / DAY
            ax.errorbar(
                [c],
                [a.limit],
                xerr=[[c - lo / DAY], [hi / DAY - c]],
                fmt="v",
                color="red",
                ms=6,
                capsize=3,
            )
            ax.annotate(
                "",
                xy=(c, a.limit),
                xytext=(a.ts / DAY, a.value),
                arrowprops={"arrowstyle": "->", "color": "red", "lw": 0.6},
            )
    ax.xaxis_date()
    ax2.xaxis_date()
    ax.set_title(key, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax2.set_ylim(0, 1.05)
    ax2.axhline(0.8, color="grey", lw=0.5, ls=":")
    ax2.set_ylabel("score", fontsize=7)
    ax2.legend(fontsize=6, loc="upper left")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plot_monthly(entry: dict[str, Any]) -> str:
    """One PNG (base64) of a monthly series with red lines at the months an alert starts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.5))
    t = [x / DAY for x in entry["ts"]]
    ax.plot(t, entry["value"], color="black", lw=0.8)
    ax.set_title(f"{entry['series']} ({entry['detector']})", fontsize=9)
    for f in entry["fired"]:
        month = parse_timestamp(f"{f['month']}-01")
        ax.axvline(month / DAY, color="red", lw=0.8)
    ax.xaxis_date()
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plotted_series(result: BacktestResult, limit: int = 24) -> list[str]:
    """Labelled series first, then other series with alert episodes."""
    keys = {k.decode() for k in np.unique(result.points.key)} if len(result.points.key) else set()
    labelled = sorted({w.series for w in (result.labels.windows if result.labels else [])} & keys)
    fams = [k for k in labelled if not k.startswith("days_of_supply")]
    inv = [k for k in labelled if k.startswith("days_of_supply")]
    others = sorted(k for k in result.episodes if k not in labelled and k in keys)
    return (fams + inv[:6] + others)[:limit]


def write_html(result: BacktestResult, path: Path, plots: int = 24) -> None:
    """A self-contained HTML report (PNG plots embedded as base64)."""
    s = result.summary()
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>berthwatch backtest</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
        "padding:2px 6px}th{background:#eee}.no{color:#b00}.yes{color:#070}</style>",
        "</head><body><h1>berthwatch backtest</h1>",
        f"<p>files: {e(', '.join(result.files))}; scenario {e(str(s['scenario']))}, "
        f"seed {e(str(s['seed']))}; {e(str(s['start']))} .. {e(str(s['end']))}; "
        f"{s['feature_points']:,} feature points in {s['series']:,} series.</p>",
    ]
    m = result.metrics
    if m is not None:
        parts.append(
            "<h2>Summary</h2><table><tr><th>windows</th><th>detected</th>"
            "<th>recall</th><th>scored series</th><th>false alarms</th>"
            "<th>false alarms / series / 90 d</th><th>median lead from onset (d)</th>"
            "<th>warning in force at the limit crossing</th>"
            "<th>median lead to limit (d)</th></tr>"
        )
        parts.append(
            f"<tr><td>{m.windows}</td><td>{m.detected}</td><td>{m.recall:.3f}</td>"
            f"<td>{m.scored_series}</td><td>{m.false_alarms}</td>"
            f"<td>{m.false_alarms_per_series_per_90d:.3f}</td>"
            f"<td>{_fmt(m.median_lead_from_onset_days)}</td>"
            f"<td>{m.warned_at_limit} of {m.limit_crossings}</td>"
            f"<td>{_fmt(m.median_lead_to_limit_days)}</td></tr></table>"
        )
        parts.append(
            "<h3>By family</h3><table><tr><th>family</th><th>windows</th>"
            "<th>detected</th><th>series</th><th>false alarms</th>"
            "<th>per series per 90 d</th></tr>"
        )
        for fam, d in m.by_family.items():
            parts.append(
                f"<tr><td>{e(fam)}</td><td>{int(d['windows'])}</td><td>{int(d['detected'])}</td>"
                f"<td>{int(d['series'])}</td><td>{int(d['false_alarms'])}</td>"
                f"<td>{_fmt(d['false_alarms_per_series_per_90d'], 3)}</td></tr>"
            )
        parts.append("</table>")
    load = result.alert_load()
    parts.append(
        "<h2>Alert load</h2><p>Every firing transition (any route), per series per 90 "
        f"days over {load.days:.0f} days: {load.firings} firings on "
        f"{load.series_fired} series; mean {load.mean_firings_per_series_per_90d:.2f} "
        "(of the series that fired), max "
        f"{load.max_firings_per_series_per_90d:.2f}; {load.refired_within_30d} series "
        "fired more than once within 30 days.</p>"
    )
    if load.worst:
        parts.append(
            "<h3>Worst flappers</h3><table><tr><th>series</th><th>firings</th>"
            "<th>routes</th><th>shortest gap between two firings (d)</th></tr>"
        )
        for f in load.worst:
            parts.append(
                f"<tr><td>{e(f.series)}</td><td>{f.firings}</td>"
                f"<td>{e(', '.join(f.routes))}</td><td>{_fmt(f.shortest_gap_days)}</td></tr>"
            )
        parts.append("</table>")
    if result.level_leads:
        parts.append(
            "<h2>Warning before a level</h2><p>Lead from the start of the warning still in "
            "force when the level was first reached (renewed without a gap of more than "
            "3 days), not from an earlier warning that had ended.</p><table><tr>"
            "<th>series</th><th>level</th><th>reached</th><th>warning in force since</th>"
            "<th>lead (d)</th></tr>"
        )
        for x in result.level_leads:
            missing = x.reached is not None and x.first_warning is None
            lead = NO_WARNING if missing else _fmt(x.lead_days)
            parts.append(
                f"<tr><td>{e(x.series)}</td><td>{x.level:g}</td>"
                f"<td>{iso_or_none(x.reached)}</td><td>{iso_or_none(x.first_warning) or ''}</td>"
                f"<td>{lead}</td></tr>"
            )
        parts.append("</table>")
    if result.windows:
        parts.append(
            "<h2>Labelled windows</h2><p>Lead from onset: from the first warning "
            "overlapping the window; lead to limit: from the start of the warning in force "
            "when the limit was crossed (renewed without a gap of more than 3 days), empty "
            "when none was.</p><table><tr><th>series</th><th>kind</th>"
            "<th>onset</th><th>end</th><th>limit crossed</th><th>detected</th>"
            "<th>first warning</th><th>lead from onset (d)</th>"
            "<th>warning in force at limit</th><th>lead to limit (d)</th></tr>"
        )
        for w in result.windows:
            cls = "yes" if w.detected else "no"
            if not w.observed:
                parts.append(
                    f"<tr><td>{e(w.series)}</td><td>{e(w.kind)}</td><td>{iso_or_none(w.onset)}</td>"
                    f"<td>{iso_or_none(w.end)}</td><td>{iso_or_none(w.limit_crossed) or ''}</td>"
                    "<td colspan='5'>series not in the features: not scored</td></tr>"
                )
                continue
            parts.append(
                f"<tr><td>{e(w.series)}</td><td>{e(w.kind)}</td><td>{iso_or_none(w.onset)}</td>"
                f"<td>{iso_or_none(w.end)}</td><td>{iso_or_none(w.limit_crossed) or ''}</td>"
                f"<td class='{cls}'>{'yes' if w.detected else 'no'}</td>"
                f"<td>{iso_or_none(w.first_warning) or ''}</td>"
                f"<td>{_fmt(w.lead_from_onset_days)}</td>"
                f"<td>{iso_or_none(w.warning_at_limit) or ''}</td>"
                f"<td>{_fmt(w.lead_to_limit_days)}</td></tr>"
            )
        parts.append("</table>")
    fa = {k: v for k, v in result.false_alarms.items() if v}
    if fa:
        parts.append(
            "<h3>False alarms by series</h3><table><tr><th>series</th>"
            "<th>episodes outside labelled windows</th></tr>"
        )
        for k, v in sorted(fa.items(), key=lambda kv: -kv[1])[:50]:
            parts.append(f"<tr><td>{e(k)}</td><td>{v}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Alerts</h2><p>First 200 firing transitions, with explanations.</p><ul>")
    fires = [a for a in result.output.alerts if a.state == "firing"]
    for a in fires[:200]:
        parts.append(f"<li><code>{e(a.key)}</code> {e(a.explanation)}</li>")
    parts.append(
        "</ul><h2>Series</h2><p>Value (black), baseline band (shaded), limit "
        "(red dashes), labelled windows (yellow), limit crossing of the label (orange "
        "line), methodology changes (grey dots), projected crossing at each warning "
        "(red triangle with interval); "
        "lower panel: scores and alert episodes (red).</p>"
    )
    for key in plotted_series(result, plots):
        parts.append(
            f"<h3>{e(key)}</h3><img src='data:image/png;base64,{plot_series(result, key)}'>"
        )
    if result.monthly:
        parts.append(
            "<h2>Real monthly series, 2020-2022</h2><p>Public monthly series run "
            "through <code>berthwatch detect</code>'s scoring; months where an alert "
            "starts are listed (red lines).</p><table><tr><th>series</th>"
            "<th>detector</th><th>alert starts 2020-2022</th>"
            "<th>alert months</th></tr>"
        )
        for m_ in result.monthly:
            fired = ", ".join(
                f"{f['month']} (value {f['value']:.4g}, score {f['score']:.2f})"
                for f in m_["fired"]
            )
            parts.append(
                f"<tr><td>{e(m_['series'])}</td><td>{e(m_['detector'])}</td>"
                f"<td>{e(fired) or 'none'}</td>"
                f"<td>{m_['alert_months_in_range']}</td></tr>"
            )
        parts.append("</table>")
        for m_ in result.monthly:
            parts.append(f"<img src='data:image/png;base64,{plot_monthly(m_)}'>")
    parts.append(
        f"<h2>Run</h2><pre>{e(json.dumps(s['timings_seconds']))}\n"
        f"{e(json.dumps(s['feed_method']))}</pre></body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def print_result(result: BacktestResult, console: Console) -> None:
    """The terminal report: labelled windows, quality by family, leads before levels, the
    alert load and its worst flappers."""
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
                minute(w.onset),
                ("[green]yes" if w.detected else "[red]no") if w.observed else "not in features",
                minute(w.first_warning),
                _fmt(w.lead_from_onset_days),
                _fmt(w.lead_to_limit_days),
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
                _fmt(d["recall"], 3),
                str(int(d["series"])),
                str(int(d["false_alarms"])),
                _fmt(d["false_alarms_per_series_per_90d"], 3),
            )
        s.add_row(
            "all",
            str(m.windows),
            str(m.detected),
            _fmt(m.recall, 3),
            str(m.scored_series),
            str(m.false_alarms),
            _fmt(m.false_alarms_per_series_per_90d, 3),
            style="bold",
        )
        console.print(s)
        if m.unobserved:
            console.print(
                f"{m.unobserved} labelled window(s) on series the features do not produce "
                "(not counted in the recall)"
            )
        if m.limit_crossings:
            console.print(
                f"a warning in force at {m.warned_at_limit} of {m.limit_crossings} labelled "
                f"limit crossings (median lead {_fmt(m.median_lead_to_limit_days)} days)"
            )
    for x in result.level_leads:
        console.print(level_lead_line(x))
    print_alert_load(result.alert_load(), console)
    fired = sum(1 for a in result.output.alerts if a.state == "firing")
    times = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"{fired} alerts fired; {times}")
