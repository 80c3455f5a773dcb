"""Replay historical feed files into Kafka, in event time.

``berthwatch replay PATH...`` reads AIS NMEA, MarineCadastre CSV, container
event and inventory files (plain or gzip), validates every line, and sends
each record to its canonical topic with its event time as the Kafka
timestamp, keyed by entity (MMSI, container number, ``site|item``) and
partitioned exactly as a live producer would (murmur2 of the key, like the
Java client). Bad lines go to the dead-letter topic with the reason in the
headers. Files are merged by event time. ``--speed N`` paces the replay at N
times real time; ``--max`` (the default) sends as fast as the broker takes it.
Speed changes only when records are sent, never what is sent: the topic
contents are identical at any speed. Figures: BENCHMARKS.md.

* :mod:`streams.replay.run`: :func:`replay`, one run from the files to the end-of-feed
  markers;
* :mod:`streams.replay.options`: :class:`ReplayOptions`, :func:`options_from_settings`,
  :class:`ReplayError`;
* :mod:`streams.replay.segments`: the files' items as segments, parsed ahead (in a
  thread, or a child process for big files) and merged in event time;
* :mod:`streams.replay.dispatch`: the items sent, records to their topics and
  rejections to the dead-letter topic, static data only when it changes;
* :mod:`streams.replay.state`: the progress saved for ``--resume``;
* :mod:`streams.replay.stats`: :class:`ReplayStats`, the summary and the plot.

Producing goes through :class:`streams.kafka.io.BatchSender` (aiokafka's batch API).
"""

from streams.replay.dispatch import StaticMemory
from streams.replay.options import ReplayError, ReplayOptions, options_from_settings
from streams.replay.run import ProgressFn, replay
from streams.replay.segments import PARSE_APART_BYTES, Segment
from streams.replay.state import ResumeState, state_path
from streams.replay.stats import ReplayStats

__all__ = [
    "PARSE_APART_BYTES",
    "ProgressFn",
    "ReplayError",
    "ReplayOptions",
    "ReplayStats",
    "ResumeState",
    "Segment",
    "StaticMemory",
    "options_from_settings",
    "replay",
    "state_path",
]
