"""Partials messages between the stages, their split by shard, and checkpoint records."""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter

import numpy as np
import pytest

from streams.features.windows import Partials
from streams.kafka.records import (
    CHECKPOINT_VERSION,
    END_OF_FEED,
    PartialsMessage,
    pack_checkpoint,
    unpack_checkpoint,
)
from streams.worker.stages import SourceLayout, shard_of, split_partials

ARRAYS = ("sums_key", "sums_end", "sums_val", "samples_key", "samples_end", "samples_val",
          "values_key", "values_end", "values_val", "values_ts")  # fmt: skip
H = 3_600_000


def _partials() -> Partials:
    """Every array group, NaN samples and values, long keys, and several quantile sets."""
    sums = [
        b"vessels_waiting|USLAX",
        b"arrivals|USLGB",
        b"vessels_waiting|san-pedro-bay",
        b"boxes_on_terminal|USLAX|APM",
        b"boxes_on_terminal|USLAX|TRAPAC",
        b"below_limit|SITE-7",
        b"composite|USLAX",
    ]
    samples = [
        b"wait|USLAX",
        b"wait|USLGB",
        b"dwell_truck|USLAX|APM",
        b"dwell|USLAX",
        b"days_of_supply|SITE-7",
        b"wait|san-pedro-bay",
    ]
    values = [
        b"days_of_supply|SITE-7|ITEM-000001",
        b"days_of_supply|SITE-9|A-LONG-ITEM-NAME",
        b"drawdown|SITE-7|ITEM-000001",
        b"drawdown|SITE-9|X",
    ]
    rng = np.random.default_rng(3)
    t0 = 1_637_000_000 // 3600 * H

    def rows(keys: list[bytes], per: int) -> tuple[np.ndarray, np.ndarray]:
        k = np.array(keys * per)
        return k, t0 + H * rng.integers(1, 4, len(k)).astype(np.int64)

    sk, se = rows(sums, 3)
    pk, pe = rows(samples, 5)
    vk, ve = rows(values, 2)
    pv = rng.exponential(10.0, len(pk))
    pv[::7] = np.nan  # a slot that exists with no sample
    vv = rng.uniform(0, 30, len(vk))
    vv[1] = np.nan
    return Partials(sk, se, rng.integers(0, 9, len(sk)).astype(np.float64),
                    pk, pe, pv, vk, ve, vv, ve - rng.integers(0, H, len(vk)),
                    quantiles={"wait": (50, 90), "dwell_truck": (50, 90), "dwell": (50, 90),
                               "days_of_supply": (10, 50)})  # fmt: skip


def _rows(p: Partials) -> Counter[tuple[str, tuple[object, ...]]]:
    """Every row of every group, as a hashable (NaN-safe) tuple."""
    out: Counter[tuple[str, tuple[object, ...]]] = Counter()
    for group in ("sums", "samples", "values"):
        names = [n for n in ARRAYS if n.startswith(group)]
        cols = [getattr(p, n) for n in names]
        for i in range(len(cols[0])):
            out[group, tuple(c[i].tobytes() for c in cols)] += 1
    return out


def test_message_round_trip_keeps_every_array_and_the_quantiles() -> None:
    p = _partials()
    msg = PartialsMessage(source=5, closed_ms=1_637_010_000_000, partials=p)
    back = PartialsMessage.decode(msg.encode())
    assert (back.source, back.closed_ms) == (5, 1_637_010_000_000)
    assert back.partials.quantiles == p.quantiles
    assert all(isinstance(v, tuple) for v in back.partials.quantiles.values())
    for name in ARRAYS:
        a, b = getattr(p, name), getattr(back.partials, name)
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), name  # bit-exact, NaN payloads included


def test_empty_message_carries_the_end_of_feed_boundary() -> None:
    back = PartialsMessage.decode(PartialsMessage(2, END_OF_FEED, Partials()).encode())
    assert (back.source, back.closed_ms, len(back.partials)) == (2, END_OF_FEED, 0)
    assert back.partials.quantiles == {}
    assert back.partials.sums_end.dtype == np.int64
    assert back.partials.values_val.dtype == np.float64


def _old_encoding(msg: PartialsMessage) -> bytes:
    """How a partials message was written before the idle flag existed."""
    cols = [getattr(msg.partials, n) for n in ARRAYS]
    head = json.dumps({"source": msg.source, "closed": msg.closed_ms,
                       "quantiles": msg.partials.quantiles,
                       "cols": [[a.dtype.str, len(a)] for a in cols]}).encode()
    return b"".join([struct.pack("<I", len(head)), head, *(a.tobytes() for a in cols)])


