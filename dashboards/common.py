"""Shared pieces of every berthwatch dashboard: the datasource, query and panel builders.

Dashboards are written with grafana-foundation-sdk, the typed builders Grafana
generates from its own schemas. A dashboard module only says what to show; the
helpers here fix what must be the same everywhere (the Prometheus datasource
uid, the legend, the grid).
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m

DATASOURCE_UID = "berthwatch-prometheus"
"""Uid of the Prometheus datasource in deploy/grafana/provisioning/datasources."""

SCHEMA_VERSION = 39
"""Dashboard JSON schema version (Grafana 11)."""

# Anchorage grounds of San Pedro Bay; the same limit as BerthwatchAnchoragesFull.
ANCHORAGE_LIMIT = 55
# Share of dead letters that fires BerthwatchDeadLetterRateHigh.
DEAD_LETTER_RATIO_LIMIT = 0.05


def datasource() -> dash_m.DataSourceRef:
    """The provisioned Prometheus datasource."""
    return dash_m.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)


def query(expr: str, legend: str = "__auto", ref_id: str = "A",
          instant: bool = False) -> prom_b.Dataquery:
    """A Prometheus target; ``legend`` uses Grafana's ``{{label}}`` templates."""
    q = (prom_b.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id)
         .datasource(datasource()))
    return q.instant() if instant else q.range()


def thresholds(*steps: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (from minus infinity)."""
    return (dash_b.ThresholdsConfig().mode(dash_m.ThresholdsMode.ABSOLUTE)
            .steps([dash_m.Threshold(value=v, color=c) for v, c in steps]))


def timeseries(title: str, description: str, targets: list[prom_b.Dataquery], unit: str,
               width: int = 12, height: int = 8, limit: float | None = None,
               min_value: float | None = 0) -> ts_b.Panel:
    """A time-series panel; ``limit`` draws a red dashed threshold line at that value."""
    panel = (
        ts_b.Panel().title(title).description(description).datasource(datasource())
        .unit(unit).span(width).height(height).line_width(1).fill_opacity(10)
        .legend(common_b.VizLegendOptions().show_legend(True)
                .display_mode(common_m.LegendDisplayMode.TABLE)
                .placement(common_m.LegendPlacement.BOTTOM)
                .calcs(["lastNotNull", "max"]))
        .tooltip(common_b.VizTooltipOptions().mode(common_m.TooltipDisplayMode.MULTI)
                 .sort(common_m.SortOrder.DESCENDING))
    )
    if min_value is not None:
        panel = panel.min(min_value)
    for i, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + i)))
    if limit is not None:
        panel = (panel.thresholds(thresholds((None, "green"), (limit, "red")))
                 .thresholds_style(common_b.GraphThresholdsStyleConfig()
                                   .mode(common_m.GraphTresholdsStyleMode.DASHED)))
    return panel


def stat(title: str, description: str, targets: list[prom_b.Dataquery], unit: str,
         width: int = 6, height: int = 4, limit: float | None = None) -> stat_b.Panel:
    """A single-value panel showing the last value of each series."""
    panel = (
        stat_b.Panel().title(title).description(description).datasource(datasource())
        .unit(unit).span(width).height(height)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common_m.BigValueGraphMode.NONE)
        .color_mode(common_m.BigValueColorMode.VALUE)
    )
    for i, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + i)).instant())
    steps: list[tuple[float | None, str]] = [(None, "green")]
    if limit is not None:
        steps.append((limit, "red"))
    return panel.thresholds(thresholds(*steps))


def label_variable(name: str, label: str, metric: str) -> dash_b.QueryVariable:
    """A multi-value variable over one label of a metric, with "All" as ``.*``."""
    return (
        dash_b.QueryVariable(name).label(label).datasource(datasource())
        .query(f"label_values({metric}, {name})")
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
        .multi(True).include_all(True).all_value(".*")
        .current(dash_m.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def alert_annotation(name: str, expr: str, color: str) -> dict[str, Any]:
    """An annotation from Prometheus's ``ALERTS`` series, one marker per firing alert.

    The SDK's AnnotationQuery has no fields for the Prometheus annotation options
    (title and text templates, step), so they are added to its JSON here.
    """
    ann: dict[str, Any] = to_plain(
        dash_b.AnnotationQuery().name(name).datasource(datasource()).enable(True)
        .icon_color(color).expr(expr).build())
    ann.update({
        "step": "60s",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{severity}} {{port}} {{topic}} {{instance}}",
        "tagKeys": "severity,category",
        "useValueForTime": False,
    })
    return ann


def finish(builder: dash_b.Dashboard, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """The dashboard's JSON model with stable panel ids (1, 2, ... in layout order)."""
    model: dict[str, Any] = to_plain(builder.build().to_json())
    for i, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = i
    model["id"] = None
    model["schemaVersion"] = SCHEMA_VERSION
    builtin = {
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts", "type": "dashboard",
    }
    model["annotations"] = {"list": [builtin, *annotations]}
    return model


def to_plain(value: Any) -> Any:
    """SDK objects (anything with ``to_json``) and enums as plain JSON values."""
    if hasattr(value, "to_json"):
        return to_plain(value.to_json())
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    return value
