"""Retained statuses: a Last Will published while no ingest process ran is seen, and stored once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from ingest_helpers import publish_all, publisher, rows, scalar, wait_for
from prometheus_client import CollectorRegistry

from collectors.ingest import IngestService
from ioc.settings import Settings

P = "ioc/v1"


@contextmanager
def running(settings: Settings, client_id: str) -> Iterator[IngestService]:
    svc = IngestService(settings.model_copy(update={"mqtt_client_id": client_id}), registry=CollectorRegistry())
    svc.start()
    try:
        assert svc.source.wait_connected(10)
        yield svc
    finally:
        svc.stop()


def changes(dsn: str, entity: str) -> list[str]:
    return [r[0] for r in rows(dsn, "SELECT status FROM status_changes WHERE entity = %s ORDER BY ts", (entity,))]


def test_retained_offline_published_before_start_is_stored_once(settings: Settings):
    dsn = settings.database_url
    topic = f"{P}/status/kiosk/kiosk-pv-07"
    device = publisher(settings.mqtt_url)
    device.publish(topic, b"offline", qos=1, retain=True).wait_for_publish(10)
    device.disconnect()
    with running(settings, "ioc-ingest-a") as svc:
        wait_for(lambda: scalar(dsn, "SELECT mqtt_status FROM entities WHERE id = 'kiosk-pv-07'") == "offline")
        wait_for(lambda: svc.metrics.messages_received.labels("status")._value.get() >= 1)
    assert changes(dsn, "kiosk-pv-07") == ["offline"]
    # A restart gets the retained message again (on subscribe): nothing new is recorded.
    with running(settings, "ioc-ingest-a") as svc:
        wait_for(lambda: svc.metrics.messages_received.labels("status")._value.get() >= 1)
        time.sleep(0.3)  # a batch age: anything the retained copy would write is written now
    assert changes(dsn, "kiosk-pv-07") == ["offline"]
    assert rows(dsn, "SELECT kind, assigned, mqtt_status FROM entities WHERE id = 'kiosk-pv-07'") == [
        ("kiosk", False, "offline")
    ]


def test_two_ingest_processes_store_one_status_change_per_message(settings: Settings):
    dsn = settings.database_url
    topic = f"{P}/status/kiosk/kiosk-pv-08"
    device = publisher(settings.mqtt_url)
    device.publish(topic, b"offline", qos=1, retain=True).wait_for_publish(10)
    with running(settings, "ioc-ingest-1") as one, running(settings, "ioc-ingest-2") as two:
        # Both receive the retained offline (each holds its own status subscription): one change stored.
        wait_for(lambda: scalar(dsn, "SELECT mqtt_status FROM entities WHERE id = 'kiosk-pv-08'") == "offline")
        wait_for(lambda: all(s.metrics.messages_received.labels("status")._value.get() >= 1 for s in (one, two)))
        time.sleep(0.3)  # both batches written
        assert changes(dsn, "kiosk-pv-08") == ["offline"]
        # A live message reaches one process through the shared subscription; the plain subscriptions'
        # live copies are dropped.
        publish_all(device, [(topic, b"online")])
        wait_for(lambda: scalar(dsn, "SELECT mqtt_status FROM entities WHERE id = 'kiosk-pv-08'") == "online")
        time.sleep(0.3)
        assert changes(dsn, "kiosk-pv-08") == ["offline", "online"]
    device.disconnect()
