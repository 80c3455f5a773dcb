"""The detection stage of one shard: checkpoints, and the ledger that stops repeats."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from streams.detection import AlertTransition, PipelineConfig
from streams.kafka.records import END_OF_FEED, PartialsMessage
from streams.worker.stages import DetectShard, SourceLayout
from tests.worker.conftest import Scenario
from tests.worker.helpers import in_event_order, partials_stream, transitions

Stream = tuple[PipelineConfig, SourceLayout, list[bytes]]
Reference = tuple[list[AlertTransition], int, int]


@pytest.fixture(scope="module")
def stream(scenario: Scenario) -> Stream:
    layout, inbox = partials_stream(scenario.feeds, scenario.geography, partitions=2, shards=1)
    return scenario.backtest.config, layout, inbox[0]


def _feed(
    shard: DetectShard, msgs: Sequence[bytes]
) -> tuple[list[AlertTransition], list[AlertTransition]]:
    """Everything the detectors decided, and what the ledger let through."""
    decided: list[AlertTransition] = []
    published: list[AlertTransition] = []
    for m in msgs:
        _, out = shard.add(PartialsMessage.decode(m))
        decided += out.alerts
        published += shard.fresh(out.alerts)
    return decided, published


@pytest.fixture(scope="module")
def reference(stream: Stream) -> Reference:
    """The uninterrupted run's publications, and message indices k < m with transitions
    published before k, between k and m, and after m."""
    cfg, layout, msgs = stream
    shard = DetectShard(cfg, layout)
    published: list[AlertTransition] = []
    at: list[int] = []  # message index of each publication
    for i, m in enumerate(msgs):
        _, out = shard.add(PartialsMessage.decode(m))
        fresh = shard.fresh(out.alerts)
        published += fresh
        at += [i] * len(fresh)
    # every feed ended: complete, and the watermark is the end of the last interval released
    assert shard.complete and 0 < shard.watermark_ms < END_OF_FEED
    assert len(at) >= 5
    k = at[1] + 1
    m = at[len(at) // 2] + 1
    assert 0 < k < m < len(msgs)
    assert at[0] < k and any(k <= i < m for i in at) and at[-1] >= m
    return published, k, m


def test_the_stream_equals_the_backtest(reference: Reference, scenario: Scenario) -> None:
    assert transitions(in_event_order(reference[0])) == transitions(
        in_event_order(scenario.backtest.output.alerts))


def test_restored_snapshot_continues_as_if_uninterrupted(
    stream: Stream, reference: Reference
) -> None:
    cfg, layout, msgs = stream
    published, k, _ = reference
    first = DetectShard(cfg, layout)
    _, before = _feed(first, msgs[:k])
    second = DetectShard(cfg, layout)
    second.restore(first.snapshot())
    assert second.published == first.published and second.published
    _, after = _feed(second, msgs[k:])
    assert before and after
    assert [a.as_dict() for a in before + after] == [a.as_dict() for a in published]


def test_crash_after_publishing_repeats_nothing(stream: Stream, reference: Reference) -> None:
    cfg, layout, msgs = stream
    want, k, m = reference
    shard = DetectShard(cfg, layout)
    _, early = _feed(shard, msgs[:k])
    checkpoint = shard.snapshot()
    _, lost = _feed(shard, msgs[k:m])  # published, then the worker dies before checkpointing
    assert lost
    restarted = DetectShard(cfg, layout)
    restarted.restore(checkpoint)
    for a in early + lost:  # the ledger is rebuilt from the alerts topic
        restarted.remember(a.key, a.ts)
    decided, replayed = _feed(restarted, msgs[k:])
    # the detectors do decide the lost transitions again; the ledger drops them
    assert transitions(lost) == transitions(decided[: len(lost)])
    published = early + lost + replayed
    assert transitions(published) == transitions(want)
    assert len(set(transitions(published))) == len(published)


def test_without_the_ledger_the_replay_would_repeat(stream: Stream, reference: Reference) -> None:
    """The check above is not vacuous: a restored shard that was not told what the
    alerts topic holds publishes the lost transitions a second time."""
    cfg, layout, msgs = stream
    _, k, m = reference
    shard = DetectShard(cfg, layout)
    _feed(shard, msgs[:k])
    checkpoint = shard.snapshot()
    _, lost = _feed(shard, msgs[k:m])
    restarted = DetectShard(cfg, layout)
    restarted.restore(checkpoint)
    _, replayed = _feed(restarted, msgs[k:])
    assert lost and set(transitions(lost)) <= set(transitions(replayed))


def test_fresh_and_remember_keep_the_newest_time_per_key() -> None:
    shard = DetectShard(PipelineConfig(), SourceLayout({"positions": 1}))
    a = _alert("k1", "firing", 100.0)
    assert shard.fresh([a]) == [a]
    assert shard.fresh([a]) == []  # same transition again
    shard.remember("k1", 50.0)  # an older record read back does not lower the ledger
    assert shard.published["k1"] == 100.0
    assert shard.fresh([_alert("k1", "firing", 90.0)]) == []
    later = [_alert("k1", "resolved", 200.0), _alert("k2", "firing", 150.0)]
    assert shard.fresh(later) == later
    shard.remember("k3", 300.0)
    assert shard.fresh([_alert("k3", "firing", 300.0)]) == []


def _alert(key: str, state: str, ts: float) -> AlertTransition:
    nan = float("nan")
    return AlertTransition(key, state, "vessels_waiting|XZAAA", "changes", "warning", ts, ts,
                 1.0, nan, nan, nan, nan, nan, nan, nan, "")  # fmt: skip


def test_restore_refuses_another_partition_layout(stream: Stream) -> None:
    cfg, layout, msgs = stream
    shard = DetectShard(cfg, layout)
    _feed(shard, msgs[:10])
    snap = shard.snapshot()
    # same number of sources, numbered differently
    other = SourceLayout({"positions": 3, "containers": 2, "inventory": 1})
    assert other.n == layout.n
    with pytest.raises(ValueError, match="feed partitions") as err:
        DetectShard(cfg, other).restore(snap)
    text = str(err.value)  # both layouts, so the operator sees what changed
    assert "'positions': 2" in text and "'inventory': 2" in text
    assert "'positions': 3" in text and "'inventory': 1" in text
    with pytest.raises(ValueError, match="feed partitions"):
        DetectShard(cfg, SourceLayout({"positions": 2, "containers": 2})).restore(snap)


def test_restore_refuses_another_pipeline_configuration(stream: Stream) -> None:
    cfg, layout, msgs = stream
    shard = DetectShard(cfg, layout)
    _feed(shard, msgs[:10])
    with pytest.raises(ValueError, match="configuration"):
        DetectShard(PipelineConfig(), layout).restore(shard.snapshot())


def test_hourly_intervals_do_not_wait_for_the_daily_inventory_clock() -> None:
    import numpy as np

    from streams.features import Partials

    layout = SourceLayout({"positions": 1, "containers": 1, "inventory": 1})
    shard = DetectShard(PipelineConfig(), layout)
    hour = 3_600_000
    queue = Partials(sums_key=np.array([b"vessels_waiting|XHOUR"]),
                     sums_end=np.array([hour]), sums_val=np.array([4.0]))
    points, _ = shard.add(PartialsMessage(layout.index("positions", 0), hour, queue))
    assert len(points.key) == 0  # the container partition has not closed the hour yet
    points, _ = shard.add(PartialsMessage(layout.index("containers", 0), hour, Partials()))
    # released although the inventory partition never said anything (its day is open)
    assert points.as_dict() == {("vessels_waiting|XHOUR", 3600): 4.0}
    assert shard.watermark_ms < hour and not shard.complete
