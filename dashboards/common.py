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
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m

DATASOURCE_UID = "berthwatch-prometheus"
"""Uid of the Prometheus datasource in deploy/grafana/provisioning/datasources."""

SCHEMA_VERSION = 39
"""Dashboard JSON schema version (Grafana 11)."""

# Limits drawn as dashed lines; each is the same number as an alert rule in
# deploy/prometheus/rules/ or a detector setting (tests/dashboards checks the rules').
ANCHORAGE_LIMIT = 55
"""Anchorage grounds of San Pedro Bay (BerthwatchAnchoragesFull, ships)."""
DEAD_LETTER_RATIO_LIMIT = 0.05
"""Share of dead letters that fires BerthwatchDeadLetterRateHigh."""
TRUCK_DWELL_LIMIT_S = 9 * 86400
"""Truck excess-dwell threshold, 9 days in seconds (BerthwatchTruckDwellHigh)."""
SUPPLY_LIMIT_DAYS = 5
"""Days of supply under which an item is short (BerthwatchDaysOfSupplyLow)."""
DISRUPTION_INDEX_ALARM = 3
"""Disruption index at which the composite index alarms (berthwatch_disruption_index)."""
SCORE_WARNING = 0.8
"""Detector score at which a detector warns (berthwatch_detector_score)."""
CONSUMER_LAG_LIMIT = 10000
"""Records behind at which BerthwatchConsumerLagHigh watches the backlog."""
CHECKPOINT_AGE_LIMIT_S = 900
"""Checkpoint age that fires BerthwatchCheckpointTooOld while a worker reads."""

DRILLDOWN_UID = "detector-drilldown"
"""Uid of the detector drill-down dashboard, the target of the alert links."""
REPLAY_TAGS = ["berthwatch", "replay"]
"""Tags of the replay annotations ``berthwatch dashboards push`` adds (one per replay run)."""


def series_of_port(port: str = "$port", terminal: str = "$terminal") -> str:
    r"""Regex (as a PromQL string body) for the series keys of a port and its terminals.

    Series keys are ``family|X`` (a port or region) or ``family|P|T`` (a terminal of
    port P): this matches the port's own series and those of the chosen terminals.

    >>> print(series_of_port())
    [^|]+\\|($port)(\\|($terminal))?
    >>> import re
    >>> rx = re.compile(series_of_port("USLAX", ".*").replace("\\\\", "\\"))
    >>> [bool(rx.fullmatch(k)) for k in ("vessels_waiting|USLAX", "dwell_truck_p90|USLAX|APMT",
    ...                                  "vessels_waiting|USLGB", "days_of_supply|S1|I1")]
    [True, True, False, False]
    """
    return f"[^|]+\\\\|({port})(\\\\|({terminal}))?"


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


Props = list[tuple[str, Any]]
"""Field config properties of an override: (id, value), e.g. ("custom.fillBelowTo", "lower")."""


def data_link(title: str, url: str) -> dash_b.DashboardLink:
    """A data link (click on a point or a value); ``url`` may use Grafana's ``${__...}``."""
    return dash_b.DashboardLink(title).type(dash_m.DashboardLinkType.LINK).url(url)


def dashboard_link(title: str, uid: str) -> dash_b.DashboardLink:
    """A link in the dashboard's header to another dashboard, keeping the time range."""
    return (dash_b.DashboardLink(title).type(dash_m.DashboardLinkType.LINK).url(f"/d/{uid}")
            .keep_time(True).include_vars(False).icon("dashboard"))


def drilldown_url(detector: str = "${__field.labels.detector:percentencode}",
                  series: str = "${__field.labels.series:percentencode}") -> str:
    """The drill-down at a detector and series (URL-encoded: series keys hold ``|``) and
    the clicked panel's time range."""
    return (f"/d/{DRILLDOWN_UID}?var-detector={detector}&var-series={series}"
            "&from=${__from}&to=${__to}")


def _override_values(props: Props) -> list[dash_m.DynamicConfigValue]:
    return [dash_m.DynamicConfigValue(id_val=k, value=v) for k, v in props]


def timeseries(title: str, description: str, targets: list[prom_b.Dataquery], unit: str,
               width: int = 12, height: int = 8, limit: float | None = None,
               min_value: float | None = 0, max_value: float | None = None,
               links: list[Builder[dash_m.DashboardLink]] | None = None,
               overrides: dict[str, Props] | None = None) -> ts_b.Panel:
    """A time-series panel; ``limit`` draws a red dashed threshold line at that value,
    ``overrides`` maps a series' display name to field properties."""
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
    if max_value is not None:
        panel = panel.max(max_value)
    for i, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + i)))
    if limit is not None:
        panel = (panel.thresholds(thresholds((None, "green"), (limit, "red")))
                 .thresholds_style(common_b.GraphThresholdsStyleConfig()
                                   .mode(common_m.GraphTresholdsStyleMode.DASHED)))
    if links:
        panel = panel.data_links(links)
    for name, props in (overrides or {}).items():
        panel = panel.override_by_name(name, _override_values(props))
    return panel


def stat(title: str, description: str, targets: list[prom_b.Dataquery], unit: str,
         width: int = 6, height: int = 4, limit: float | None = None,
         links: list[Builder[dash_m.DashboardLink]] | None = None) -> stat_b.Panel:
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
    if links:
        panel = panel.data_links(links)
    return panel.thresholds(thresholds(*steps))


def label_variable(name: str, label: str, metric: str, selector: str = "",
                   multi: bool = True) -> dash_b.QueryVariable:
    """A variable over the label ``name`` of a metric, as ``label_values(metric{selector},
    name)``; multi-value with "All" as ``.*``, or a single value (the first by default)."""
    source = f"{metric}{{{selector}}}" if selector else metric
    var = (
        dash_b.QueryVariable(name).label(label).datasource(datasource())
        .query(f"label_values({source}, {name})")
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
    )
    if not multi:
        return var.multi(False).include_all(False)
    return (var.multi(True).include_all(True).all_value(".*")
            .current(dash_m.VariableOption(selected=True, text=["All"], value=["$__all"])))


def alert_annotation(name: str, expr: str, color: str, title: str = "{{alertname}}",
                     text: str = "{{severity}} {{port}} {{topic}} {{instance}}",
                     tags: str = "severity,category") -> dict[str, Any]:
    """An annotation from a Prometheus query, one marker per firing alert (region while
    the series has values): Prometheus's ``ALERTS`` or ``berthwatch_alert_active > 0``.

    The SDK's AnnotationQuery has no fields for the Prometheus annotation options
    (title and text templates, step), so they are added to its JSON here.
    """
    ann: dict[str, Any] = to_plain(
        dash_b.AnnotationQuery().name(name).datasource(datasource()).enable(True)
        .icon_color(color).expr(expr).build())
    ann.update({
        "step": "60s",
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": tags,
        "useValueForTime": False,
    })
    return ann


def replay_annotation() -> dict[str, Any]:
    """Grafana's own annotations tagged as replay runs (added by ``dashboards push``)."""
    ann: dict[str, Any] = to_plain(
        dash_b.AnnotationQuery().name("Replays")
        .datasource(dash_m.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True).icon_color("purple")
        .target(dash_b.AnnotationTarget().type("tags").tags(REPLAY_TAGS).match_any(False)
                .limit(100))
        .build())
    return ann


def finish(builder: dash_b.Dashboard, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """The dashboard's JSON model with stable panel ids (1, 2, ... in layout order)
    and, after the built-in one, ``annotations`` and the replay runs."""
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
    model["annotations"] = {"list": [builtin, *annotations, replay_annotation()]}
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
