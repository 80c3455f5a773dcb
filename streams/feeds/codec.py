"""Canonical binary records for the canonical topics.

Wire format, version 1: one version byte, one kind byte, then the record packed
little-endian with the kind's numpy dtype (no padding). Every message of a kind
has the same length, so a batch decodes with one ``b"".join`` and one
``np.frombuffer``.

>>> from streams.feeds.results import InventorySnapshot
>>> rec = InventorySnapshot(1_640_995_200_000, "AUS-FAB2", "MCU-32", 1200.0, 300.0)
>>> wire = encode([rec])
>>> len(wire[0]) == 2 + INVENTORY_DTYPE.itemsize
True
>>> batch = decode_batch(wire, Kind.INVENTORY)
>>> batch.records["site"][0], float(batch.records["on_hand"][0]), batch.rejections
(np.bytes_(b'AUS-FAB2'), 1200.0, [])
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import IntEnum
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from streams.feeds.identifiers import ISO6346_LETTER_VALUES, MMSI_MAX
from streams.feeds.results import (
    ContainerEvent,
    PositionRecord,
    Reason,
    Record,
    Rejection,
    VesselStaticRecord,
)
from streams.feeds.times import TimeWindow

CODEC_VERSION = 1
HEADER_BYTES = 2


class Kind(IntEnum):
    """The kind byte: which record follows."""

    POSITION = 1
    VESSEL_STATIC = 2
    CONTAINER_EVENT = 3
    INVENTORY = 4


def _packed(fields: list[tuple[str, str]]) -> np.dtype[Any]:
    return np.dtype(fields, align=False)


POSITION_DTYPE = _packed(
    [
        ("ts_ms", "<i8"),  # event time, ms since the Unix epoch, UTC
        ("mmsi", "<u4"),
        ("lat", "<f8"),  # degrees, WGS 84
        ("lon", "<f8"),
        ("sog", "<f4"),  # knots; NaN unknown
        ("cog", "<f4"),  # degrees true; NaN unknown
        ("heading", "<i2"),  # degrees true 0..359; 511 unknown
        ("nav_status", "i1"),  # AIS navigational status 0..15; 15 unknown, 1 at anchor
        ("msg_type", "u1"),  # AIS message type; 0 for decoded rows
        ("ship_type", "u1"),  # AIS ship and cargo type; 0 unknown
        ("ais_class", "u1"),  # 0 unknown, 1 class A, 2 class B
    ]
)
VESSEL_STATIC_DTYPE = _packed(
    [
        ("ts_ms", "<i8"),
        ("mmsi", "<u4"),
        ("imo", "<u4"),  # 0 unknown
        ("name", "S20"),
        ("callsign", "S7"),
        ("destination", "S20"),
        ("ship_type", "u1"),
        ("cargo", "u1"),
        ("to_bow", "<u2"),  # metres from the antenna; 0 unknown
        ("to_stern", "<u2"),
        ("to_port", "u1"),
        ("to_starboard", "u1"),
        ("length", "<f4"),  # metres; NaN unknown
        ("width", "<f4"),
        ("draft", "<f4"),
        ("msg_type", "u1"),  # 5, 19, 24, or 0 for decoded rows
        ("part", "S1"),  # b"A"/b"B" for type 24, else empty
        ("ais_class", "u1"),
    ]
)
CONTAINER_EVENT_DTYPE = _packed(
    [
        ("ts_ms", "<i8"),
        ("container", "S11"),  # ISO 6346
        ("event", "u1"),  # ContainerEventType: 1 discharged, 2 gate_out_truck, 3 loaded_rail
        ("port", "S5"),  # UN/LOCODE
        ("terminal", "S16"),
    ]
)
INVENTORY_DTYPE = _packed(
    [
        ("ts_ms", "<i8"),
        ("site", "S32"),
        ("item", "S48"),
        ("on_hand", "<f8"),
        ("daily_usage", "<f8"),  # units per day
    ]
)
DTYPES: dict[Kind, np.dtype[Any]] = {
    Kind.POSITION: POSITION_DTYPE,
    Kind.VESSEL_STATIC: VESSEL_STATIC_DTYPE,
    Kind.CONTAINER_EVENT: CONTAINER_EVENT_DTYPE,
    Kind.INVENTORY: INVENTORY_DTYPE,
}


def _fields(dt: np.dtype[Any]) -> list[tuple[str, str]]:
    assert dt.fields is not None
    return [(name, dt.fields[name][0].str) for name in dt.fields]


WIRE_DTYPES: dict[Kind, np.dtype[Any]] = {
    kind: _packed([("version", "u1"), ("kind", "u1"), *_fields(dt)]) for kind, dt in DTYPES.items()
}
WIRE_SIZES: dict[Kind, int] = {kind: dt.itemsize for kind, dt in WIRE_DTYPES.items()}


def kind_of(record: Record) -> Kind:
    """The kind byte for a record object."""
    if isinstance(record, PositionRecord):
        return Kind.POSITION
    if isinstance(record, VesselStaticRecord):
        return Kind.VESSEL_STATIC
    if isinstance(record, ContainerEvent):
        return Kind.CONTAINER_EVENT
    return Kind.INVENTORY


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _row(record: Record) -> tuple[Any, ...]:
    if isinstance(record, PositionRecord):
        r = record
        return (
            r.ts_ms, r.mmsi, r.lat, r.lon, r.sog, r.cog, r.heading, r.nav_status,
            r.msg_type, r.ship_type, int(r.ais_class),
        )  # fmt: skip
    if isinstance(record, VesselStaticRecord):
        s = record
        return (
            s.ts_ms, s.mmsi, s.imo, _b(s.name), _b(s.callsign), _b(s.destination),
            s.ship_type, s.cargo, s.to_bow, s.to_stern, s.to_port, s.to_starboard,
            s.length, s.width, s.draft, s.msg_type, _b(s.part), int(s.ais_class),
        )  # fmt: skip
    if isinstance(record, ContainerEvent):
        c = record
        return (c.ts_ms, _b(c.container), int(c.event), _b(c.port), _b(c.terminal))
    i = record
    return (i.ts_ms, _b(i.site), _b(i.item), i.on_hand, i.daily_usage)


def to_array(records: Sequence[Record], kind: Kind) -> npt.NDArray[Any]:
    """Records of one kind to a structured array of that kind's dtype."""
    return np.array([_row(r) for r in records], dtype=DTYPES[kind])


