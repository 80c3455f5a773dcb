"""The streaming worker: feature stage and detection stage on Kafka partitions.

* :mod:`streams.worker.stages`: the two stages as plain objects (no Kafka);
* :mod:`streams.worker.runtime`: batched aiokafka fetches, checkpoints, rebalances;
* :mod:`streams.worker.alerts`: alert transitions for Alertmanager (summary, runbook, links);
* :mod:`streams.worker.export`: the gauges of ``/metrics``;
* :mod:`streams.worker.probes`: what ``/healthz`` and ``/readyz`` answer (progress bound);
* :mod:`streams.worker.local`: the stages driven in process, partitioned as Kafka would.
"""
