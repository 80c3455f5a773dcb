"""Deterministic simulator of berthwatch's three feeds, with ground-truth labels.

``simulate(out_dir, "san-pedro-bay-2021", ScenarioOptions(seed=1))`` writes
``positions.csv.gz`` (decoded AIS, MarineCadastre layout), ``containers.csv.gz``
(discharge and gate-out events), ``inventory.csv.gz`` (daily snapshots),
``labels.json`` (disruption windows and methodology events) and, for the
``random`` scenario, ``geography.yaml`` (its fictional ports, loadable with
:func:`streams.geo.load_geography`). The same seed and options give the same
bytes. Calibration figures are in :mod:`streams.tools.simulator.calibration`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from streams.geo import geography_to_dict
from streams.labels import Labels, write_labels
from streams.tools.simulator.calibration import epoch_to_iso
from streams.tools.simulator.containers import container_events, number_boxes
from streams.tools.simulator.inventory import inventory_days
from streams.tools.simulator.scenarios import (
    SCENARIOS,
    ScenarioOptions,
    ScenarioPlan,
    build_scenario,
)
from streams.tools.simulator.vessels import (
    AisRows,
    Fleet,
    TrackOptions,
    Visits,
    ais_rows,
    build_fleet,
    extra_station_rows,
    schedule_visits,
)
from streams.tools.simulator.writer import (
    INVENTORY_HEADER,
    GzipText,
    NmeaFields,
    write_containers,
    write_nmea,
    write_positions,
)

__all__ = [
    "FEEDS",
    "SCENARIOS",
    "ScenarioOptions",
    "SimulationSummary",
    "TrackOptions",
    "build_scenario",
    "simulate",
]

FEEDS = frozenset({"positions", "containers", "inventory"})

Progress = Callable[[str, float], None]
"""Called with a step description and the fraction of the run done (0..1)."""


@dataclass
class SimulationSummary:
    scenario: str
    seed: int
    start: str
    end: str
    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    windows: int = 0
    windows_by_kind: dict[str, int] = field(default_factory=dict)
    events: int = 0
    vessels: int = 0
    visits: int = 0


def _concat_visits(parts: list[Visits]) -> Visits:
    names = ["region_idx", "port", "terminal", "terminal_code", "berth_xy", "arrive",
             "anchor_start", "anchor_end", "berth_start", "berth_end", "wait_kind",
             "anchorage", "anchor_xy"]  # fmt: skip
    merged = {n: np.concatenate([getattr(p, n) for p in parts]) for n in names}
    return Visits(region=[r for p in parts for r in p.region], **merged)


def _statics(fleet: Fleet) -> list[tuple[str, str, str]]:
    out = []
    for i in range(len(fleet)):
        vt = int(fleet.vessel_type[i])
        out.append(
            (
                f"{int(fleet.mmsi[i]):09d}",
                f"{fleet.name[i]},{fleet.imo[i]},{fleet.callsign[i]},{vt}",
                f"{fleet.length[i]:.1f},{fleet.width[i]:.1f},{fleet.draft[i]:.1f},{float(vt):.1f},A",
            )
        )
    return out


def _nmea_static(fleet: Fleet) -> list[NmeaFields]:
    out: list[NmeaFields] = []
    for i in range(len(fleet)):
        length = int(fleet.length[i])
        width = int(fleet.width[i])
        out.append(
            {
                "imo": int(fleet.imo[i][3:]),
                "callsign": fleet.callsign[i],
                "shipname": fleet.name[i][:20],
                "ship_type": int(fleet.vessel_type[i]),
                "to_bow": min(511, int(length * 0.8)),
                "to_stern": min(511, length - int(length * 0.8)),
                "to_port": min(63, width // 2),
                "to_starboard": min(63, width - width // 2),
                "draught": float(fleet.draft[i]),
                "destination": "",
            }
        )
    return out


def _positions(
    out: Path,
    plan: ScenarioPlan,
    visits: Visits,
    fleet: Fleet,
    track: TrackOptions,
    seed: int,
    nmea: bool,
    counts: dict[str, int],
    report: Progress,
    lap: Callable[[str], None],
) -> None:
    report("building AIS tracks", 0.15)
    rng = np.random.default_rng([seed, 200])
    rows = ais_rows(visits, fleet, plan.regions, rng, plan.start, plan.end, track)
    statics = _statics(fleet)
    station_parts = []
    for i, region in enumerate(plan.regions[:10]):
        srng = np.random.default_rng([seed, 500, i])
        srows, sstat = extra_station_rows(region, plan.start, plan.end, srng, len(statics))
        station_parts.append(srows)
        statics += [(mm, mid, ",,,,") for mm, mid in sstat]
    rows = AisRows.concat([rows, *station_parts])
    rows = rows.take(np.lexsort((rows.mmsi, rows.t)))
    lap("tracks")
    report("writing positions", 0.35)
    counts["positions.csv.gz"] = write_positions(out / "positions.csv.gz", rows, statics)
    lap("write_positions")
    if nmea:
        report("encoding NMEA (slow)", 0.45)
        path = out / "positions.nmea.gz"
        counts["positions.nmea.gz"] = write_nmea(path, rows, _nmea_static(fleet))
        lap("write_nmea")


def _containers(
    out: Path,
    plan: ScenarioPlan,
    visits: Visits,
    seed: int,
    counts: dict[str, int],
    report: Progress,
    lap: Callable[[str], None],
) -> None:
    report("container events", 0.55)
    parts = [
        container_events(
            code, d, visits, np.random.default_rng([seed, 300, i]), plan.start, plan.end
        )
        for i, (code, d) in enumerate(plan.dwell.items())
    ]
    events = number_boxes(parts, np.random.default_rng([seed, 301]))
    counts["containers.csv.gz"] = write_containers(out / "containers.csv.gz", events)
    lap("containers")


def _inventory(
    out: Path,
    plan: ScenarioPlan,
    seed: int,
    counts: dict[str, int],
    report: Progress,
    lap: Callable[[str], None],
) -> None:
    report("inventory snapshots", 0.65)
    inv = plan.inventory
    prefix = [f"{s},{it}" for s in inv.sites for it in inv.items]
    n_days = max(1, inv.days.size)
    with GzipText(out / "inventory.csv.gz") as gz:
        gz.write_text(INVENTORY_HEADER, 0)
        for k, day in enumerate(inventory_days(inv, np.random.default_rng([seed, 400]))):
            fmt = (epoch_to_iso(day.t) + ",%s,%d,%.2f").__mod__
            cols = zip(prefix, day.on_hand.tolist(), day.daily_usage.tolist(), strict=True)
            gz.write_text("\n".join(map(fmt, cols)), len(prefix))
            report(f"inventory snapshots (day {k + 1}/{n_days})", 0.65 + 0.3 * (k + 1) / n_days)
        counts["inventory.csv.gz"] = gz.lines
    lap("inventory")


def simulate(
    out_dir: str | Path,
    scenario: str = "san-pedro-bay-2021",
    options: ScenarioOptions | None = None,
    *,
    track: TrackOptions | None = None,
    nmea: bool = False,
    feeds: frozenset[str] = FEEDS,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Generate the feeds of ``scenario`` into ``out_dir`` (created if missing).

    ``feeds`` selects among ``positions``, ``containers`` and ``inventory``
    (``labels.json`` is always written). Ship calls are scheduled either way,
    so container events are the same with or without positions.
    """
    unknown = set(feeds) - FEEDS
    if unknown:
        raise ValueError(f"unknown feeds: {', '.join(sorted(unknown))}")
    options = options or ScenarioOptions()
    track = track or TrackOptions()
    report: Progress = progress or (lambda _step, _frac: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = options.seed
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now

    report("planning scenario", 0.0)
    plan = build_scenario(scenario, options)
    lap("plan")
    report("scheduling ship calls", 0.05)
    parts = [
        schedule_visits(q, np.random.default_rng([seed, 100, i]), i)
        for i, q in enumerate(plan.queues)
    ]
    visits = _concat_visits(parts)
    fleet = build_fleet(visits, np.random.default_rng([seed, 101]))
    lap("visits")

    counts: dict[str, int] = {}
    if "positions" in feeds:
        _positions(out, plan, visits, fleet, track, seed, nmea, counts, report, lap)
    if "containers" in feeds:
        _containers(out, plan, visits, seed, counts, report, lap)
    if "inventory" in feeds:
        _inventory(out, plan, seed, counts, report, lap)

    report("labels", 0.96)
    windows = list(plan.windows)
    if plan.inventory_windows is not None:
        windows += plan.inventory_windows()
    labels = Labels(windows, list(plan.events), plan.start, plan.end, plan.name, seed)
    write_labels(labels, out / "labels.json")
    if plan.name == "random":
        doc = yaml.safe_dump(
            geography_to_dict(plan.geography), sort_keys=False, default_flow_style=None
        )
        (out / "geography.yaml").write_text(doc, encoding="utf-8")
    lap("labels")
    report("done", 1.0)
    by_kind: dict[str, int] = {}
    for w in windows:
        by_kind[w.kind] = by_kind.get(w.kind, 0) + 1
    return SimulationSummary(
        scenario=plan.name,
        seed=seed,
        start=epoch_to_iso(plan.start),
        end=epoch_to_iso(plan.end),
        out_dir=out,
        rows=counts,
        seconds=seconds,
        windows=len(windows),
        windows_by_kind=by_kind,
        events=len(plan.events),
        vessels=len(fleet),
        visits=len(visits),
    )