def encode_array(arr: npt.NDArray[Any], kind: Kind) -> list[bytes]:
    """A structured array (of ``DTYPES[kind]``) to one wire message per row."""
    n = len(arr)
    wire = np.empty(n, dtype=WIRE_DTYPES[kind])
    wire["version"] = CODEC_VERSION
    wire["kind"] = int(kind)
    for name in DTYPES[kind].names or ():
        wire[name] = arr[name]
    buf = wire.tobytes()
    size = WIRE_SIZES[kind]
    return [buf[i : i + size] for i in range(0, n * size, size)]


def encode(records: Sequence[Record]) -> list[bytes]:
    """Records (any mix of kinds) to wire messages, in the same order."""
    out: list[bytes] = [b""] * len(records)
    by_kind: dict[Kind, list[int]] = {}
    for i, rec in enumerate(records):
        by_kind.setdefault(kind_of(rec), []).append(i)
    for kind, idx in by_kind.items():
        for i, msg in zip(
            idx, encode_array(to_array([records[i] for i in idx], kind), kind), strict=True
        ):
            out[i] = msg
    return out


class DecodedBatch(NamedTuple):
    """Decoded records (input order, bad ones left out) and ``(input index, Rejection)``."""

    records: npt.NDArray[Any]
    rejections: list[tuple[int, Rejection]]

    def kept_index(self, n: int) -> npt.NDArray[np.intp]:
        """Input positions of ``records`` for a batch of ``n`` messages."""
        keep = np.ones(n, dtype=bool)
        keep[[i for i, _ in self.rejections]] = False
        return np.flatnonzero(keep)


