"""berthwatch's Grafana dashboards, kept as code and generated to JSON.

Each dashboard is one module with a ``UID`` and a ``build()`` returning its JSON
model; :data:`DASHBOARDS` lists them. ``python -m dashboards`` (or
:func:`generate`) writes ``dashboards/json/<uid>.json``, which Grafana's file
provisioning loads (deploy/grafana/provisioning/dashboards). Output is
deterministic: sorted keys, panel ids numbered in layout order, so regenerating
changes nothing unless the code changed.

To add a dashboard: a module with ``UID`` and ``build()``, one line in
:data:`DASHBOARDS`, then ``python -m dashboards``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dashboards import detector_drilldown, pipeline_health, port_overview
from dashboards.common import DATASOURCE_UID

__all__ = ["DASHBOARDS", "DATASOURCE_UID", "JSON_DIR", "expressions", "generate",
           "render", "substitute"]

JSON_DIR = Path(__file__).with_name("json")

DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    port_overview.UID: port_overview.build,
    detector_drilldown.UID: detector_drilldown.build,
    pipeline_health.UID: pipeline_health.build,
}


def render(model: dict[str, Any]) -> str:
    """A dashboard's JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def generate(out_dir: Path = JSON_DIR) -> list[Path]:
    """Write every dashboard to ``out_dir/<uid>.json`` and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, build in sorted(DASHBOARDS.items()):
        path = out_dir / f"{uid}.json"
        path.write_text(render(build()), encoding="utf-8")
        written.append(path)
    return written


def expressions(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every PromQL expression of a dashboard: (where, expr) for targets and annotations."""
    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for ann in model.get("annotations", {}).get("list", []):
        if "expr" in ann:
            yield f"annotation {ann['name']!r}", ann["expr"]


# A variable name starts with a letter or "_": label_replace's "$1" is not one.
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` with ``values[name]``; unknown names fail.

    >>> substitute('rate(x{port=~"$port"}[$__rate_interval])',
    ...            {"port": "USLAX", "__rate_interval": "1m"})
    'rate(x{port=~"USLAX"}[1m])'
    >>> substitute('label_replace(x, "p", "$1", "s", "(.*)")', {})
    'label_replace(x, "p", "$1", "s", "(.*)")'
    """
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(one, expr)
