"""Container events and inventory snapshots (CSV rows or JSON objects with the same keys)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

from streams.feeds.checks import fits, parse_float
from streams.feeds.identifiers import (
    container_number_problem,
    normalize_container_number,
    valid_locode,
)
from streams.feeds.results import (
    ContainerEvent,
    ContainerEventType,
    InventorySnapshot,
    Reason,
    Rejection,
)
from streams.feeds.times import TimeWindow, epoch_seconds_to_ms, parse_time

CONTAINER_COLUMNS: tuple[str, ...] = ("time", "port", "terminal", "container", "event")
CONTAINER_REQUIRED: tuple[str, ...] = ("time", "port", "container", "event")
INVENTORY_COLUMNS: tuple[str, ...] = ("time", "site", "item", "on_hand", "daily_usage")
INVENTORY_REQUIRED: tuple[str, ...] = INVENTORY_COLUMNS
EVENTS: dict[str, ContainerEventType] = {e.label: e for e in ContainerEventType}
TERMINAL_BYTES = 16
SITE_BYTES = 32
ITEM_BYTES = 48


def _text(f: Mapping[str, object], name: str, required: bool = True) -> str | Rejection:
    value = f.get(name)
    if value is None:
        return Rejection(Reason.MISSING_FIELD, f"{name} is absent") if required else ""
    if not isinstance(value, str):
        return Rejection(Reason.WRONG_TYPE, f"{name} is {type(value).__name__}, expected text")
    value = value.strip()
    if required and not value:
        return Rejection(Reason.MISSING_FIELD, f"{name} is empty")
    return value


def _number(f: Mapping[str, object], name: str, json_types: bool) -> float | Rejection:
    """Text (CSV) or a JSON number; JSON strings and booleans are the wrong type."""
    value = f.get(name)
    if value is None:
        return Rejection(Reason.MISSING_FIELD, f"{name} is absent")
    if isinstance(value, str) and json_types:
        return Rejection(Reason.WRONG_TYPE, f"{name} is text, expected a JSON number")
    if isinstance(value, str):
        return parse_float(value, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection(Reason.WRONG_TYPE, f"{name} is {type(value).__name__}, expected a number")
    try:
        number = float(value)
    except OverflowError:
        return Rejection(Reason.NON_FINITE, f"{name} is too large for a double")
    if not math.isfinite(number):
        return Rejection(Reason.NON_FINITE, f"{name} is {number}")
    return number


def _time(f: Mapping[str, object], window: TimeWindow | None) -> int | Rejection:
    value = f.get("time")
    ts: int | Rejection
    if value is None:
        return Rejection(Reason.MISSING_FIELD, "time is absent")
    if isinstance(value, str):
        ts = parse_time(value)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection(
            Reason.WRONG_TYPE, f"time is {type(value).__name__}, expected text or number"
        )
    else:
        try:
            ts = epoch_seconds_to_ms(float(value))
        except OverflowError:
            return Rejection(Reason.NON_FINITE, "time is too large for a double")
    if isinstance(ts, Rejection) or window is None:
        return ts
    late = window.check(ts)
    return late if late is not None else ts


def check_port(port: str, known_ports: Collection[str] | None) -> Rejection | None:
    """A UN/LOCODE in the caller's set (None: any well-formed code)."""
    if not valid_locode(port):
        return Rejection(Reason.UNKNOWN_PORT, f"port {port[:20]!r} is not a UN/LOCODE")
    if known_ports is not None and port not in known_ports:
        return Rejection(Reason.UNKNOWN_PORT, f"port {port} is not a known port")
    return None


def parse_container_event(
    f: Mapping[str, object],
    known_ports: Collection[str] | None = None,
    window: TimeWindow | None = None,
) -> ContainerEvent | Rejection:
    """One container event from named fields.

    >>> parse_container_event({"time": "2021-11-15T08:00:00Z", "port": "USLAX",
    ...     "terminal": "APMT", "container": "CSQU3054383", "event": "discharged"}, {"USLAX"})
    ... # doctest: +NORMALIZE_WHITESPACE
    ContainerEvent(ts_ms=1636963200000, port='USLAX', terminal='APMT',
                   container='CSQU3054383', event=<ContainerEventType.DISCHARGED: 1>, notes=())
    """
    texts: dict[str, str] = {}
    for name in ("port", "container", "event"):
        text = _text(f, name)
        if isinstance(text, Rejection):
            return text
        texts[name] = text
    terminal = _text(f, "terminal", required=False)
    if isinstance(terminal, Rejection):
        return terminal
    ts = _time(f, window)
    if isinstance(ts, Rejection):
        return ts
    port = texts["port"].upper()
    bad_port = check_port(port, known_ports)
    if bad_port is not None:
        return bad_port
    if not fits(terminal, TERMINAL_BYTES):
        return Rejection(Reason.FIELD_TOO_LONG, f"terminal is longer than {TERMINAL_BYTES} bytes")
    container = normalize_container_number(texts["container"])
    problem = container_number_problem(container)
    if problem is not None:
        return Rejection(
            Reason.BAD_CONTAINER_NUMBER, f"container {texts['container'][:20]!r}: {problem}"
        )
    event = EVENTS.get(texts["event"].lower())
    if event is None:
        return Rejection(
            Reason.UNKNOWN_EVENT,
            f"event {texts['event'][:30]!r} is not one of {', '.join(EVENTS)}",
        )
    return ContainerEvent(ts, port, terminal, container, event)


def parse_inventory(
    f: Mapping[str, object], window: TimeWindow | None = None, *, json_types: bool = False
) -> InventorySnapshot | Rejection:
    """One inventory snapshot from named fields.

    With ``json_types`` (JSON lines) quantities must be JSON numbers; in CSV
    they are decimal text.

    >>> parse_inventory({"time": "2021-12-01", "site": "AUS-FAB2", "item": "MCU-32",
    ...                  "on_hand": "1200", "daily_usage": "300"}).on_hand
    1200.0
    """
    keys: dict[str, str] = {}
    for name, width in (("site", SITE_BYTES), ("item", ITEM_BYTES)):
        if f.get(name) is None:
            return Rejection(Reason.MISSING_FIELD, f"{name} is absent")
        value = _text(f, name, required=False)
        if isinstance(value, Rejection):
            return value
        if not value:
            return Rejection(Reason.BAD_SITE_OR_ITEM, f"{name} is empty")
        if "|" in value:
            return Rejection(Reason.BAD_SITE_OR_ITEM, f"{name} contains '|', the key separator")
        if not fits(value, width):
            return Rejection(Reason.FIELD_TOO_LONG, f"{name} is longer than {width} bytes")
        keys[name] = value
    quantities: dict[str, float] = {}
    for name in ("on_hand", "daily_usage"):
        number = _number(f, name, json_types)
        if isinstance(number, Rejection):
            return number
        if number < 0:
            return Rejection(Reason.NEGATIVE_QUANTITY, f"{name} {number} is negative")
        quantities[name] = number
    ts = _time(f, window)
    if isinstance(ts, Rejection):
        return ts
    return InventorySnapshot(
        ts, keys["site"], keys["item"], quantities["on_hand"], quantities["daily_usage"]
    )
