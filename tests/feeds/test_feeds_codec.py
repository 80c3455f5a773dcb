"""Canonical binary codec: layouts, round trips, batch decode rejections, batch validation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from streams.feeds import (
    CODEC_VERSION,
    CONTAINER_EVENT_DTYPE,
    DTYPES,
    INVENTORY_DTYPE,
    POSITION_DTYPE,
    AisClass,
    ContainerEvent,
    ContainerEventType,
    InventorySnapshot,
    Kind,
    PositionRecord,
    Reason,
    TimeWindow,
    VesselStaticRecord,
    decode_batch,
    encode,
    encode_array,
    key_of,
    keys_of_array,
    to_array,
    validate_batch,
)
from streams.feeds.codec import _container_ok
from streams.feeds.identifiers import container_number_problem, iso6346_check_digit

POS = PositionRecord(
    1452468552938, 366999712, 33.72, -118.21, 0.1, 127.5, 130, 1, 1, 70, AisClass.A
)
STATIC = VesselStaticRecord(
    1452468552938, 353136000, 9074729, "EVER GIVEN", "3FOF8", "USLAX", 71, 0,
    200, 200, 30, 29, 400.0, 59.0, 14.5, 5, "", AisClass.A,
)  # fmt: skip
EVENT = ContainerEvent(1636963200000, "USLAX", "APMT", "CSQU3054383", ContainerEventType.DISCHARGED)
STOCK = InventorySnapshot(1638316800000, "AUS-FAB2", "MCU-32", 1200.0, 300.0)


def test_layouts_are_packed_little_endian() -> None:
    assert POSITION_DTYPE.itemsize == 8 + 4 + 8 + 8 + 4 + 4 + 2 + 1 + 1 + 1 + 1
    assert CONTAINER_EVENT_DTYPE.itemsize == 8 + 11 + 1 + 5 + 16
    assert INVENTORY_DTYPE.itemsize == 8 + 32 + 48 + 8 + 8
    for dt in DTYPES.values():
        assert dt.isalignedstruct is False
        assert dt.fields is not None
        for sub, _offset in dt.fields.values():
            assert sub == sub.newbyteorder("<")


def test_wire_header_and_size() -> None:
    (wire,) = encode([EVENT])
    assert wire[0] == CODEC_VERSION and wire[1] == Kind.CONTAINER_EVENT
    assert len(wire) == 2 + CONTAINER_EVENT_DTYPE.itemsize
    # ts_ms sits right after the header, little-endian
    assert int.from_bytes(wire[2:10], "little") == EVENT.ts_ms


def test_records_round_trip_in_mixed_order() -> None:
    records = [POS, EVENT, STATIC, STOCK, POS]
    wires = encode(records)
    kinds = [w[1] for w in wires]
    assert kinds == [Kind.POSITION, Kind.CONTAINER_EVENT, Kind.VESSEL_STATIC, Kind.INVENTORY, 1]
    pos = decode_batch([wires[0], wires[4]], Kind.POSITION).records
    assert pos["mmsi"].tolist() == [366999712, 366999712]
    assert pos["lat"][0] == 33.72 and pos["heading"][0] == 130 and pos["ship_type"][0] == 70
    static = decode_batch([wires[2]], Kind.VESSEL_STATIC).records[0]
    assert (static["imo"], static["name"], static["destination"]) == (
        9074729,
        b"EVER GIVEN",
        b"USLAX",
    )
    assert static["length"] == 400.0 and static["draft"] == np.float32(14.5)
    event = decode_batch([wires[1]], Kind.CONTAINER_EVENT).records[0]
    assert (event["container"], event["port"], event["event"]) == (b"CSQU3054383", b"USLAX", 1)
    stock = decode_batch([wires[3]], Kind.INVENTORY).records[0]
    assert (stock["site"], stock["item"], stock["daily_usage"]) == (b"AUS-FAB2", b"MCU-32", 300.0)


def test_unknown_motion_survives_as_nan() -> None:
    rec = PositionRecord(0, 1, 0.0, 0.0)
    arr = decode_batch(encode([rec]), Kind.POSITION).records
    assert math.isnan(arr["sog"][0]) and math.isnan(arr["cog"][0])
    assert arr["heading"][0] == 511 and arr["nav_status"][0] == 15


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Kind)), st.data())
def test_array_round_trip_is_bit_exact(kind: Kind, data: st.DataObject) -> None:
    arr = data.draw(hnp.arrays(DTYPES[kind], st.integers(0, 20)))
    batch = decode_batch(encode_array(arr, kind), kind)
    assert batch.rejections == []
    assert batch.records.dtype == DTYPES[kind]
    assert batch.records.tobytes() == arr.tobytes()


def test_decode_batch_reports_bad_messages_by_index() -> None:
    good = encode([STOCK, STOCK, STOCK])
    messages = [
        good[0],
        good[1][:-1],  # truncated
        bytes([CODEC_VERSION + 1]) + good[1][1:],  # unknown version
        bytes([CODEC_VERSION, Kind.POSITION]) + good[1][2:],  # wrong kind on this topic
        good[2],
    ]
    batch = decode_batch(messages, Kind.INVENTORY)
    assert [(i, r.reason) for i, r in batch.rejections] == [
        (1, Reason.BAD_LENGTH),
        (2, Reason.BAD_VERSION),
        (3, Reason.BAD_KIND),
    ]
    assert len(batch.records) == 2
    assert batch.kept_index(len(messages)).tolist() == [0, 4]


def test_decode_empty_batch() -> None:
    batch = decode_batch([], Kind.POSITION)
    assert len(batch.records) == 0 and batch.rejections == []


def test_keys() -> None:
    assert key_of(POS) == b"366999712" and key_of(STATIC) == b"353136000"
    assert key_of(PositionRecord(0, 3669999, 0.0, 0.0)) == b"003669999"
    assert key_of(EVENT) == b"CSQU3054383" and key_of(STOCK) == b"AUS-FAB2|MCU-32"
    for rec, kind in ((POS, Kind.POSITION), (EVENT, Kind.CONTAINER_EVENT), (STOCK, Kind.INVENTORY)):
        assert keys_of_array(to_array([rec], kind), kind) == [key_of(rec)]


def _with(arr: npt.NDArray[Any], **changes: Any) -> npt.NDArray[Any]:
    out = arr.copy()
    for name, value in changes.items():
        out[name] = value
    return out


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"mmsi": 0}, Reason.BAD_MMSI),
        ({"lat": np.inf}, Reason.NON_FINITE),
        ({"sog": -np.inf}, Reason.NON_FINITE),
        ({"lat": 91.0, "lon": 181.0}, Reason.MISSING_POSITION),
        ({"lon": 200.0}, Reason.IMPOSSIBLE_POSITION),
        ({"heading": 400}, Reason.OUT_OF_RANGE),
        ({"cog": 360.0}, Reason.OUT_OF_RANGE),
        ({"nav_status": 16}, Reason.OUT_OF_RANGE),
        ({"ts_ms": 2_000_000_000_000}, Reason.TIME_IN_FUTURE),
        ({"ts_ms": 1_000_000_000_000}, Reason.TIME_TOO_OLD),
    ],
)
def test_validate_position_batch(changes: dict[str, Any], why: Reason) -> None:
    good = to_array([POS, POS], Kind.POSITION)
    window = TimeWindow.around(POS.ts_ms, past_s=86400, future_s=60)
    arr = np.concatenate([good, _with(good[:1], **changes)])
    result = validate_batch(arr, Kind.POSITION, window=window)
    assert result.ok.tolist() == [True, True, False]
    assert result.reasons.tolist() == ["", "", why.value]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"imo": 9074728}, Reason.BAD_IMO),
        ({"draft": np.inf}, Reason.NON_FINITE),
        ({"length": -1.0}, Reason.NEGATIVE_QUANTITY),
        ({"width": 200.0}, Reason.OUT_OF_RANGE),
        ({"mmsi": 1_000_000_000}, Reason.BAD_MMSI),
    ],
)
def test_validate_static_batch(changes: dict[str, Any], why: Reason) -> None:
    arr = _with(to_array([STATIC], Kind.VESSEL_STATIC), **changes)
    assert validate_batch(arr, Kind.VESSEL_STATIC).reasons.tolist() == [why.value]
    assert validate_batch(to_array([STATIC], Kind.VESSEL_STATIC), Kind.VESSEL_STATIC).ok.all()


@pytest.mark.parametrize(
    ("changes", "why"),
    [({"container": b"CSQU3054384"}, Reason.BAD_CONTAINER_NUMBER),
     ({"event": 9}, Reason.UNKNOWN_EVENT), ({"port": b"NLRTM"}, Reason.UNKNOWN_PORT)],
)  # fmt: skip
def test_validate_container_batch(changes: dict[str, Any], why: Reason) -> None:
    arr = _with(to_array([EVENT], Kind.CONTAINER_EVENT), **changes)
    result = validate_batch(arr, Kind.CONTAINER_EVENT, known_ports={"USLAX", "USLGB"})
    assert result.reasons.tolist() == [why.value]


@pytest.mark.parametrize(
    ("changes", "why"),
    [({"on_hand": np.nan}, Reason.NON_FINITE), ({"daily_usage": -2.0}, Reason.NEGATIVE_QUANTITY),
     ({"site": b""}, Reason.BAD_SITE_OR_ITEM)],
)  # fmt: skip
def test_validate_inventory_batch(changes: dict[str, Any], why: Reason) -> None:
    arr = _with(to_array([STOCK], Kind.INVENTORY), **changes)
    assert validate_batch(arr, Kind.INVENTORY).reasons.tolist() == [why.value]


_CONTAINER_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789UJZ")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(_CONTAINER_CHARS, min_size=10, max_size=10), st.integers(-1, 9)),
        min_size=1,
        max_size=30,
    )
)
def test_vectorized_container_check_matches_scalar(drawn: list[tuple[str, int]]) -> None:
    # digit -1: use the correct check digit, so about a tenth of the numbers are valid
    # whenever their first ten characters have the right shape.
    numbers = [head + str(iso6346_check_digit(head) if d < 0 else d) for head, d in drawn]
    arr = np.array([n.encode() for n in numbers], dtype="S11")
    expected = [container_number_problem(n) is None for n in numbers]
    assert _container_ok(arr).tolist() == expected


def test_vectorized_container_check_on_valid_numbers() -> None:
    # ISO 6346's worked example, then wrong check digit, bad category, lower case.
    numbers = ["CSQU3054383", "CSQU3054384", "CSQX3054383", "csqu3054383"]
    arr = np.array([n.encode() for n in numbers], dtype="S11")
    assert _container_ok(arr).tolist() == [True, False, False, False]
