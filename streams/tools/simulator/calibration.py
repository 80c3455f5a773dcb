"""Calibration figures for the ``san-pedro-bay-2021`` scenario, each with its source.

The figures are facts from public reporting (``FACTS.md`` of the shared data
folder) or official monthly TEU statistics (``la-lb-teu/``). They are copied
here as constants: the simulator never reads the data folder at run time.
Points between the published figures are interpolations; values marked
*assumption* are modelling choices, not published figures.

>>> float(curve_at(WAITING_SPB, np.array([iso_to_epoch("2022-01-09")]))[0])
109.0
"""

from __future__ import annotations

import numpy as np

from streams.times import iso, parse_timestamp

__all__ = [
    "ANCHORED_SPB",
    "BOXES_PER_TEU",
    "CURVE",
    "DAY",
    "DOS_OTHER_RANGE",
    "DOS_SEMI",
    "DWELL_RAIL_MEAN",
    "DWELL_TRUCK_MEAN",
    "IMPORT_TEU_PER_CALL",
    "LA_LOADED_IMPORTS_TEU",
    "LB_LOADED_IMPORTS_TEU",
    "OFFSHORE_QUEUE_FROM",
    "WAITING_SPB",
    "curve_at",
    "epoch_to_iso",
    "iso_to_epoch",
]

DAY = 86_400.0
CURVE = tuple[tuple[str, float], ...]


def iso_to_epoch(value: str) -> float:
    """Seconds since 1970-01-01 UTC for an ISO date or date-time (UTC if naive)."""
    return parse_timestamp(value)


