"""Prometheus's HTTP API as the preview calls it, on a mock transport: the queries it
sends, and every failure a one-line DashboardsError."""

from __future__ import annotations

import sys

import httpx
import pytest

from streams.grafana.models import DashboardsError, load_dashboards
from streams.grafana.prometheus import HttpPrometheus, query_range

pytestmark = pytest.mark.unit

MATRIX = [{"metric": {"port": "USLAX"}, "values": [[1700000000, "3"]]}]


def prometheus(handler: httpx.MockTransport) -> HttpPrometheus:
    return HttpPrometheus(httpx.Client(transport=handler), "http://prom:9090/")


def test_range_and_instant_queries() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "data": {"result": MATRIX}})

    prom = prometheus(httpx.MockTransport(answer))
    assert prom.range("up", 1700000000, 1700003600, 15) == MATRIX
    assert prom.instant("up", 1700003600.5) == MATRIX
    assert seen[0].url.path == "/api/v1/query_range"
    assert dict(seen[0].url.params) == {"query": "up", "start": "1700000000.000",
                                        "end": "1700003600.000", "step": "15"}
    assert seen[1].url.path == "/api/v1/query"
    assert dict(seen[1].url.params) == {"query": "up", "time": "1700003600.500"}


def test_a_rejected_query_is_one_line() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "error": "parse error"})

    with pytest.raises(DashboardsError, match=r"^Prometheus rejected 'up\{': parse error$"):
        prometheus(httpx.MockTransport(answer)).instant("up{", 0)


def test_an_unreachable_prometheus_is_one_line() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    with pytest.raises(DashboardsError, match=r"^Prometheus at http://prom:9090 is "
                                              r"unreachable \(connection refused\); is the "
                                              r"stack up\? `berthwatch stack up`$"):
        query_range(client, "http://prom:9090", "up", 0, 60, 15)


def test_a_missing_grafana_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dashboards", None)  # import dashboards fails
    with pytest.raises(DashboardsError,
                       match=r"^dashboards is missing: pip install 'berthwatch\[grafana\]'$"):
        load_dashboards()
