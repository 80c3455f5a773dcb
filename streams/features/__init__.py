"""Feature stage: event-time features from canonical records, pure numpy.

Three engines share one clock discipline (:mod:`streams.features.windows`):

* :class:`VesselFeatures` (AIS positions): ships waiting, arrivals,
  departures, waiting time, per port and region.
* :class:`ContainerFeatures` (terminal events): boxes on terminal, dwell,
  aging boxes, per terminal and port.
* :class:`InventoryFeatures` (stock snapshots): days of supply, drawdown,
  per-site aggregates.

Each engine takes batches of structured arrays (``streams.feeds.codec``
dtypes) and returns :class:`Partials` for the intervals its watermark closes;
:func:`merge_partials` turns partials of one or many engines (one per input
partition) into :class:`FeaturePoints`. Outputs do not depend on how the input
is cut into batches. Every engine can ``snapshot()`` to bytes and
``restore()``. Series names are listed in ``docs/FEATURES.md``.
"""

from typing import Any

from streams.features.containers import ContainerConfig, ContainerFeatures
from streams.features.geofence import Geofence
from streams.features.inventory import InventoryConfig, InventoryFeatures, days_of_supply
from streams.features.vessels import VesselConfig, VesselFeatures, is_ship_mmsi
from streams.features.windows import (
    EventClock,
    FeaturePoints,
    Partials,
    WindowConfig,
    concat_partials,
    concat_points,
    merge_partials,
)
from streams.feeds.codec import Kind

__all__ = [
    "ContainerConfig",
    "ContainerFeatures",
    "EventClock",
    "FeaturePoints",
    "Geofence",
    "InventoryConfig",
    "InventoryFeatures",
    "Partials",
    "VesselConfig",
    "VesselFeatures",
    "WindowConfig",
    "concat_partials",
    "concat_points",
    "days_of_supply",
    "engine_for",
    "interval_of",
    "is_ship_mmsi",
    "merge_partials",
]


Engine = VesselFeatures | ContainerFeatures | InventoryFeatures


def engine_for(kind: Kind, geography: Any) -> Engine:
    """The feature engine of a record kind with its default configuration: the one the
    backtest runs over a whole feed and the workers run per input partition."""
    if kind == Kind.POSITION:
        return VesselFeatures(geography, VesselConfig())
    if kind == Kind.CONTAINER_EVENT:
        return ContainerFeatures(ContainerConfig())
    if kind == Kind.INVENTORY:
        return InventoryFeatures(InventoryConfig())
    raise ValueError(f"no feature engine for {kind.name} records")


def interval_of(kind: Kind) -> int:
    """Interval length (s) of a kind's engine with its default configuration: the clock
    its feature points tick on (an hour for vessels and containers, a day for inventory)."""
    configs = {Kind.POSITION: VesselConfig, Kind.CONTAINER_EVENT: ContainerConfig,
               Kind.INVENTORY: InventoryConfig}
    if kind not in configs:
        raise ValueError(f"no feature engine for {kind.name} records")
    return int(configs[kind]().window.interval_s)
