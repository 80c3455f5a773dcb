"""Reports of offline runs, for people: HTML pages with plots, terminal tables and JSON
files of the backtest (:mod:`.backtest`) and the detector evaluation (:mod:`.evaluation`).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["json_safe"]


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (in dicts, lists and tuples) as None, so the
    JSON written is standard (null, not NaN).

    >>> json_safe({"a": [1.0, float("nan")], "b": (float("inf"), "x")})
    {'a': [1.0, None], 'b': [None, 'x']}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj
