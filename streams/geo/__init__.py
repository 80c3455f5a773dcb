"""Port geography as configuration: regions, ports, anchorages, waiting areas, berths.

The packaged ``ports.yaml`` describes San Pedro Bay (Los Angeles ``USLAX`` and
Long Beach ``USLGB``). A user adds or overrides ports with a YAML file of the
same shape, merged over the default: mappings merge key by key, lists
(anchorages, terminals, waiting areas) are replaced as a whole.

>>> geo = load_geography()
>>> sorted(geo.regions["san-pedro-bay"].ports)
['USLAX', 'USLGB']
>>> len(geo.regions["san-pedro-bay"].anchorages)
55
>>> geo.port("USLGB").limits.truck_dwell_days
9.0
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from shapely import Polygon

__all__ = [
    "Anchorage",
    "Berth",
    "Geography",
    "GeographyError",
    "Limits",
    "Port",
    "Region",
    "Terminal",
    "WaitingArea",
    "geography_from_dict",
    "geography_to_dict",
    "load_geography",
]

LOCODE_RE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ANCHORAGE_KINDS = ("inner", "outer")
WAITING_KINDS = ("drifting", "offshore")

Point = tuple[float, float]
Ring = tuple[Point, ...]


class GeographyError(ValueError):
    """A geography file is invalid; the message names the offending field."""


@dataclass(frozen=True)
class Limits:
    """Natural limits for early warnings; ``None`` means not set at this level."""

    anchorages: int | None = None
    truck_dwell_days: float | None = None
    rail_dwell_days: float | None = None
    rail_dwell_days_later: float | None = None
    days_of_supply: float | None = None
    effective_from: Mapping[str, dt.date] = field(default_factory=dict)
    """The day a limit takes effect (limit name -> date); a limit not named is in force
    from the start. Before it, nothing is said about that limit."""

    def over(self, base: Limits) -> Limits:
        """These limits, with unset fields taken from ``base``."""
        values = {
            f.name: getattr(self, f.name)
            if getattr(self, f.name) is not None
            else getattr(base, f.name)
            for f in fields(self)
            if f.name != "effective_from"
        }
        return Limits(**values, effective_from={**base.effective_from, **self.effective_from})


@dataclass(frozen=True)
class Berth:
    name: str
    ring: Ring

    @property
    def polygon(self) -> Polygon:
        return Polygon(self.ring)


@dataclass(frozen=True)
class Terminal:
    name: str
    code: str
    port: str
    berths: tuple[Berth, ...]


@dataclass(frozen=True)
class Anchorage:
    name: str
    port: str
    kind: str
    ring: Ring

    @property
    def polygon(self) -> Polygon:
        return Polygon(self.ring)


@dataclass(frozen=True)
class WaitingArea:
    """An area where ships drift or loiter while waiting for an anchorage or berth."""

    name: str
    kind: str
    ring: Ring
    active_from: dt.date | None = None

    @property
    def polygon(self) -> Polygon:
        return Polygon(self.ring)


@dataclass(frozen=True)
class Port:
    locode: str
    name: str
    region: str
    entrance: Point
    terminals: tuple[Terminal, ...]
    limits: Limits


@dataclass(frozen=True)
class Region:
    id: str
    name: str
    sea_gate: Point
    approach_bearings: tuple[float, float]
    limits: Limits
    ports: dict[str, Port]
    anchorages: tuple[Anchorage, ...]
    waiting_areas: tuple[WaitingArea, ...] = ()

    def waiting_area(self, kind: str) -> WaitingArea | None:
        """The first waiting area of ``kind`` (``drifting`` or ``offshore``), if any."""
        return next((w for w in self.waiting_areas if w.kind == kind), None)


@dataclass(frozen=True)
class Geography:
    regions: dict[str, Region] = field(default_factory=dict)

    def port(self, locode: str) -> Port:
        for region in self.regions.values():
            if locode in region.ports:
                return region.ports[locode]
        raise KeyError(locode)

    @property
    def ports(self) -> dict[str, Port]:
        return {code: p for r in self.regions.values() for code, p in r.ports.items()}


def _fail(where: str, what: str) -> GeographyError:
    return GeographyError(f"{where}: {what}")


def _point(value: Any, where: str) -> Point:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise _fail(where, "expected [lon, lat]")
    lon, lat = float(value[0]), float(value[1])
    if not (-180.0 <= lon <= 180.0):
        raise _fail(where, f"longitude {lon} out of range")
    if not (-90.0 <= lat <= 90.0):
        raise _fail(where, f"latitude {lat} out of range")
    return lon, lat


def _ring(value: Any, where: str) -> Ring:
    if not isinstance(value, list | tuple) or len(value) < 4:
        raise _fail(where, "a ring needs at least 4 [lon, lat] points")
    pts = tuple(_point(v, f"{where}[{i}]") for i, v in enumerate(value))
    if pts[0] != pts[-1]:
        raise _fail(where, "polygon is not closed (first point differs from last)")
    poly = Polygon(pts)
    if not poly.is_valid or poly.area <= 0.0:
        raise _fail(where, "polygon is not valid (self-intersecting or empty)")
    return pts


def _str(m: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = m.get(key, default)
    if not isinstance(value, str) or not value:
        raise _fail(f"{where}.{key}", "expected a non-empty string")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "expected a mapping")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, "expected a list")
    return value


def _limits(value: Any, where: str) -> Limits:
    if value is None:
        return Limits()
    m = _mapping(value, where)
    known = {f.name for f in fields(Limits)}
    out: dict[str, Any] = {}
    for key, v in m.items():
        if key == "effective_from":
            dates = _mapping(v, f"{where}.{key}")
            for name in dates:
                if name not in known - {key}:
                    raise _fail(f"{where}.{key}.{name}", "not a limit of this block")
            out[key] = {n: _date(d, f"{where}.{key}.{n}") for n, d in dates.items()}
            continue
        if key not in known:
            raise _fail(f"{where}.{key}", f"unknown limit (known: {', '.join(sorted(known))})")
        if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
            raise _fail(f"{where}.{key}", "expected a positive number")
        out[key] = int(v) if key == "anchorages" else float(v)
    return Limits(**out)


def _date(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _fail(where, f"expected an ISO date, got {value!r}") from None


def _port(code: Any, value: Any, region: str, region_limits: Limits, where: str) -> Port:
    if not isinstance(code, str) or not LOCODE_RE.match(code):
        raise _fail(where, f"{code!r} is not a UN/LOCODE (2 letters + 3 of A-Z, 2-9)")
    m = _mapping(value, where)
    terminals = []
    for i, t in enumerate(_list(m.get("terminals", []), f"{where}.terminals")):
        tw = f"{where}.terminals[{i}]"
        tm = _mapping(t, tw)
        berths = tuple(
            Berth(
                name=_str(_mapping(b, f"{tw}.berths[{j}]"), "name", f"{tw}.berths[{j}]"),
                ring=_ring(b.get("ring"), f"{tw}.berths[{j}].ring"),
            )
            for j, b in enumerate(_list(tm.get("berths", []), f"{tw}.berths"))
        )
        if not berths:
            raise _fail(f"{tw}.berths", "a terminal needs at least one berth")
        terminals.append(
            Terminal(
                name=_str(tm, "name", tw),
                code=_str(tm, "code", tw),
                port=code,
                berths=berths,
            )
        )
    return Port(
        locode=code,
        name=_str(m, "name", where),
        region=region,
        entrance=_point(m.get("entrance"), f"{where}.entrance"),
        terminals=tuple(terminals),
        limits=_limits(m.get("limits"), f"{where}.limits").over(region_limits),
    )


def _region(rid: Any, value: Any, where: str) -> Region:
    if not isinstance(rid, str) or not REGION_RE.match(rid):
        raise _fail(where, f"{rid!r} is not a region id (lowercase letters, digits, dashes)")
    m = _mapping(value, where)
    limits = _limits(m.get("limits"), f"{where}.limits")
    ports_m = _mapping(m.get("ports", {}), f"{where}.ports")
    ports = {
        code: _port(code, p, rid, limits, f"{where}.ports.{code}") for code, p in ports_m.items()
    }
    if not ports:
        raise _fail(f"{where}.ports", "a region needs at least one port")
    anchorages = []
    for i, a in enumerate(_list(m.get("anchorages", []), f"{where}.anchorages")):
        aw = f"{where}.anchorages[{i}]"
        am = _mapping(a, aw)
        port = _str(am, "port", aw)
        if port not in ports:
            raise _fail(f"{aw}.port", f"{port!r} is not a port of region {rid}")
        kind = _str(am, "kind", aw, "outer")
        if kind not in ANCHORAGE_KINDS:
            raise _fail(f"{aw}.kind", f"expected one of {ANCHORAGE_KINDS}")
        anchorages.append(
            Anchorage(
                name=_str(am, "name", aw),
                port=port,
                kind=kind,
                ring=_ring(am.get("ring"), f"{aw}.ring"),
            )
        )
    waiting = []
    for i, w in enumerate(_list(m.get("waiting_areas", []), f"{where}.waiting_areas")):
        ww = f"{where}.waiting_areas[{i}]"
        wm = _mapping(w, ww)
        kind = _str(wm, "kind", ww)
        if kind not in WAITING_KINDS:
            raise _fail(f"{ww}.kind", f"expected one of {WAITING_KINDS}")
        waiting.append(
            WaitingArea(
                name=_str(wm, "name", ww),
                kind=kind,
                ring=_ring(wm.get("ring"), f"{ww}.ring"),
                active_from=_date(wm.get("active_from"), f"{ww}.active_from"),
            )
        )
    bearings = m.get("approach_bearings", [250, 290])
    if (
        not isinstance(bearings, list)
        or len(bearings) != 2
        or not all(isinstance(b, int | float) for b in bearings)
    ):
        raise _fail(f"{where}.approach_bearings", "expected [min_deg, max_deg]")
    return Region(
        id=rid,
        name=_str(m, "name", where, rid),
        sea_gate=_point(m.get("sea_gate"), f"{where}.sea_gate"),
        approach_bearings=(float(bearings[0]), float(bearings[1])),
        limits=limits,
        ports=ports,
        anchorages=tuple(anchorages),
        waiting_areas=tuple(waiting),
    )


def geography_from_dict(data: Any) -> Geography:
    """Validate a parsed geography document and build typed objects."""
    m = _mapping(data, "geography")
    regions_m = _mapping(m.get("regions"), "regions")
    regions = {rid: _region(rid, v, f"regions.{rid}") for rid, v in regions_m.items()}
    seen: dict[str, str] = {}
    for rid, region in regions.items():
        for code in region.ports:
            if code in seen:
                raise _fail(
                    f"regions.{rid}.ports.{code}", f"port already defined in region {seen[code]}"
                )
            seen[code] = rid
    return Geography(regions=regions)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise GeographyError(f"{source}: not valid YAML ({first})") from None


def default_geography_dict() -> dict[str, Any]:
    """The packaged geography document, parsed but not validated."""
    text = resources.files(__name__).joinpath("ports.yaml").read_text(encoding="utf-8")
    data = _read_yaml(text, "ports.yaml")
    assert isinstance(data, dict)
    return data


def load_geography(extra: str | Path | None = None, *, include_default: bool = True) -> Geography:
    """Load the packaged geography, with ``extra`` (a YAML file) merged over it.

    Raises :class:`GeographyError` with a one-line message naming the bad field.
    """
    data: Any = default_geography_dict() if include_default else {}
    if extra is not None:
        path = Path(extra)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise GeographyError(f"{path.name}: cannot read ({exc.strerror})") from None
        data = _merge(data, _read_yaml(text, path.name))
    return geography_from_dict(data)


def _ring_list(ring: Ring) -> list[list[float]]:
    return [[lon, lat] for lon, lat in ring]


def _limits_dict(limits: Limits) -> dict[str, Any]:
    out = {
        f.name: getattr(limits, f.name)
        for f in fields(limits)
        if getattr(limits, f.name) is not None and f.name != "effective_from"
    }
    if limits.effective_from:
        out["effective_from"] = {k: d.isoformat() for k, d in limits.effective_from.items()}
    return out


def geography_to_dict(geo: Geography) -> dict[str, Any]:
    """The document form of ``geo`` (round-trips through :func:`geography_from_dict`)."""
    regions: dict[str, Any] = {}
    for rid, r in geo.regions.items():
        regions[rid] = {
            "name": r.name,
            "sea_gate": list(r.sea_gate),
            "approach_bearings": list(r.approach_bearings),
            "limits": _limits_dict(r.limits),
            "waiting_areas": [
                {"name": w.name, "kind": w.kind, "ring": _ring_list(w.ring)}
                | ({"active_from": w.active_from.isoformat()} if w.active_from else {})
                for w in r.waiting_areas
            ],
            "anchorages": [
                {"name": a.name, "port": a.port, "kind": a.kind, "ring": _ring_list(a.ring)}
                for a in r.anchorages
            ],
            "ports": {
                code: {
                    "name": p.name,
                    "entrance": list(p.entrance),
                    "limits": _limits_dict(p.limits),
                    "terminals": [
                        {
                            "name": t.name,
                            "code": t.code,
                            "berths": [
                                {"name": b.name, "ring": _ring_list(b.ring)} for b in t.berths
                            ],
                        }
                        for t in p.terminals
                    ],
                }
                for code, p in r.ports.items()
            },
        }
    return {"regions": regions}