def test_idle_flag_is_wire_compatible_both_ways() -> None:
    msg = PartialsMessage(4, 1_637_010_000_000, _partials())
    # a message that is not idle is byte for byte what older workers wrote and read...
    assert msg.encode() == _old_encoding(msg)
    # ...and an older worker's message decodes as not idle
    old = PartialsMessage.decode(_old_encoding(msg))
    assert old.idle is False and (old.source, old.closed_ms) == (4, 1_637_010_000_000)
    idle = PartialsMessage(4, -(2**62), Partials(), idle=True)
    back = PartialsMessage.decode(idle.encode())
    assert (back.source, back.closed_ms, back.idle, len(back.partials)) == (4, -(2**62), True, 0)
    replaying = PartialsMessage.decode(PartialsMessage(4, 0, Partials(), replaying=True).encode())
    assert (replaying.idle, replaying.replaying, old.replaying) == (False, True, False)
    # each flag is one more key of the JSON header: a reader that knows only the old
    # keys finds them all
    (n,) = struct.unpack_from("<I", idle.encode())
    head = json.loads(idle.encode()[4:4 + n])
    assert head.pop("idle") is True
    assert set(head) == {"source", "closed", "quantiles", "cols"}


@pytest.mark.parametrize("shards", [2, 3, 8])
def test_split_keeps_every_row_once_and_groups_together(shards: int) -> None:
    p = _partials()
    parts = split_partials(p, shards)
    assert len(parts) == shards
    total: Counter[tuple[str, tuple[object, ...]]] = Counter()
    for s, part in enumerate(parts):
        assert part.quantiles == p.quantiles
        total += _rows(part)
        for name in ("sums_key", "samples_key", "values_key"):
            assert all(shard_of(k, shards) == s for k in getattr(part, name).tolist())
    assert total == _rows(p)
    # a port's series, its terminals, its percentile families and its composite group meet
    where: dict[bytes, set[int]] = {}
    for s, part in enumerate(parts):
        for name in ("sums_key", "samples_key", "values_key"):
            for k in getattr(part, name).tolist():
                where.setdefault(k.split(b"|")[1], set()).add(s)
    assert set(where) == {b"USLAX", b"USLGB", b"san-pedro-bay", b"SITE-7", b"SITE-9"}
    assert all(len(v) == 1 for v in where.values())


def test_split_spreads_groups_over_shards() -> None:
    """Not every group in one shard (else the test above would prove nothing)."""
    parts = split_partials(_partials(), 8)
    assert sum(1 for part in parts if len(part)) >= 2


def test_one_shard_is_the_partials_themselves() -> None:
    p = _partials()
    parts = split_partials(p, 1)
    assert len(parts) == 1 and parts[0] is p
    assert shard_of(b"anything|at|all", 1) == 0


def test_shard_of_uses_the_part_after_the_family() -> None:
    for shards in (2, 5, 16):
        assert shard_of(b"dwell_p90|USLAX|APMT", shards) == shard_of(b"composite|USLAX", shards)
        assert shard_of(b"wait_p90|USLAX", shards) == shard_of(b"wait|USLAX", shards)
        assert 0 <= shard_of(b"nofamily", shards) < shards


def test_source_layout_numbers_topic_then_partition() -> None:
    layout = SourceLayout({"inventory": 2, "positions": 3})  # containers absent
    assert layout.n == 5
    assert [layout.index("positions", p) for p in range(3)] == [0, 1, 2]
    assert [layout.index("inventory", p) for p in range(2)] == [3, 4]
    with pytest.raises(ValueError, match="positions has no partition 3"):
        layout.index("positions", 3)
    with pytest.raises(ValueError):
        layout.index("inventory", -1)


def test_checkpoint_round_trip() -> None:
    state = bytes(range(256)) + b"\n\n" + b"\x00" * 1000 + b"\n"
    meta = {"stage": "detect", "offsets": {"partials-0": 1234}, "note": "line\nbreak"}
    data = pack_checkpoint(meta, state)
    assert len(data) < len(state)  # compressed
    got_meta, got_state = unpack_checkpoint(data)
    assert got_state == state
    assert got_meta == {**meta, "version": CHECKPOINT_VERSION}


def test_checkpoint_of_another_version_is_refused() -> None:
    head = json.dumps({"stage": "detect", "version": CHECKPOINT_VERSION + 1}).encode()
    with pytest.raises(ValueError, match="version"):
        unpack_checkpoint(zlib.compress(head + b"\n" + b"state"))
    with pytest.raises(ValueError, match="version None"):
        unpack_checkpoint(zlib.compress(b'{"stage": "detect"}\nstate'))
    # a caller's own "version" key cannot pass as the format version
    meta, _ = unpack_checkpoint(pack_checkpoint({"version": 99}, b""))
    assert meta["version"] == CHECKPOINT_VERSION
