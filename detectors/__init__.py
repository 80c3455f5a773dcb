"""Vectorized anomaly detectors and the alert policy (pure numpy, no I/O).

>>> sorted(DETECTORS)
['changes', 'composite', 'cusum', 'ewma', 'robust', 'seasonal', 'staleness', 'trend']
"""

from detectors.base import Detector, Result, SeriesRegistry, ratio_to_score
from detectors.changes import Changes
from detectors.composite import CompositeIndex
from detectors.cusum import CUSUM
from detectors.ewma import EWMA
from detectors.policy import AlertPolicy, PolicyResult, Severity, Transition, alert_key
from detectors.robust import RobustEW
from detectors.seasonal import Seasonal
from detectors.staleness import Staleness, StaleReport
from detectors.trend import DampedTrend

#: detector name -> class
DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (EWMA, CUSUM, Seasonal, DampedTrend, Staleness, CompositeIndex, RobustEW, Changes)
}

__all__ = [
    "CUSUM",
    "DETECTORS",
    "EWMA",
    "AlertPolicy",
    "Changes",
    "CompositeIndex",
    "DampedTrend",
    "Detector",
    "PolicyResult",
    "Result",
    "RobustEW",
    "Seasonal",
    "SeriesRegistry",
    "Severity",
    "StaleReport",
    "Staleness",
    "Transition",
    "alert_key",
    "ratio_to_score",
]
