"""berthwatch's Kafka contracts, each in one place.

* :mod:`streams.kafka.topics`: the table of topics (kind, key, partitioner, configuration),
  creating and listing them;
* :mod:`streams.kafka.records`: one encoder and decoder per record kind on the wire
  (dead letters, end-of-feed markers, alerts, partials messages, checkpoints);
* :mod:`streams.kafka.io`: the partitioner, the batch sender and the reader of a topic to
  its end.
"""
