"""A replay run: the files read, merged in event time, sent, and closed with end-of-feed markers.

:func:`replay` checks the files and the topics, then sends every item of the files in
event-time order (:mod:`streams.replay.segments`, :mod:`streams.replay.dispatch`) through
one :class:`~streams.kafka.io.BatchSender`, saves its progress for ``--resume`` on the way
(:mod:`streams.replay.state`), and once all is sent ends every partition of every feed
topic with an end-of-feed marker. Before its first record (on ``--resume`` too) it sends
a replay-begin marker to every partition of every feed topic, so the workers wait for a
replay's data however slow it comes instead of closing quiet partitions on wall time.
A complete run is logged in ``replays.jsonl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from streams.feeds.files import detect_format
from streams.feeds.parse import FeedContext, FeedFormat
from streams.kafka.client import aiokafka_args
from streams.kafka.io import BatchSender, RecordTooLarge, start_client
from streams.kafka.outage import gate_client_logs
from streams.kafka.records import replay_begin_marker
from streams.kafka.topics import MARKED_TOPICS, TOPIC_OF_KIND
from streams.replay.dispatch import Dispatch
from streams.replay.options import ReplayError, ReplayOptions
from streams.replay.segments import merged_runs, parsed_ahead
from streams.replay.state import (
    ResumeState,
    load_state,
    save_state,
    save_when_acked,
    state_path,
)
from streams.replay.stats import ReplayStats
from streams.settings import Settings

ProgressFn = Callable[[int, int, int | None], None]  # bytes read, records sent, event time
log = logging.getLogger(__name__)

#: a replay with ``--wait``: how long a batch may wait for the broker (a week)
WAIT_REQUEST_TIMEOUT_MS = 7 * 24 * 3600 * 1000


async def replay(
    settings: Settings,
    paths: Sequence[Path],
    options: ReplayOptions,
    progress: ProgressFn | None = None,
) -> ReplayStats:
    """Replay ``paths`` into the canonical topics; returns what was sent and rejected."""
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise ReplayError(f"no such file: {f}")
    formats = [detect_format(f) for f in files]
    state_file = state_path(settings, files)
    state = load_state(state_file, files) if options.resume else ResumeState()
    stats = ReplayStats()
    producer = AIOKafkaProducer(
        **aiokafka_args(settings, producer=True),
        acks="all",
        enable_idempotence=True,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
        linger_ms=50,
        # with --wait a batch never expires while the broker is away: the producer's
        # retries (idempotent, so never doubled) deliver it when the broker is back
        request_timeout_ms=WAIT_REQUEST_TIMEOUT_MS if options.wait else 30_000,
    )
    gate_client_logs()
    try:
        await start_client(producer, settings)
    except ConnectionError as e:
        raise ReplayError(str(e)) from None
    try:
        topics = {name: settings.topic(name) for name in (*TOPIC_OF_KIND.values(), "deadletter")}
        partitions: dict[str, list[int]] = {}
        for full in topics.values():
            parts = await producer.partitions_for(full)
            if not parts:
                raise ReplayError(f"topic {full} does not exist: run `berthwatch topics create`")
            partitions[full] = sorted(parts)
        sender = BatchSender(producer, partitions)

        async def send_all() -> None:
            t0 = time.monotonic()
            started = time.time()
            complete = await _run(files, formats, state, options, stats, sender, topics,
                                  state_file, progress)
            await sender.flush()
            save_state(state_file, files, state)
            if complete and options.end_of_feed:
                await _end_of_feed(sender, topics, stats)
            stats.wall_seconds = time.monotonic() - t0
            if complete:
                _log_run(settings, files, stats, started)

        await _watched(send_all(), sender, options, settings.kafka_bootstrap)
    except RecordTooLarge as e:
        raise ReplayError(str(e)) from None
    except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
        who = settings.kafka.sasl_username or "this client's principal"
        raise ReplayError(
            f"topic_prefix: the broker at {settings.kafka_bootstrap} does not authorize {who} "
            f"to write the topics with the prefix {settings.topic_prefix!r} (ACLs needed)"
        ) from None
    except KafkaError as e:
        raise ReplayError(
            f"the broker at {settings.kafka_bootstrap} failed a send ({type(e).__name__}); "
            "what it acknowledged is saved: run the same replay again with --resume"
        ) from None
    finally:
        # a broker that is down would keep stop() waiting for its pending batches
        with contextlib.suppress(TimeoutError, KafkaError):
            await asyncio.wait_for(producer.stop(), timeout=5.0)
    return stats


async def _watched(
    work: Coroutine[Any, Any, None], sender: BatchSender, options: ReplayOptions, where: str
) -> None:
    """Run ``work`` while watching the broker's acknowledgements: when nothing is
    acknowledged for ``options.outage_s`` it is an outage. Without ``options.wait`` the
    work stops there with a one-line :class:`ReplayError` (the resume state holds what
    was acknowledged); with it, one log line when the outage starts and one when it ends."""
    task = asyncio.ensure_future(work)
    down = False
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            stalled = sender.stalled_s()
            if stalled >= options.outage_s and not down:
                down = True
                if not options.wait:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    raise ReplayError(
                        f"the broker at {where} acknowledged nothing for {stalled:.0f} s: "
                        "replay stopped, nothing lost; start the broker and run the same "
                        "replay with --resume (or use --wait to ride out outages)"
                    )
                log.warning("broker at %s acknowledged nothing for %.0f s; waiting (--wait)",
                            where, stalled)
            elif down and stalled < options.outage_s:
                down = False
                log.warning("broker at %s acknowledges again; replay continues", where)
        task.result()
    finally:
        if not task.done():
            task.cancel()


async def _run(
    files: list[Path],
    formats: list[FeedFormat],
    state: ResumeState,
    options: ReplayOptions,
    stats: ReplayStats,
    sender: BatchSender,
    topics: dict[str, str],
    state_file: Path,
    progress: ProgressFn | None,
) -> bool:
    """Send everything; False when stopped early by ``stop_after``."""
    bytes_read = [0] * len(files)
    contexts = [
        FeedContext(
            fmt,
            known_ports=options.known_ports,
            window=options.window,
            max_bytes=options.max_bytes,
            fallback_time_ms=options.fallback_time_ms,
        )
        for fmt in formats
    ]
    skips = [state.done.get(str(f.resolve()), 0) for f in files]
    streams = [
        parsed_ahead(f, i, ctx, skip, bytes_read)
        for i, (f, ctx, skip) in enumerate(zip(files, contexts, skips, strict=True))
    ]
    keys = [str(f.resolve()) for f in files]
    done = state.done
    since_flush = 0
    items = 0
    run = Dispatch(files, options, stats, sender, topics, state.static)
    saved: asyncio.Task[None] | None = None
    begun = not options.end_of_feed  # no markers asked for: none at the beginning either
    for seg, a, b in merged_runs(streams):
        if not begun and seg.is_record[a:b].any():  # before the first record is sent
            first = int(seg.ts[a:b][seg.is_record[a:b]][0])
            if options.start_ms is not None:  # --from: where the records sent begin
                first = max(first, options.start_ms)
            await _replay_begin(sender, topics, stats, first)
            begun = True
        if options.stop_after is not None:
            b = min(b, a + options.stop_after - items)
        if options.speed is not None:
            await run.paced(seg, a, b)
        else:
            await run.items(seg, a, b)
        key = keys[seg.file_index]
        done[key] = max(done.get(key, 0), int(seg.lines[a:b].max()))
        before = items
        items += b - a
        since_flush += b - a
        if since_flush >= options.flush_every:
            # the state is saved once the broker acknowledged everything before it,
            # while the replay goes on
            snapshot = ResumeState(dict(done), dict(state.static))
            saved = asyncio.create_task(
                save_when_acked(await sender.checkpoint(), saved, state_file, files, snapshot)
            )
            since_flush = 0
        if progress is not None and items // 2048 != before // 2048:
            progress(sum(bytes_read), stats.records, stats.last_ts_ms)
        if options.stop_after is not None and items >= options.stop_after:
            if saved is not None:
                await saved
            return False
        if items // 4096 != before // 4096:
            await asyncio.sleep(0)  # let the producer's network tasks run
    if saved is not None:
        await saved
    return True


async def _replay_begin(sender: BatchSender, topics: dict[str, str], stats: ReplayStats,
                        first_ms: int) -> None:
    """Tell every partition of every feed topic that a replay begins (before any of its
    records): the workers then keep the partition's intervals open until its end-of-feed
    marker, however long the replay takes."""
    for short in MARKED_TOPICS:
        stats.markers += await sender.marker(topics[short], replay_begin_marker(first_ms))


async def _end_of_feed(sender: BatchSender, topics: dict[str, str],
                       stats: ReplayStats) -> None:
    """Tell every partition of every feed topic that the feed ended, and when: the workers
    then close the last intervals, as the backtest does at the end of a file."""
    if not stats.newest:
        return
    overall = max(stats.newest.values())
    for short in MARKED_TOPICS:
        topic = topics[short]
        stats.markers += await sender.end_of_feed(topic, stats.newest.get(topic, overall))
    await sender.flush()


def _log_run(settings: Settings, files: Sequence[Path], stats: ReplayStats,
             started: float) -> None:
    """One line per complete replay in ``replays.jsonl`` (``dashboards push`` annotates them)."""
    line = {
        "started": started, "finished": time.time(), "files": [str(f) for f in files],
        "records": stats.records, "rejected": sum(stats.rejected.values()),
        "event_from": None if stats.first_ts_ms is None else stats.first_ts_ms / 1000,
        "event_to": None if stats.last_ts_ms is None else stats.last_ts_ms / 1000,
    }  # fmt: skip
    path = settings.stack_dir / "replays.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
