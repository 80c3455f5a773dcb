"""The detection stage: feature points in, alert transitions and per-point scores out.

One code path for the numbers: the in-process backtest (``berthwatch
backtest``) and the streaming detection workers both feed
:class:`DetectionStage` with :class:`~streams.features.FeaturePoints` batches in
interval order and get the same :class:`AlertTransition` transitions.

Routing (every parameter is explicit here, see :class:`PipelineConfig`; the
detectors' own defaults are never relied on):

==========================  ==================================================
series family               detectors (route names)
==========================  ==================================================
``vessels_waiting|X``       ``queue_trend``: :class:`~detectors.DampedTrend`
                            towards the anchorage limit of ``X`` (55 for San
                            Pedro Bay)
``dwell_truck_p90|P[|T]``   ``dwell_truck_trend``: trend towards 9 days
``dwell_rail_p90|P[|T]``    ``dwell_rail_trend``: trend towards the rail limit (3 days)
``days_of_supply|S|I``      ``supply_trend``: trend *below* 5 days of supply,
                            alerted per site ``days_of_supply|S`` with the worst items
queue, wait, dwell of a     ``changes``: :class:`~detectors.Changes` on day scale
port or region              (:data:`~streams.detection.config.DAY_SCALE_CHANGES`),
                            alerting on the kinds of
                            :data:`~streams.detection.config.CHANGE_FAMILIES`
                            (level up, ramp up), the kind named in the alert
every series                ``staleness``: :class:`~detectors.Staleness`
port / region               ``composite``: :class:`~detectors.CompositeIndex` of
                            the standardized components of the port or region
==========================  ==================================================

Limits are per series (from the geography, :meth:`PipelineConfig.from_geography`).
A trend detector has one scalar limit, so trend routes see ``value / limit``
against a limit of 1 and the stage scales values, forecasts and bands back for
reports and explanations. A trend route scores nothing while the value is below
``TrendParams.min_level`` of its limit, and nothing before the limit takes effect
(``PipelineConfig.limits_from``, from the geography's ``effective_from``); a series
already past its limit then gets one alert of kind ``past_limit`` (``trend`` for a
projected crossing). Limit routes alert on ports and regions; a terminal's series is
scored and drawn, its port's alert speaks for it. Each route has its own
:class:`~detectors.AlertPolicy` (:class:`PolicyParams`: threshold, k-of-n
persistence, hysteresis, a 30-day quiet period after an alert resolved that only a
clearly worse value breaks); the composite index is scored per group and explained
by its components. Last, the alert budget (:mod:`streams.detection.budget`) publishes
at most one firing per series per 30 days whatever the route: a firing inside that
period is held, and published when the period ends if it is still firing.

Methodology changes (:class:`MethodologyChange`, e.g. the 2021-11-16 change of
how San Pedro Bay counts its queue): from the first interval ending after the
change, every affected series starts a new *epoch*: its detectors continue on
fresh state rows (a re-baseline with a new warm-up), and for ``quiet_s``
seconds its scores are withheld from the alert policy, which keeps its state
(an alert firing before the change neither resolves nor re-fires because of
it); the old epoch's contribution leaves the composite index of its port or
region. A change of counting method is therefore never reported as a
disruption. Changes come from configuration (``PipelineConfig.changes``) or
from a label file's ``counting_change`` events (:meth:`MethodologyChange.from_labels`).

Determinism: points are buffered and processed one interval end at a time,
and the newest interval end is held back until a later one arrives or
:meth:`DetectionStage.flush` is called, so every split of the same points into
batches gives the same transitions, bit for bit. A streaming worker that knows
an interval is complete (every partition's watermark passed it) calls
``flush(until_s)`` to close it without waiting for the next one. The whole
stage (registries, detector and policy state, epochs, buffer) is
:meth:`DetectionStage.snapshot` bytes; checkpoint them with the input offsets.

>>> import numpy as np
>>> from streams.features import FeaturePoints
>>> cfg = PipelineConfig(limits={"vessels_waiting|P": 10.0})
>>> stage = DetectionStage(cfg)
>>> hours = np.arange(24 * 20)
>>> queue = np.where(hours < 24 * 10, 2.0, 2.0 + (hours - 24 * 10) / 24.0)  # +1 ship a day
>>> pts = FeaturePoints(np.full(hours.size, b"vessels_waiting|P"), hours * 3600 + 3600,
...                     queue)
>>> out = stage.process(pts) + stage.flush()
>>> first = next(a for a in out.alerts if a.series == "vessels_waiting|P")
>>> first.state, first.detector, first.kind
('firing', 'changes', 'ramp up')
"""

from streams.detection.config import (
    COMPOSITE_COMPONENTS,
    TREND_ROUTES,
    MethodologyChange,
    PipelineConfig,
    PolicyParams,
    TrendParams,
)
from streams.detection.explain import explain
from streams.detection.outputs import SCORE_FIELDS, AlertTransition, PointScores, StageOutput
from streams.detection.stage import DetectionStage

__all__ = [
    "COMPOSITE_COMPONENTS",
    "SCORE_FIELDS",
    "TREND_ROUTES",
    "AlertTransition",
    "DetectionStage",
    "MethodologyChange",
    "PipelineConfig",
    "PointScores",
    "PolicyParams",
    "StageOutput",
    "TrendParams",
    "explain",
]
