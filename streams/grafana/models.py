"""The dashboards as code, as preview and push load them, and this package's error."""

from __future__ import annotations

from typing import Any


class DashboardsError(Exception):
    """An expected failure of a preview or a push, said in one line (a missing extra,
    an unreachable or refusing Prometheus or Grafana)."""


def load_dashboards() -> tuple[dict[str, Any], Any]:
    """The dashboards (uid -> model builder) and their variable substitution; they need
    the Grafana SDK of the ``[grafana]`` extra."""
    try:
        from dashboards import DASHBOARDS, substitute
    except ImportError as e:
        raise DashboardsError(f"{e.name} is missing: pip install 'berthwatch[grafana]'") from None
    return dict(DASHBOARDS), substitute
