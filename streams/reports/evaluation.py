"""The evaluation's outputs: ``evaluation.json``, the scoreboard page with one plot per
series, and the terminal table (the numbers are :mod:`streams.offline.evaluation`'s)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from streams.offline.evaluation import (
    EPISODE_GAP_STEPS,
    HELD_OUT,
    NAB_MAIN,
    TUNING,
    Entry,
    Report,
    Series,
    Summary,
    episode_onsets,
)
from streams.offline.window_score import PROFILES
from streams.reports import json_safe
from streams.times import DAY

__all__ = [
    "CONSOLE_HEADER",
    "NAB_HEADER",
    "SCOREBOARD_HEADER",
    "console_rows",
    "console_table",
    "nab_rows",
    "plot_series",
    "scoreboard_rows",
    "write_html",
    "write_json",
    "write_reports",
]


def write_json(report: Report, path: Path) -> None:
    """The whole report as JSON (NaN written as null)."""
    path.write_text(json.dumps(json_safe(report.as_dict()), indent=1, sort_keys=True), "utf-8")


def plot_series(report: Report, s: Series, path: Path, shown: Sequence[str]) -> None:
    """One PNG: values with labelled windows shaded and alert onsets marked (top, one row
    of markers per entry), and the scores of ``shown`` (bottom; baselines as
    ``|z| / threshold`` capped at 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = (s.ts - s.ts[0]) / DAY if len(s.ts) else s.ts
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True, height_ratios=[3, 2])
    ax.plot(days, s.value, lw=0.6, color="#333333")
    for start, end in s.windows:
        for a in (ax, bx):
            a.axvspan(
                (start - s.ts[0]) / DAY,
                (end - s.ts[0]) / DAY,
                color="#f4a261",
                alpha=0.35,
                lw=0,
            )
    colors = ["#d62828", "#1d3557", "#2a9d8f", "#9b5de5"]
    scorings = report.scorings.get(s.name, {})
    for j, name in enumerate(shown):
        sc = scorings.get(name)
        if sc is None:
            continue
        c = colors[j % len(colors)]
        onsets = episode_onsets(s.ts, sc.alert, EPISODE_GAP_STEPS * s.step)
        x = (onsets - s.ts[0]) / DAY
        # one row of markers per entry along the top, so coinciding onsets stay visible
        ax.plot(
            x,
            np.full(len(x), 0.96 - 0.07 * j),
            "v",
            ms=5,
            color=c,
            transform=ax.get_xaxis_transform(),
            label=f"{name} alert onsets",
        )
        bx.plot(days, np.minimum(sc.score, 1.0), lw=0.6, color=c, label=name)
    bx.axhline(0.8, color="#999999", lw=0.5, ls="--")
    ax.set_title(f"{s.name} ({report.split[s.name]})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.86))
    bx.legend(fontsize=7, loc="upper left")
    bx.set_xlabel("days since first point")
    bx.set_ylim(0, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if isinstance(x, float) and math.isnan(x) else f"{x:.{digits}f}"


def _threshold(e: Entry) -> str:
    return "-" if e.threshold is None else f"{e.threshold:g}"


def _nab_threshold(e: Entry) -> str:
    return "-" if e.nab_threshold is None else f"{e.nab_threshold:g}"


def _thresholds(e: Entry) -> str:
    """``F/NAB`` thresholds of a baseline (``-`` for a detector)."""
    return "-" if e.threshold is None else f"{_threshold(e)}/{_nab_threshold(e)}"


def _nab(e: Entry, half: str) -> list[str]:
    """The three NAB profiles' scores of ``half``, one decimal."""
    return [_fmt(e.nab[half][p], 1) for p in PROFILES]


def _details(s: Summary) -> list[str]:
    """R_e, P, hits, false alarms per 1k points and per series-week, mean lateness."""
    return [
        _fmt(s.weighted_recall),
        _fmt(s.precision),
        f"{s.detected}/{s.windows}",
        _fmt(s.false_per_1k_points, 2),
        _fmt(s.false_per_series_week, 2),
        _fmt(s.mean_lateness, 2),
    ]


def scoreboard_rows(report: Report) -> list[list[str]]:
    """Rows of the scoreboard: entry, threshold, then per half score / R_e / P / hits /
    false alarms per 1k points and per series-week / mean lateness."""
    rows = []
    for name, e in report.entries.items():
        row = [name + (" (default)" if name == report.default else ""), e.kind, _threshold(e)]
        for h in (TUNING, HELD_OUT):
            row += [_fmt(e.halves[h].score), *_details(e.halves[h])]
        rows.append(row)
    return rows


def nab_rows(report: Report) -> list[list[str]]:
    """Rows of the window-scoring table: entry, kind, NAB threshold, then per half the
    standard, low-FP and low-FN scores."""
    rows = []
    for name, e in report.entries.items():
        row = [name + (" (default)" if name == report.default else ""), e.kind, _nab_threshold(e)]
        for h in (TUNING, HELD_OUT):
            row += _nab(e, h)
        rows.append(row)
    return rows


def console_rows(report: Report) -> list[list[str]]:
    """A narrower scoreboard for the terminal: both halves' F-scores, held-out details,
    then the held-out NAB scores; a baseline's thresholds as ``F/NAB``."""
    rows = []
    for name, e in report.entries.items():
        t, h = e.halves[TUNING], e.halves[HELD_OUT]
        rows.append(
            [
                name + (" *" if name == report.default else ""),
                _thresholds(e),
                _fmt(t.score),
                _fmt(h.score),
                *_details(h),
                *_nab(e, HELD_OUT),
            ]
        )
    return rows


CONSOLE_HEADER = [
    "entry",
    "thr",
    "tuning",
    "held-out",
    "R_e",
    "P",
    "hit",
    "FA/1k",
    "FA/wk",
    "late",
    "NAB",
    "lowFP",
    "lowFN",
]

SCOREBOARD_HEADER = ["entry", "kind", "thr"] + [
    f"{h} {c}"
    for h in (TUNING, HELD_OUT)
    for c in ("score", "R_e", "P", "hit", "FA/1k", "FA/wk", "late")
]

NAB_HEADER = ["entry", "kind", "NAB thr"] + [
    f"{h} {c}" for h in (TUNING, HELD_OUT) for c in ("standard", "low FP", "low FN")
]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table of text cells, escaped."""
    lines = ["<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(lines) + "</table>"


def write_html(report: Report, folder: Path, shown: Sequence[str]) -> Path:
    """``index.html`` with the scoreboard and one linked PNG per series under ``plots/``."""
    plots = folder / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>berthwatch evaluation</title>",
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}"
        "img{max-width:100%}</style>",
        "<h1>Detection quality</h1>",
        f"<p>Default: <b>{html.escape(report.default)}</b>; held-out score over the better "
        f"baseline's: <b>{_fmt(report.ratio(HELD_OUT), 2)}</b> (tuning "
        f"{_fmt(report.ratio(TUNING), 2)}). {len(report.series)} series, "
        f"evaluation took {report.seconds:.0f} s.</p>",
        _table(SCOREBOARD_HEADER, scoreboard_rows(report)),
        "<h2>Window scoring (NAB profiles)</h2>",
        "<p>The same alert onsets scored as public streaming benchmarks do (0 = never "
        "alerting, 100 = perfect, summed over each half's series first); a baseline's "
        f"threshold here is chosen on the tuning half by NAB {html.escape(NAB_MAIN)}. "
        f"Default's held-out NAB {html.escape(NAB_MAIN)} over the better baseline's: "
        f"<b>{_fmt(report.nab_ratio(HELD_OUT), 2)}</b> (tuning "
        f"{_fmt(report.nab_ratio(TUNING), 2)}).</p>",
        _table(NAB_HEADER, nab_rows(report)),
        "<h2>Series</h2>",
    ]
    for s in report.series:
        png = s.name.replace("/", "__").removesuffix(".csv") + ".png"
        plot_series(report, s, plots / png, shown)
        parts.append(f"<h3>{html.escape(s.name)}</h3><img src='plots/{html.escape(png)}'>")
    out = folder / "index.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def write_reports(report: Report, folder: Path) -> tuple[Path, Path]:
    """``evaluation.json`` and ``index.html`` (with ``plots/``) in ``folder``, created if
    missing; the plots show the default detector and the baseline that did better on the
    tuning half. Returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = folder / "evaluation.json"
    write_json(report, doc)
    page = write_html(report, folder, [report.default, report.best_baseline(TUNING).name])
    return doc, page


def console_table(report: Report) -> Table:
    """The terminal scoreboard (:func:`console_rows` under :data:`CONSOLE_HEADER`)."""
    table = Table(
        title="Detection quality: score = 2PR/(P+R) on each half; "
        "R_e, P, hits, false alarms, lateness and NAB standard / low FP / low FN on the "
        "held-out half; thr = a baseline's F/NAB threshold (* = default)"
    )
    for col in CONSOLE_HEADER:
        table.add_column(col, justify="left" if col == "entry" else "right")
    for row in console_rows(report):
        table.add_row(*row)
    return table
