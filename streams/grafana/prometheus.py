"""Prometheus as the preview reads it: range and instant queries over HTTP, durations,
literal label regexes and a matrix series as arrays."""

from __future__ import annotations

import re
from typing import Any, Protocol

import httpx
import numpy as np

from streams.grafana.models import DashboardsError

MAX_POINTS = 11_000
"""Prometheus refuses range queries of more points per series than this."""
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as ``90m`` or ``1h``.

    >>> parse_duration("1h"), parse_duration("15s")
    (3600, 15)
    """
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 2d")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def literal_regex(value: str) -> str:
    r"""A literal label value as the body of a PromQL ``=~"..."`` regex, as Grafana
    formats a variable: regex metacharacters escaped, backslashes doubled for the string.

    >>> print(literal_regex("vessels_waiting|USLAX"))
    vessels_waiting\\|USLAX
    """
    return re.escape(value).replace("\\", "\\\\")


class Prometheus(Protocol):
    """The two queries the preview makes (a fake in tests, HTTP otherwise)."""

    def range(self, expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        """The matrix of a range query."""

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        """The vector of an instant query."""


class HttpPrometheus:
    """Prometheus's HTTP API; an error is one line (:class:`DashboardsError`)."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url = client, url.rstrip("/")

    def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            resp = self.client.get(f"{self.url}{path}", params=params)
        except httpx.HTTPError as e:
            raise DashboardsError(f"Prometheus at {self.url} is unreachable ({e}); "
                                  "is the stack up? `berthwatch stack up`") from None
        ctype = resp.headers.get("content-type", "")
        body = resp.json() if ctype.startswith("application/json") else {}
        if body.get("status") != "success":
            raise DashboardsError(f"Prometheus rejected {params['query']!r}: "
                                  f"{body.get('error', resp.text[:200])}")
        return body["data"]["result"]

    def range(self, expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            "/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                    "end": f"{end:.3f}", "step": str(step)})
        return result

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/query",
                                                 {"query": expr, "time": f"{at:.3f}"})
        return result


def query_range(client: httpx.Client, prom_url: str, expr: str, start: float, end: float,
                step: int) -> list[dict[str, Any]]:
    """The matrix of a range query; a Prometheus error raises :class:`DashboardsError`."""
    return HttpPrometheus(client, prom_url).range(expr, start, end, step)


def series_arrays(values: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The times and values of one series of a range query's matrix, as float arrays.

    >>> ts, vals = series_arrays([[1700000000, "1.5"], [1700000015, "NaN"]])
    >>> ts.tolist(), vals.tolist()
    ([1700000000.0, 1700000015.0], [1.5, nan])
    """
    ts = np.asarray([float(t) for t, _ in values], dtype=float)
    vals = np.asarray([float(v) for _, v in values], dtype=float)
    return ts, vals
