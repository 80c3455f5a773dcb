"""The monthly real-data report: public monthly series (supply-chain pressure, TEU,
inventories to sales) scored by monthly detectors, and what fires in 2020-2022 and why.

The series are read from the shared data folder (``--monthly-data`` of
``berthwatch backtest``); nothing is written. See ``docs/QUALITY.md``, section
"Real monthly series, 2020-2022".
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detectors import CUSUM, EWMA, AlertPolicy, Severity
from streams.times import DAY, iso, iso_or_none, parse_timestamp

__all__ = [
    "MONTHLY_DETECTORS",
    "MONTHLY_SERIES",
    "monthly_report",
    "monthly_series",
    "read_monthly",
]

#: monthly public series: name -> (relative path under the data folder, date column,
#: value column, date format)
MONTHLY_SERIES: dict[str, tuple[str, str, str, str]] = {
    "gscpi": ("gscpi/gscpi_data.csv", "Date", "GSCPI", "%d-%b-%Y"),
    "long-beach-loaded-inbound-teu": (
        "la-lb-teu/port_long_beach_teu.csv",
        "Actual Date",
        "Loaded Inbound",
        "%m/%d/%Y",
    ),
    "us-inventories-to-sales": (
        "fred-inventory/ISRATIO.csv",
        "observation_date",
        "ISRATIO",
        "%Y-%m-%d",
    ),
}


def read_monthly(path: Path, date_col: str, value_col: str, date_fmt: str) -> list[str]:
    """A public monthly CSV as ``timestamp,value`` lines (in memory, never written)."""
    out = ["timestamp,value"]
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            d = (row.get(date_col) or "").strip()
            v = (row.get(value_col) or "").strip()
            if not d:
                continue
            ts = datetime.strptime(d, date_fmt).replace(tzinfo=UTC)
            out.append(f"{iso(ts.timestamp())},{v}")
    return out


MONTH = 30.44 * DAY
#: detectors for monthly series, with explicit parameters (the detectors' defaults are
#: meant for hourly and daily feature points): a CUSUM for sustained shifts against a
#: two-year baseline, an EWMA control chart for single-month outliers against one year
MONTHLY_DETECTORS: dict[str, Callable[[], Any]] = {
    "cusum": lambda: CUSUM(halflife=24 * MONTH, warmup=24, k=1.0, h=8.0, rel_floor=0.01),
    "ewma": lambda: EWMA(halflife=12 * MONTH, warmup=24, z_alarm=3.0, rel_floor=0.01),
}


def monthly_series(lines: Sequence[str], detector: str) -> dict[str, Any]:
    """Score one monthly ``timestamp,value`` CSV (as lines) with a monthly detector.

    Times are read as ``berthwatch detect`` reads them (:func:`streams.times.parse_timestamp`);
    the alert policy fires on 2 of 3 months at score 0.8 and resolves after 2 below 0.5.
    """
    rows = list(csv.DictReader(lines))
    ts = np.array([parse_timestamp(r["timestamp"]) for r in rows], dtype=np.float64)
    val = np.array([float(r["value"]) if r["value"].strip() else math.nan for r in rows])
    det = MONTHLY_DETECTORS[detector]()
    series = np.zeros(len(ts), dtype=np.int64)
    res = det.update(series, ts, val)
    policy = AlertPolicy(detector, severities=[Severity("warning", 0.8, 0.5)],
                         persistence=(2, 3), resolve_after=2, cooldown=0.0)  # fmt: skip
    decided = policy.evaluate(series, ts, res.score, keys=["s"], value=val, result=res)
    return {"ts": ts, "value": val, "score": res.score, "alert": decided.alert,
            "expected": res.expected, "transitions": decided.transitions}  # fmt: skip


def monthly_report(
    data_dir: Path, since: str = "2020-01-01", until: str = "2022-12-31"
) -> list[dict[str, Any]]:
    """Run the detectors on the public monthly series and list what fires in
    ``[since, until]`` and why (value against the baseline, score)."""
    lo, hi = parse_timestamp(since), parse_timestamp(until)
    out: list[dict[str, Any]] = []
    for name, (rel, dcol, vcol, dfmt) in MONTHLY_SERIES.items():
        path = data_dir / rel
        if not path.exists():
            continue
        lines = read_monthly(path, dcol, vcol, dfmt)
        for det in MONTHLY_DETECTORS:
            r = monthly_series(lines, det)
            fired = [
                {
                    "month": (iso_or_none(tr.ts) or "")[:7],
                    "value": tr.value,
                    "expected": tr.expected,
                    "score": tr.score,
                    "why": f"{name}: value {tr.value:.4g} vs baseline {tr.expected:.4g} "
                    f"({det} score {tr.score:.2f})",
                }
                for tr in r["transitions"]
                if tr.state == "firing" and lo <= tr.ts <= hi
            ]
            inside = (r["ts"] >= lo) & (r["ts"] <= hi)
            out.append(
                {
                    "series": name,
                    "detector": det,
                    "fired": fired,
                    "points": len(r["ts"]),
                    "alert_months_in_range": int((r["alert"][inside] > 0).sum()),
                    "ts": r["ts"][inside].tolist(),
                    "value": r["value"][inside].tolist(),
                    "score": r["score"][inside].tolist(),
                }
            )
    return out
