"""Redelivery without kill -9: messages received but not acknowledged come back, and are stored once."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from ingest_helpers import TcpProxy, publish_all, publisher, scalar, wait_for
from prometheus_client import CollectorRegistry

from collectors.ingest import IngestService
from ioc.settings import Settings, load_settings

P = "ioc/v1"
N = 40


def sample(i: int, base: float) -> tuple[str, bytes]:
    return f"{P}/metrics/kiosk/k{i % 5}", orjson.dumps({"ts": base + i * 0.001, "metrics": {"queue_waiting": i}})


def value(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


def test_committed_but_unacknowledged_messages_are_redelivered_and_counted_as_duplicates(dsn, broker, tmp_path):
    """The MQTT connection drops after the messages were received and before their batch committed: the
    batch commits, its acks cannot be sent, the broker delivers the messages again after the reconnect."""
    proxy = TcpProxy(("127.0.0.1", broker.port))
    proxy.start()
    settings = load_settings(
        database_url=dsn, mqtt_url=f"mqtt://127.0.0.1:{proxy.port}", spool_dir=tmp_path / "spool",
        mqtt_client_id="ioc-redelivery", batch_max_age_ms=1500, timescaledb="off",
    )  # fmt: skip
    registry = CollectorRegistry()
    service = IngestService(settings, registry=registry)
    service.start()
    pub = publisher(broker.url)
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.2)  # the SUBACK
        base = time.time() - 60
        publish_all(pub, [sample(i, base) for i in range(N)])
        wait_for(lambda: value(registry, "ioc_samples_received_total") == N)
        proxy.cut()  # the batch (1.5 s old at most) is not committed yet
        assert scalar(dsn, "SELECT count(*) FROM samples") == 0
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") == N)  # committed, the acks lost
        assert not service.connected
        proxy.start()
        wait_for(lambda: value(registry, "ioc_samples_duplicate_total") == N, 20)
        assert value(registry, "ioc_samples_received_total") == 2 * N
        assert scalar(dsn, "SELECT count(*) FROM samples") == N
        assert scalar(dsn, "SELECT count(DISTINCT value) FROM samples") == N
        assert value(registry, "ioc_samples_stored_total") == N
        # Acknowledged this time: nothing more comes back.
        time.sleep(0.3)
        assert value(registry, "ioc_samples_received_total") == 2 * N
    finally:
        service.stop()
        proxy.cut()
        pub.disconnect()


def test_stop_with_store_and_spool_away_leaves_messages_for_the_next_session(settings: Settings, tmp_path: Path):
    """Store unreachable and the spool unable to take the batch: it is held, never acknowledged; the
    service stops without it and the next one with the same client id gets the messages again."""
    dsn = settings.database_url
    proxy = TcpProxy.for_dsn(dsn)
    proxy.start()
    spool_dir = tmp_path / "spool-on-a-file"
    proxied = settings.model_copy(
        update={"database_url": proxy.proxied(dsn), "spool_dir": spool_dir,
                "batch_max_age_ms": 50, "db_retry_attempts": 1, "db_retry_max_s": 0.1}
    )  # fmt: skip
    registry = CollectorRegistry()
    service = IngestService(proxied, registry=registry)
    spool_dir.write_bytes(b"")  # a file where the spool directory should be: appending fails
    service.start()
    pub = publisher(settings.mqtt_url)
    base = time.time() - 60
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.2)
        publish_all(pub, [sample(N, base)])
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") == 1)
        proxy.cut()
        publish_all(pub, [sample(i, base) for i in range(N)])
        wait_for(lambda: value(registry, "ioc_samples_received_total") == N + 1)
        wait_for(lambda: value(registry, "ioc_spool_errors_total") >= 1)
        assert value(registry, "ioc_spooled_batches_total") == 0
    finally:
        service.stop()
    assert scalar(dsn, "SELECT count(*) FROM samples") == 1
    proxy.start()
    spool_dir.unlink()
    registry = CollectorRegistry()
    service = IngestService(proxied, registry=registry)
    service.start()
    try:
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") == N + 1, 20)
        assert value(registry, "ioc_samples_received_total") == N
        assert value(registry, "ioc_samples_duplicate_total") == 0
        assert scalar(dsn, "SELECT count(DISTINCT value) FROM samples") == N + 1
    finally:
        service.stop()
        proxy.cut()
        pub.disconnect()
