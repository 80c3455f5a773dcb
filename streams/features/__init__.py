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
    "days_of_supply",
    "engine_for",
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
