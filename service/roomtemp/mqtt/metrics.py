"""The bridge's Prometheus metrics, on a registry of its own (its own process and port)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_AGE = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400)


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "roomtemp_mqtt_messages", "Messages received from the broker", registry=r
        )
        self.captures = Counter(
            "roomtemp_mqtt_captures",
            "Captures stored, by outcome (inserted, duplicate, updated)",
            ["outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "roomtemp_mqtt_dead_letters",
            "Messages (or parts of them) answered on the dead-letter topic, by error code",
            ["reason"],
            registry=r,
        )
        self.ignored = Counter(
            "roomtemp_mqtt_ignored",
            "Messages with nothing to store (no mapped field, no matching subscription)",
            ["reason"],
            registry=r,
        )
        self.retries = Counter(
            "roomtemp_mqtt_retries",
            "Batches retried, by reason (database_down, failed)",
            ["reason"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "roomtemp_mqtt_batch_commit_seconds",
            "Time to store and commit one batch",
            buckets=_SECONDS,
            registry=r,
        )
        self.batch_messages = Histogram(
            "roomtemp_mqtt_batch_messages",
            "Messages per committed batch",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=r,
        )
        self.lag = Histogram(
            "roomtemp_mqtt_lag_seconds",
            "From a message's receipt to the commit of its captures",
            buckets=_SECONDS,
            registry=r,
        )
        self.capture_age = Histogram(
            "roomtemp_mqtt_capture_age_seconds",
            "From a capture's ts to its commit (device clock and queueing delay)",
            buckets=_AGE,
            registry=r,
        )
        self.connected = Gauge(
            "roomtemp_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.database_up = Gauge(
            "roomtemp_mqtt_database_up",
            "0 while the last write failed because the database is unreachable",
            registry=r,
        )
        self.database_up.set(1)
