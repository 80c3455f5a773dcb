"""One panel drawn with matplotlib as Grafana would show it: lines, bands, thresholds
and alert marks on a wall- or event-time axis."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend with the series' labels.

    >>> legend("{{port}} p{{quantile}}", {"port": "USLAX", "quantile": "0.9"})
    'USLAX p0.9'
    >>> legend("__auto", {"__name__": "up", "job": "worker"})
    'up{job="worker"}'
    """
    if not template or template == "__auto":
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return f"{labels.get('__name__', '')}{{{inner}}}"
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return " ".join(text.split()) or "value"


@dataclass
class Line:
    """One series of a panel: its legend, labels and points (x in seconds, wall or event)."""

    label: str
    labels: dict[str, str]
    x: np.ndarray
    y: np.ndarray


@dataclass
class PanelPlot:
    """What one time-series panel draws."""

    uid: str
    panel: dict[str, Any]
    lines: list[Line]
    marks: list[tuple[float, str]]
    xlim: tuple[float, float]
    event_time: bool


def format_value(value: float, unit: str) -> str:
    """A stat panel's value as Grafana would show it, roughly.

    >>> format_value(1.6348608e12, "dateTimeAsIso"), format_value(90061, "s")
    ('2021-10-22 00:00:00', '1d 1h 1m')
    >>> format_value(0.25, "percentunit"), format_value(42.0, "none")
    ('25.0%', '42')
    """
    if not math.isfinite(value):
        return "-"
    if unit.startswith("dateTime"):
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if unit == "s":
        sign, rest = ("-" if value < 0 else ""), abs(round(float(value)))
        parts = [(rest // 86400, "d"), (rest % 86400 // 3600, "h"), (rest % 3600 // 60, "m")]
        text = " ".join(f"{n}{u}" for n, u in parts if n) or f"{rest}s"
        return sign + text
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def render_panel(plot: PanelPlot, path: Path, since: str) -> None:
    """Draw ``plot`` to the PNG ``path``; the title says the range (``since``) it covers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def when(seconds: np.ndarray) -> np.ndarray:
        # a date matplotlib can draw (years 1..9999), or NaT
        ok = np.isfinite(seconds) & (np.abs(seconds) < 253_402_300_800)
        ms = np.where(ok, np.round(seconds * 1000), 0).astype("int64")
        return np.where(ok, ms.astype("datetime64[ms]"), np.datetime64("NaT"))

    panel = plot.panel
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit", "")
    date_values = unit.startswith("dateTime")
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    try:
        drawn = {}
        for line in plot.lines:
            y = when(line.y / 1000) if date_values else line.y
            (drawn[line.label],) = ax.plot(when(line.x), y, label=line.label, linewidth=1.2)
        _fill_bands(ax, panel, plot.lines, when)
        if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off") != "off":
            for step in defaults.get("thresholds", {}).get("steps", []):
                if step.get("value") is not None:
                    ax.axhline(step["value"], color=step.get("color", "red"),
                               linestyle="--", linewidth=1)
        colors: dict[str, Any] = {}
        for x, detector in plot.marks:
            first = detector not in colors
            colors.setdefault(detector, plt.get_cmap("tab10")(len(colors) % 10))
            ax.axvline(when(np.array([x]))[0], color=colors[detector], linestyle=":",
                       linewidth=1, label=f"alert {detector}" if first else None)
        axis = "event time" if plot.event_time else "wall time"
        ax.set_title(f"{panel['title']} ({axis}, last {since} of wall time)", fontsize=11)
        if unit and unit not in ("none", "short") and not date_values:
            ax.set_ylabel(unit)
        ax.set_xlim(*when(np.array(plot.xlim)))
        locator = mdates.AutoDateLocator(tz=UTC)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
        ax.set_xlabel(f"{axis} (UTC)")
        if defaults.get("min") is not None and not date_values:
            ax.set_ylim(bottom=defaults["min"])
        ax.grid(alpha=0.3)
        if plot.lines or plot.marks:
            ax.legend(fontsize=8, loc="upper left")
        if not plot.lines:
            ax.text(0.5, 0.9, "no data", transform=ax.transAxes, ha="center", va="center",
                    color="grey")
        with warnings.catch_warnings():  # a long legend can leave no room: draw anyway
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _fill_bands(ax: Any, panel: dict[str, Any], lines: list[Line],
                when: Callable[[np.ndarray], np.ndarray]) -> None:
    """Grafana's ``custom.fillBelowTo`` overrides: fill between two series by legend."""
    by_label = {line.label: line for line in lines}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        upper = by_label.get(matcher.get("options")) if matcher.get("id") == "byName" else None
        for prop in override.get("properties", []):
            if upper is None or prop.get("id") != "custom.fillBelowTo":
                continue
            lower = by_label.get(prop.get("value"))
            if lower is None or upper.x.size < 2 or lower.x.size < 2:
                continue
            order = np.argsort(lower.x)
            under = np.interp(upper.x, lower.x[order], lower.y[order], left=np.nan,
                              right=np.nan)
            ax.fill_between(when(upper.x), under, upper.y, alpha=0.2, linewidth=0)
