"""The service's own Prometheus metrics, declared in one place against an injected registry."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ioc.supervisor import MULTIPROC_ENV


def aggregate_registry() -> CollectorRegistry:
    """A registry that reads every supervised process's metrics (counters summed, gauges by their mode)."""
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ[MULTIPROC_ENV])
    return registry


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)


class IngestMetrics:
    """Counters and gauges of the MQTT -> store path."""

    def __init__(self, registry: CollectorRegistry):
        self.messages_received = Counter(
            "ioc_messages_received_total",
            "MQTT messages received, by topic family",
            ["family"],
            registry=registry,
        )
        self.samples_received = Counter(
            "ioc_samples_received_total", "Valid samples decoded from MQTT messages", registry=registry
        )
        self.samples_stored = Counter("ioc_samples_stored_total", "Samples committed to the store", registry=registry)
        self.samples_duplicate = Counter(
            "ioc_samples_duplicate_total",
            "Samples not stored again because the series already had a sample at that ts",
            registry=registry,
        )
        self.dead_letters = Counter(
            "ioc_dead_letters_total",
            "Messages or parts of messages kept in the dead-letter store, by reason",
            ["reason"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "ioc_ingest_queue_depth_messages",
            "Messages waiting in the ingest queue",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.batch_size = Histogram(
            "ioc_batch_size_samples", "Samples per committed batch", buckets=_BATCH_BUCKETS, registry=registry
        )
        self.batch_latency = Histogram(
            "ioc_batch_commit_seconds",
            "Time to write and commit one batch",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ingest_latency = Histogram(
            "ioc_ingest_latency_seconds",
            "From MQTT receipt to commit in the store, per message",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.db_retries = Counter(
            "ioc_db_retries_total", "Batch writes retried after a temporary database error", registry=registry
        )
        self.db_errors = Counter(
            "ioc_db_errors_total",
            "Database errors met while writing, by SQLSTATE class",
            ["sqlstate"],
            registry=registry,
        )
        self.spooled_bytes = Gauge(
            "ioc_spool_bytes",
            "Bytes of batches spooled to local disk while the store is away",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.spooled_batches = Counter(
            "ioc_spooled_batches_total", "Batches written to the local spool", registry=registry
        )
        self.replayed_batches = Counter(
            "ioc_spool_replayed_batches_total", "Spooled batches replayed into the store", registry=registry
        )
        self.spool_errors = Counter(
            "ioc_spool_errors_total",
            "Batches the local spool could not take (store away too): held unacknowledged and retried",
            registry=registry,
        )
        self.series_cached = Gauge(
            "ioc_series_cached", "Series ids held in the ingest cache", registry=registry,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.broker_dropped = Gauge(
            "ioc_mqtt_broker_dropped_per_min",
            "Messages the MQTT broker dropped in the last minute, as it reports in $SYS (Mosquitto: "
            "$SYS/broker/load/publish/dropped/1min); above 0 the broker is losing data (queue limits)",
            registry=registry,
            multiprocess_mode="livemax",
        )


class AlertMetrics:
    """Counters and gauges of the alert engine and its notifiers."""

    def __init__(self, registry: CollectorRegistry):
        self.batches = Counter(
            "ioc_alert_batches_total", "Committed batches evaluated by the alert engine", registry=registry
        )
        self.samples = Counter(
            "ioc_alert_samples_evaluated_total", "Samples evaluated by the alert engine", registry=registry
        )
        self.eval_seconds = Histogram(
            "ioc_alert_evaluation_seconds",
            "Time to evaluate one committed batch or one tick",
            ["what"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.transitions = Counter(
            "ioc_alert_transitions_total", "Alert state changes, by new state", ["state"], registry=registry
        )
        self.open_alerts = Gauge(
            "ioc_alerts_open",
            "Open alerts held by the engine, by state",
            ["state"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.notifications = Counter(
            "ioc_alert_notifications_total", "Messages delivered, by channel", ["channel"], registry=registry
        )
        self.notification_failures = Counter(
            "ioc_alert_notification_failures_total",
            "Messages given up on after retries, by channel",
            ["channel"],
            registry=registry,
        )
        self.notification_retries = Counter(
            "ioc_alert_notification_retries_total", "Message attempts retried, by channel", ["channel"],
            registry=registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "ioc_alert_queue_depth_batches",
            "Committed batches waiting for the alert engine",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.leader = Gauge(
            "ioc_alerts_leader",
            "1 while this alerts process leads (evaluates and notifies), 0 while it stands by",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.dropped_batches = Counter(
            "ioc_alert_dropped_batches_total",
            "Committed batches not evaluated because the engine's queue was full",
            registry=registry,
        )