def decode_batch(messages: Sequence[bytes], kind: Kind) -> DecodedBatch:
    """Wire messages of one kind to a structured array, vectorized.

    Messages with the wrong length, version or kind are left out and reported
    with their input index (``bad_length``, ``bad_version``, ``bad_kind``).
    """
    size = WIRE_SIZES[kind]
    wire_dtype = WIRE_DTYPES[kind]
    rejections: list[tuple[int, Rejection]] = []
    lengths = np.fromiter((len(m) for m in messages), dtype=np.int64, count=len(messages))
    good_len = lengths == size
    if good_len.all():
        idx = np.arange(len(messages))
        buf = b"".join(messages)
    else:
        idx = np.flatnonzero(good_len)
        for i in np.flatnonzero(~good_len):
            rejections.append(
                (int(i), Rejection(Reason.BAD_LENGTH, f"{lengths[i]} bytes, {kind.name} is {size}"))
            )
        buf = b"".join([messages[i] for i in idx.tolist()])
    wire = np.frombuffer(buf, dtype=wire_dtype)
    bad_version = wire["version"] != CODEC_VERSION
    bad_kind = ~bad_version & (wire["kind"] != int(kind))
    ok = ~(bad_version | bad_kind)
    if not ok.all():
        for j in np.flatnonzero(bad_version):
            rejections.append(
                (int(idx[j]), Rejection(Reason.BAD_VERSION, f"version {wire['version'][j]}"))
            )
        for j in np.flatnonzero(bad_kind):
            rejections.append(
                (
                    int(idx[j]),
                    Rejection(Reason.BAD_KIND, f"kind {wire['kind'][j]}, expected {int(kind)}"),
                )
            )
        rejections.sort(key=lambda item: item[0])
        wire = wire[ok]
    out = np.empty(len(wire), dtype=DTYPES[kind])
    for name in out.dtype.names or ():
        out[name] = wire[name]
    return DecodedBatch(out, rejections)


def key_of(record: Record) -> bytes:
    """Kafka key: MMSI (9 digits), container number, or ``site|item``.

    >>> key_of(PositionRecord(0, 3669999, 33.7, -118.2))
    b'003669999'
    """
    if isinstance(record, PositionRecord | VesselStaticRecord):
        return b"%09d" % record.mmsi
    if isinstance(record, ContainerEvent):
        return record.container.encode("ascii")
    return f"{record.site}|{record.item}".encode()


_NINE_DIGITS = 10 ** np.arange(8, -1, -1, dtype=np.int64)


