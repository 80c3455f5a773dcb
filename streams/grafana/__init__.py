"""Berthwatch's Grafana dashboards off Grafana: previewed from Prometheus, pushed to a Grafana.

The dashboards themselves are code in the top-level :mod:`dashboards` package; this
package reads them. :mod:`~streams.grafana.prometheus` queries Prometheus,
:mod:`~streams.grafana.clock` maps wall time to event time,
:mod:`~streams.grafana.marks` finds where alerts started,
:mod:`~streams.grafana.render` draws a panel, :mod:`~streams.grafana.preview` draws
every dashboard with an index page, and :mod:`~streams.grafana.push` uploads them with
one annotation per replay run. Every expected failure is a
:class:`~streams.grafana.models.DashboardsError` of one line.
"""