def epoch_to_iso(seconds: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for epoch seconds, rounded to the second."""
    return iso(round(seconds))


def curve_at(curve: CURVE, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear value of ``curve`` at epoch seconds ``t`` (flat outside)."""
    xs = np.array([iso_to_epoch(d) for d, _ in curve])
    ys = np.array([v for _, v in curve], dtype=float)
    return np.interp(t, xs, ys)


# --- Container-ship queue, San Pedro Bay (LA + LB), ships waiting for a berth ---
# "Waiting" = at anchor, drifting or loitering offshore (the Marine Exchange count).
WAITING_SPB: CURVE = (
    ("2020-01-01", 1.0),  # 0 to 2 waiting on a normal day before 2020 (gCaptain; WSJ)
    ("2020-10-15", 2.0),  # upper end of normal, build-up starts late 2020 (interpolation)
    ("2020-11-15", 8.0),
    ("2020-12-15", 22.0),
    ("2021-01-10", 32.0),
    ("2021-02-01", 40.0),  # 40 container ships at anchor on 2021-02-01 (FreightWaves)
    ("2021-02-20", 34.0),
    ("2021-03-20", 24.0),
    ("2021-04-20", 16.0),
    ("2021-05-20", 11.0),
    ("2021-06-15", 9.0),  # USC Sea Grant (2023): June 2021 monthly count 9
    ("2021-07-15", 18.0),  # USC Sea Grant: July 18
    ("2021-08-15", 31.0),  # USC Sea Grant: August 29 at anchor (+ a few drifting)
    ("2021-08-30", 47.0),  # Marine Exchange: 47 container ships at anchor or drifting
    ("2021-09-15", 65.0),  # mid-September: 65 container ships waiting (Port of LA figures)
    ("2021-10-15", 75.0),  # interpolation between 65 (mid-Sept) and 86 (2021-11-16)
    ("2021-11-16", 86.0),  # Marine Exchange: 86 anchored or loitering on 2021-11-16
    ("2021-12-15", 99.0),
    ("2022-01-09", 109.0),  # Marine Exchange: record 109 waiting on 2022-01-09
    ("2022-02-01", 100.0),
    ("2022-03-01", 72.0),  # declining in spring 2022 (press); values interpolated
    ("2022-04-01", 45.0),
    ("2022-05-01", 30.0),
    ("2022-06-01", 24.0),
    ("2022-10-15", 1.0),  # queue back to zero late 2022 (Marine Exchange; press)
)

# Ships inside the anchorage polygons (a subset of WAITING_SPB).
ANCHORED_SPB: CURVE = (
    ("2020-01-01", 1.0),
    ("2020-10-15", 2.0),
    ("2020-11-15", 8.0),
    ("2020-12-15", 22.0),
    ("2021-01-10", 32.0),
    ("2021-02-01", 40.0),  # FreightWaves: 40 at anchor
    ("2021-02-20", 34.0),
    ("2021-03-20", 24.0),
    ("2021-04-20", 16.0),
    ("2021-05-20", 11.0),
    ("2021-06-15", 9.0),  # USC Sea Grant monthly counts at anchor 2021-06..10: 9,
    ("2021-07-15", 18.0),  # 18,
    ("2021-08-15", 29.0),  # 29,
    ("2021-09-15", 40.0),  # 40,
    ("2021-10-15", 61.0),  # 61 (more than the roughly 55 anchorages)
    ("2021-11-15", 61.0),  # assumption: anchorages stay full until the new system
    ("2021-11-16", 60.0),  # 2021-11-16 new queuing system: ships wait offshore instead
    ("2021-12-15", 36.0),  # assumption: called in a few days before their berth
    ("2022-02-01", 30.0),
    ("2022-04-01", 18.0),
    ("2022-06-01", 12.0),
    ("2022-10-15", 1.0),
)

# From this date ships beyond the anchorages wait about 150 miles offshore
# (Marine Exchange of Southern California, new queuing system, 2021-11-16).
OFFSHORE_QUEUE_FROM = "2021-11-16"

# Assumption: import TEU discharged per container-ship call at LA/LB. With the
# TEU figures below this gives about 7 berthings a day, so mid-September's 65
# waiting ships wait about 8 days (press: 8.2 days mid-September, 6.2 in August).
IMPORT_TEU_PER_CALL = 3_900.0

# Boxes per TEU: the import mix is mostly 40 ft boxes (2 TEU) with some 20 ft
# (1 TEU), about 1.8 TEU a box on average, so 1 TEU ~ 0.55 boxes (assumption).
BOXES_PER_TEU = 0.55

# Port of Los Angeles loaded imports (TEU), file la-lb-teu/port_of_la_container_
# stats_2021_present.csv ("Loaded Imports"). 2020-09..12 are not in that file:
# they are derived from it as Total TEUs / (1 + Prior Year Change) times the
# 2021 same-month share of loaded imports (e.g. Sept 2021: 903,864.6 TEU,
# +2.29%, 51.8% loaded imports -> 457,581).
LA_LOADED_IMPORTS_TEU: dict[str, float] = {
    "2020-09": 457_581.0, "2020-10": 507_700.0, "2020-11": 442_373.0, "2020-12": 430_592.0,
    "2021-01": 437_609.2, "2021-02": 412_884.25, "2021-03": 490_115.0, "2021-04": 490_126.85,
    "2021-05": 535_714.2, "2021-06": 467_763.25, "2021-07": 469_360.85,
    "2021-08": 485_672.15, "2021-09": 468_059.15, "2021-10": 467_286.65,
    "2021-11": 403_443.9, "2021-12": 385_250.7, "2022-01": 427_207.7, "2022-02": 424_072.85,
    "2022-03": 495_195.8, "2022-04": 456_669.55, "2022-05": 499_960.15,
    "2022-06": 444_680.4, "2022-07": 485_452.25, "2022-08": 403_601.95,
    "2022-09": 343_461.65, "2022-10": 336_306.9, "2022-11": 307_079.8,
    "2022-12": 352_046.35,
}  # fmt: skip

# Port of Long Beach loaded inbound (TEU), file la-lb-teu/port_long_beach_teu.csv
# ("Loaded Inbound").
LB_LOADED_IMPORTS_TEU: dict[str, float] = {
    "2020-09": 405_618.0, "2020-10": 402_408.0, "2020-11": 382_677.0, "2020-12": 406_072.0,
    "2021-01": 364_255.0, "2021-02": 373_756.0, "2021-03": 408_172.0, "2021-04": 367_151.0,
    "2021-05": 444_736.0, "2021-06": 357_101.0, "2021-07": 382_940.0, "2021-08": 407_426.0,
    "2021-09": 370_230.0, "2021-10": 385_000.0, "2021-11": 362_394.0, "2021-12": 358_687.0,
    "2022-01": 389_334.0, "2022-02": 390_335.0, "2022-03": 427_280.0, "2022-04": 400_803.0,
    "2022-05": 436_977.0, "2022-06": 415_677.0, "2022-07": 376_175.0, "2022-08": 384_530.0,
    "2022-09": 342_671.0, "2022-10": 293_924.0, "2022-11": 259_442.0, "2022-12": 241_643.0,
}  # fmt: skip

# --- Container dwell on terminal, import boxes, mean days (PMSA averages) ---
# Indexed by discharge date. The simulator draws lognormal dwells with these means.
DWELL_TRUCK_MEAN: CURVE = (
    ("2020-01-01", 2.9),  # before the pandemic: under 3 days for truck-bound imports (PMSA)
    ("2020-09-15", 3.3),  # 3.46 days average 2016 onwards (PMSA); build-up (interpolation)
    ("2020-12-15", 4.0),
    ("2021-03-15", 4.3),
    ("2021-06-15", 4.8),
    ("2021-09-15", 5.94),  # 2021-09: 5.94 days (PMSA)
    ("2021-11-01", 8.4),  # 2021-11: 8.4 days, the record for truck-bound imports (PMSA),
    ("2021-11-30", 8.4),  # held over the month so the November average is the record
    ("2021-12-15", 7.7),  # 2021-12: 7.7 days (PMSA)
    ("2022-01-15", 6.4),  # falling after the 2021-10-25 excess dwell fee announcement;
    ("2022-03-15", 4.3),  # aging cargo down 64% by 2022-03-15 (FACTS.md)
    ("2022-05-15", 3.8),
    ("2022-12-15", 3.3),
)
DWELL_RAIL_MEAN: CURVE = (
    ("2020-01-01", 2.2),  # assumption: on-dock rail a little faster than truck pre-pandemic
    ("2020-09-15", 3.0),
    ("2020-12-15", 6.5),
    ("2021-04-15", 11.2),  # 2021-04: on-dock rail dwell 11.2 days (PMSA)
    ("2021-07-15", 7.5),
    ("2021-10-15", 9.5),
    ("2021-12-15", 10.5),
    ("2022-03-15", 9.0),
    ("2022-08-15", 16.5),  # 2022-08: rail-bound peak 16.5 days (PMSA)
    ("2022-12-15", 8.0),
)
# Assumption: dispersion of dwell (lognormal sigma) and the rail share of imports.
DWELL_SIGMA = 0.4
RAIL_SHARE = 0.25

# --- Inventory: median days of supply of semiconductors at buyers ---
# US Department of Commerce (2022-01-25): 40 days of supply in 2019, under 5 in 2021.
DOS_SEMI: CURVE = (
    ("2019-06-30", 40.0),  # 2019: 40 days (Dept of Commerce)
    ("2020-09-15", 38.0),
    ("2020-12-15", 30.0),
    ("2021-03-15", 18.0),
    ("2021-06-15", 9.0),
    ("2021-09-15", 4.6),  # 2021: under 5 days (Dept of Commerce)
    ("2021-12-15", 4.2),
    ("2022-03-15", 5.5),  # assumption: slow recovery in 2022
    ("2022-06-15", 7.5),
    ("2022-12-31", 11.0),
)
# Assumption: other items hold steady at 20..60 days of supply.
DOS_OTHER_RANGE = (20.0, 60.0)