def keys_of_array(arr: npt.NDArray[Any], kind: Kind) -> list[bytes]:
    """Kafka keys for a decoded or to-be-encoded structured array."""
    if kind in (Kind.POSITION, Kind.VESSEL_STATIC):
        mmsi = arr["mmsi"].astype(np.int64)
        if len(mmsi) and mmsi.max() <= MMSI_MAX:  # nine digits each, built in one go
            digits = (mmsi[:, None] // _NINE_DIGITS % 10 + ord("0")).astype(np.uint8)
            keys: list[bytes] = digits.view("S9").reshape(len(mmsi)).tolist()
            return keys
        return [b"%09d" % m for m in mmsi.tolist()]
    if kind is Kind.CONTAINER_EVENT:
        return [bytes(c) for c in arr["container"].tolist()]
    return [s + b"|" + i for s, i in zip(arr["site"].tolist(), arr["item"].tolist(), strict=True)]


# -- vectorized validation of decoded canonical batches ----------------------

_ISO_VALUES = np.zeros(256, dtype=np.int64)
for _ch, _v in ISO6346_LETTER_VALUES.items():
    _ISO_VALUES[ord(_ch)] = _v
for _d in range(10):
    _ISO_VALUES[ord("0") + _d] = _d
_ISO_WEIGHTS = 2 ** np.arange(10, dtype=np.int64)


def _container_ok(numbers: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """ISO 6346 shape and check digit for an S11 array, vectorized."""
    codes = np.frombuffer(np.ascontiguousarray(numbers, dtype="S11").tobytes(), np.uint8)
    codes = codes.reshape(len(numbers), 11)
    upper = (codes >= ord("A")) & (codes <= ord("Z"))
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    cat = codes[:, 3]
    shape = (
        upper[:, :3].all(axis=1)
        & ((cat == ord("U")) | (cat == ord("J")) | (cat == ord("Z")))
        & digit[:, 4:].all(axis=1)
    )
    total = (_ISO_VALUES[codes[:, :10]] * _ISO_WEIGHTS).sum(axis=1)
    check = total % 11 % 10
    return shape & (check == codes[:, 10].astype(np.int64) - ord("0"))


def _imo_ok(imo: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    v = imo.astype(np.int64)
    first6 = v // 10
    total = np.zeros(len(v), dtype=np.int64)
    for weight in range(2, 8):
        total += (first6 % 10) * weight
        first6 //= 10
    valid = (v >= 1_000_000) & (v <= 9_999_999) & (total % 10 == v % 10)
    return (v == 0) | valid


class BatchValidation(NamedTuple):
    """``ok[i]`` is True for a good row; ``reasons[i]`` is its reason code or ""."""

    ok: npt.NDArray[np.bool_]
    reasons: npt.NDArray[np.str_]


def validate_batch(
    arr: npt.NDArray[Any],
    kind: Kind,
    *,
    window: TimeWindow | None = None,
    known_ports: Collection[str] | None = None,
) -> BatchValidation:
    """Check a decoded canonical batch; the first failing check names the reason.

    >>> a = np.zeros(2, dtype=INVENTORY_DTYPE)
    >>> a["site"], a["item"], a["on_hand"] = b"S", b"I", [5.0, -1.0]
    >>> validate_batch(a, Kind.INVENTORY).reasons.tolist()
    ['', 'negative_quantity']
    """
    n = len(arr)
    reasons = np.full(n, "", dtype="<U24")
    checks: list[tuple[npt.NDArray[np.bool_], Reason]] = []

    def finite_or_nan(x: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
        return ~np.isinf(x)

    if kind is Kind.POSITION:
        lat, lon = arr["lat"], arr["lon"]
        sog, cog, heading = arr["sog"], arr["cog"], arr["heading"].astype(np.int64)
        checks = [
            ((arr["mmsi"] > 0) & (arr["mmsi"] <= MMSI_MAX), Reason.BAD_MMSI),
            (
                np.isfinite(lat) & np.isfinite(lon) & finite_or_nan(sog) & finite_or_nan(cog),
                Reason.NON_FINITE,
            ),
            ((lat != 91.0) & (lon != 181.0), Reason.MISSING_POSITION),
            ((np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0), Reason.IMPOSSIBLE_POSITION),
            (
                (np.isnan(sog) | ((sog >= 0) & (sog < 102.25)))
                & (np.isnan(cog) | ((cog >= 0) & (cog < 360.0)))
                & (((heading >= 0) & (heading < 360)) | (heading == 511))
                & (arr["nav_status"] >= 0)
                & (arr["nav_status"] <= 15),
                Reason.OUT_OF_RANGE,
            ),
        ]
    elif kind is Kind.VESSEL_STATIC:
        dims = [arr[f] for f in ("length", "width", "draft")]
        checks = [
            ((arr["mmsi"] > 0) & (arr["mmsi"] <= MMSI_MAX), Reason.BAD_MMSI),
            (_imo_ok(arr["imo"]), Reason.BAD_IMO),
            (np.logical_and.reduce([finite_or_nan(d) for d in dims]), Reason.NON_FINITE),
            (np.logical_and.reduce([~(d < 0) for d in dims]), Reason.NEGATIVE_QUANTITY),
            (
                ~(dims[0] > 1022.0) & ~(dims[1] > 126.0) & ~(dims[2] > 25.5),
                Reason.OUT_OF_RANGE,
            ),
        ]
    elif kind is Kind.CONTAINER_EVENT:
        checks = [
            (_container_ok(arr["container"]), Reason.BAD_CONTAINER_NUMBER),
            ((arr["event"] >= 1) & (arr["event"] <= 3), Reason.UNKNOWN_EVENT),
        ]
        if known_ports is not None:
            ports = np.array(sorted(p.encode("ascii") for p in known_ports), dtype="S5")
            checks.append((np.isin(arr["port"], ports), Reason.UNKNOWN_PORT))
    else:
        on_hand, usage = arr["on_hand"], arr["daily_usage"]
        checks = [
            ((arr["site"] != b"") & (arr["item"] != b""), Reason.BAD_SITE_OR_ITEM),
            (np.isfinite(on_hand) & np.isfinite(usage), Reason.NON_FINITE),
            ((on_hand >= 0) & (usage >= 0), Reason.NEGATIVE_QUANTITY),
        ]
    if window is not None:
        ts = arr["ts_ms"]
        checks.append((ts <= window.latest_ms, Reason.TIME_IN_FUTURE))
        checks.append((ts >= window.earliest_ms, Reason.TIME_TOO_OLD))
    # Assign in reverse so the first check in the list wins.
    for good, reason in reversed(checks):
        reasons[~good] = reason.value
    return BatchValidation(reasons == "", reasons)
