"""Tools around the runtime, not part of it: the local stack that starts Kafka,
Prometheus and Alertmanager on this machine (:mod:`streams.tools.stack`), the demo that
runs on it (:mod:`streams.tools.demo`), and the feed simulator that makes the bundled
demo feed and the test scenarios (:mod:`streams.tools.simulator`)."""
