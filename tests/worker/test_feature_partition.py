"""The feature stage of one feed partition: decode, validate, dead-letter, partials out."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from streams.features import Geofence, engine_for, merge_partials
from streams.features.windows import FeaturePoints, floor_to
from streams.feeds.codec import encode_array
from streams.geo import load_geography
from streams.kafka.records import END_OF_FEED, PartialsMessage
from streams.worker.stages import FeaturePartition
from tests.features.helpers import (
    assert_points_identical,
    container_events,
    inventory_snapshots,
    jumble,
    split_at,
    synthetic_positions,
)

GEO = load_geography()
FENCE = Geofence(GEO)
FEEDS: dict[str, npt.NDArray[Any]] = {
    "positions": jumble(synthetic_positions(GEO, seed=21), seed=4),
    "containers": container_events(seed=5),
    "inventory": inventory_snapshots(seed=6),
}


def _feed(
    topic: str, batches: list[npt.NDArray[Any]], shards: int = 2
) -> tuple[FeaturePartition, list[PartialsMessage]]:
    fp = FeaturePartition(topic, 0, 0, FENCE, shards)
    msgs: list[PartialsMessage] = []
    for b in batches:
        msgs += fp.process(encode_array(b, fp.kind)).messages
    msgs += fp.end_of_feed(int(FEEDS[topic]["ts_ms"].max())).messages
    return fp, msgs


def _merged(msgs: list[PartialsMessage]) -> FeaturePoints:
    return merge_partials([m.partials for m in msgs])


def test_rejects_carry_input_index_and_reason_and_good_records_count() -> None:
    arr = FEEDS["positions"][:300].copy()
    arr["lat"][3] = np.nan
    arr["lat"][7] = 95.0
    wire = encode_array(arr, FeaturePartition("positions", 0, 0, FENCE, 1).kind)
    wire[1] = wire[1][:-1]  # truncated
    wire[5] = b"\x07" + wire[5][1:]  # unknown codec version
    wire[9] = wire[9] + b"\x00"  # one byte too many
    fp = FeaturePartition("positions", 0, 0, FENCE, 2)
    res = fp.process(wire)
    assert [(r.index, r.reason) for r in res.rejected] == [
        (1, "bad_length"),
        (3, "non_finite"),
        (5, "bad_version"),
        (7, "impossible_position"),
        (9, "bad_length"),
    ]
    assert all(r.message for r in res.rejected)
    assert res.records == len(arr) - 5
    # the good records went into the engine exactly as if sent alone
    good = np.delete(arr, [1, 3, 5, 7, 9])
    ref = FeaturePartition("positions", 0, 0, FENCE, 2)
    ref_res = ref.process(encode_array(good, ref.kind))
    assert res.closed_ms == ref_res.closed_ms
    assert len(res.messages) == len(ref_res.messages) == 2
    assert_points_identical(_merged(res.messages), _merged(ref_res.messages))


def test_inventory_negative_and_non_finite_quantities_are_rejected() -> None:
    arr = FEEDS["inventory"][:50].copy()
    arr["on_hand"][0] = -1.0
    arr["daily_usage"][4] = np.inf
    arr["daily_usage"][49] = -0.5
    fp = FeaturePartition("inventory", 0, 0, FENCE, 1)
    res = fp.process(encode_array(arr, fp.kind))
    assert [(r.index, r.reason) for r in res.rejected] == [
        (0, "negative_quantity"),
        (4, "non_finite"),
        (49, "negative_quantity"),
    ]
    assert res.records == 47


def test_a_batch_of_only_bad_messages_sends_nothing() -> None:
    fp = FeaturePartition("containers", 0, 0, FENCE, 2)
    res = fp.process([b"", b"\x01\x02garbage"])
    assert [(r.index, r.reason) for r in res.rejected] == [(0, "bad_length"), (1, "bad_length")]
    assert res.records == 0 and res.messages == []


@pytest.mark.parametrize("topic", sorted(FEEDS))
def test_batching_does_not_change_the_partials(topic: str) -> None:
    arr = FEEDS[topic]
    n = len(arr)
    _, whole = _feed(topic, [arr])
    fp, pieces = _feed(topic, split_at(arr, [n // 7, n // 3, n // 3, n // 2 + 1, 4 * n // 5]))
    assert len(pieces) > len(whole)
    assert_points_identical(_merged(pieces), _merged(whole))
    assert fp.closed_ms == END_OF_FEED
    # and both equal one engine over the whole feed, flushed at its end (the backtest)
    eng = engine_for(fp.kind, FENCE)
    assert_points_identical(_merged(whole), merge_partials([eng.process(arr), eng.flush()]))


@pytest.mark.parametrize("topic", sorted(FEEDS))
def test_end_of_feed_closes_the_interval_holding_the_newest_time(topic: str) -> None:
    arr = FEEDS[topic]
    fp = FeaturePartition(topic, 0, 0, FENCE, 2)
    before = fp.process(encode_array(arr, fp.kind))
    step = fp.engine.config.window.interval_ms
    last = int(floor_to(int(arr["ts_ms"].max()), step)) + step
    assert before.closed_ms < last
    assert _merged(before.messages).end_s.max(initial=0) < last // 1000
    res = fp.end_of_feed(int(arr["ts_ms"].max()))
    assert fp.closed_ms == res.closed_ms == END_OF_FEED
    assert len(res.messages) == 2
    assert all(m.closed_ms == END_OF_FEED and m.source == 0 for m in res.messages)
    pts = _merged(res.messages)
    assert pts.end_s.max() == last // 1000  # the newest interval, and nothing beyond it


def test_a_call_that_closes_nothing_new_sends_nothing() -> None:
    arr = FEEDS["positions"]
    fp = FeaturePartition("positions", 0, 0, FENCE, 3)
    k = len(arr) // 2
    first = fp.process(encode_array(arr[:k], fp.kind))
    assert len(first.messages) == 3 and first.closed_ms == fp.closed_ms
    # the newest record again: inside an open interval, the watermark does not move
    newest = arr[:k][np.argmax(arr["ts_ms"][:k])]
    again = fp.process(encode_array(np.array([newest]), fp.kind))
    assert again.records == 1 and again.messages == []
    assert again.closed_ms == first.closed_ms
    assert fp.process([]).messages == []
    # once the watermark moves, every shard hears of it, with or without partials
    more = fp.process(encode_array(arr[k:], fp.kind))
    assert len(more.messages) == 3 and more.closed_ms > first.closed_ms
    assert {m.closed_ms for m in more.messages} == {more.closed_ms}


def test_every_shard_gets_the_boundary_even_with_no_series() -> None:
    arr = FEEDS["inventory"]
    one_site = arr[arr["site"] == arr["site"][0]]
    fp = FeaturePartition("inventory", 0, 2, FENCE, 4)
    res = fp.process(encode_array(one_site, fp.kind))
    assert len(res.messages) == 4
    sizes = sorted(len(m.partials) for m in res.messages)
    assert sizes[0] == 0 and sizes[-1] > 0  # one site's series meet in one shard
    assert sum(1 for s in sizes if s) == 1
    assert {(m.source, m.closed_ms) for m in res.messages} == {(2, res.closed_ms)}


@pytest.mark.parametrize("topic", sorted(FEEDS))
def test_snapshot_and_restore_mid_feed(topic: str) -> None:
    arr = FEEDS[topic]
    k = len(arr) // 2
    _, whole = _feed(topic, [arr[:k], arr[k:]])
    fp = FeaturePartition(topic, 0, 0, FENCE, 2)
    head = fp.process(encode_array(arr[:k], fp.kind)).messages
    again = FeaturePartition(topic, 0, 0, FENCE, 2)
    again.restore(fp.snapshot())
    assert (again.closed_ms, again.reported) == (fp.closed_ms, fp.reported)
    tail = again.process(encode_array(arr[k:], again.kind)).messages
    tail += again.end_of_feed(int(arr["ts_ms"].max())).messages
    assert [m.closed_ms for m in head + tail] == [m.closed_ms for m in whole]
    assert_points_identical(_merged(head + tail), _merged(whole))


# --------------------------------------------------------------------------- idle and replay


def test_a_live_partition_reports_idle_once_and_wakes_up_with_its_next_record() -> None:
    arr = FEEDS["positions"]
    fp = FeaturePartition("positions", 0, 5, FENCE, 3)
    k = len(arr) // 2
    first = fp.process(encode_array(arr[:k], fp.kind))
    assert fp.may_idle
    idle = fp.idle()
    assert len(idle.messages) == 3
    assert {(m.source, m.closed_ms, m.idle, len(m.partials)) for m in idle.messages} == {
        (5, first.closed_ms, True, 0)}
    assert not fp.may_idle and fp.idle().messages == []  # once
    # one record inside an open interval: the watermark does not move, yet every shard
    # hears at once that the partition is back (a message that is not idle)
    newest = arr[:k][np.argmax(arr["ts_ms"][:k])]
    back = fp.process(encode_array(np.array([newest]), fp.kind))
    assert back.closed_ms == first.closed_ms
    assert len(back.messages) == 3 and not any(m.idle for m in back.messages)
    assert fp.may_idle
    # and after that, the usual rule: nothing new, nothing sent
    assert fp.process(encode_array(np.array([newest]), fp.kind)).messages == []


def test_a_partition_that_never_received_anything_can_be_idle() -> None:
    fp = FeaturePartition("containers", 2, 9, FENCE, 1)
    msgs = fp.idle().messages
    assert [(m.source, m.idle, m.replaying) for m in msgs] == [(9, True, False)]
    assert PartialsMessage.decode(msgs[0].encode()).idle
    # a replay begins in it: the shards hear at once that it is back, in a replay
    back = fp.begin_replay().messages
    assert [(m.source, m.idle, m.replaying) for m in back] == [(9, False, True)]
    assert not fp.may_idle and not fp.idle_reported


def test_a_replaying_partition_is_never_idle_until_its_end_of_feed() -> None:
    arr = FEEDS["containers"]
    fp = FeaturePartition("containers", 0, 0, FENCE, 2)
    assert fp.begin_replay().messages == []  # nothing to tell the shards yet
    res = fp.process(encode_array(arr[: len(arr) // 2], fp.kind))
    assert res.messages and all(m.replaying and not m.idle for m in res.messages)
    assert not fp.may_idle and fp.idle().messages == []
    # a checkpoint keeps it replaying
    again = FeaturePartition("containers", 0, 0, FENCE, 2)
    again.restore(fp.snapshot())
    assert again.replaying and again.idle().messages == []
    res = again.end_of_feed(int(arr["ts_ms"].max()))
    assert not again.replaying and res.closed_ms == END_OF_FEED
    assert again.idle().messages == []  # ended: closed for ever, nothing to wait for


def test_a_checkpoint_from_before_replay_markers_restores_as_live() -> None:
    from streams.features._state import load_npz, save_npz

    fp = FeaturePartition("inventory", 0, 0, FENCE, 1)
    fp.begin_replay()
    arrays, meta = load_npz(fp.snapshot())
    old = save_npz(arrays, {"ended": meta["ended"], "reported": meta["reported"]})
    again = FeaturePartition("inventory", 0, 0, FENCE, 1)
    again.restore(old)
    assert not again.replaying and again.may_idle
