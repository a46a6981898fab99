"""The ingest service end to end: real Mosquitto (the `broker` fixture) and real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from ingest_helpers import publish_all, publisher, rows, scalar, wait_for
from prometheus_client import CollectorRegistry

from collectors.ingest import IngestService
from ioc.settings import Settings
from ioc.store.batch import CommittedBatch

P = "ioc/v1"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def committed() -> list[CommittedBatch]:
    return []


@pytest.fixture
def service(settings: Settings, registry: CollectorRegistry, committed: list) -> Iterator[IngestService]:
    svc = IngestService(settings, registry=registry, listeners=[committed.append])
    svc.start()
    assert svc.source.wait_connected(10)
    wait_for(lambda: svc.source.client.is_connected(), 5)
    time.sleep(0.2)  # let the SUBACK arrive before tests publish
    yield svc
    svc.stop()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_single_sample_is_stored_with_labels_and_entity(service, settings, registry, committed):
    now = time.time()
    pub = publisher(settings.mqtt_url)
    payload = {"ts": iso(now), "metrics": {"cpu_pct": 12.5, "printer_ok": True}, "labels": {"firmware": "2.4.1"}}
    publish_all(pub, [(f"{P}/metrics/kiosk/kiosk-pv-01", orjson.dumps(payload))])
    wait_for(lambda: scalar(settings.database_url, "SELECT count(*) FROM samples") == 2)
    got = rows(
        settings.database_url,
        "SELECT s.metric, s.labels, v.value, extract(epoch FROM v.ts)::float8 FROM samples v"
        " JOIN series s ON s.id = v.series_id ORDER BY s.metric",
    )
    assert [(m, lb, v) for m, lb, v, _ in got] == [("cpu_pct", {"firmware": "2.4.1"}, 12.5),
                                                   ("printer_ok", {"firmware": "2.4.1"}, 1.0)]  # fmt: skip
    assert all(abs(t - now) < 1e-5 for *_, t in got)
    entity = rows(settings.database_url, "SELECT kind, id, assigned, last_seen IS NOT NULL FROM entities")
    assert entity == [("kiosk", "kiosk-pv-01", False, True)]
    wait_for(lambda: committed)
    assert sum(len(b) for b in committed) == 2
    assert registry.get_sample_value("ioc_samples_stored_total") == 2
    pub.disconnect()


def test_batch_lp_events_and_partly_bad_batch(service, settings, registry):
    now = time.time()
    batch = [{"ts": now - i, "metrics": {"rtt_ms": float(i)}} for i in range(5)]
    batch.insert(2, {"ts": now, "metrics": {"rtt_ms": "fast"}})
    lp = f'ping,url=10.0.0.1 average_response_ms=12.3,result_type="success" {int(now * 1e9)}\n'.encode()
    event = {"ts": now, "type": "printer_jam", "severity": "warning", "message": "Kẹt giấy – UBND xã Phú Vang"}
    pub = publisher(settings.mqtt_url)
    publish_all(pub, [
        (f"{P}/metrics/link/wan-xa-phu-vang", orjson.dumps(batch)),
        (f"{P}/lp/link/wan-xa-phu-vang", lp),
        (f"{P}/events/kiosk/kiosk-pv-01", orjson.dumps(event)),
        (f"{P}/metrics/kiosk/kiosk-pv-01", b"{not json"),
    ])  # fmt: skip
    dsn = settings.database_url
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM dead_letters") == 2)
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM events") == 1)
    assert scalar(dsn, "SELECT count(*) FROM samples") == 6
    assert scalar(dsn, "SELECT count(*) FROM series WHERE metric = 'ping_average_response_ms'") == 1
    dead = rows(dsn, "SELECT topic, reason, detail FROM dead_letters ORDER BY reason")
    assert dead[0][:2] == (f"{P}/metrics/link/wan-xa-phu-vang", "bad_type")
    assert "sample 2" in dead[0][2]
    assert dead[1][1] == "not_json"
    assert rows(dsn, "SELECT message, severity FROM events") == [("Kẹt giấy – UBND xã Phú Vang", "warning")]
    assert registry.get_sample_value("ioc_dead_letters_total", {"reason": "not_json"}) == 1
    pub.disconnect()


def test_status_last_will_marks_entity_offline(service, settings):
    topic = f"{P}/status/kiosk/kiosk-pv-02"
    device = publisher(settings.mqtt_url, client_id="kiosk-pv-02", will=(topic, b"offline"))
    publish_all(device, [(topic, b"online")])
    dsn = settings.database_url
    wait_for(lambda: scalar(dsn, "SELECT mqtt_status FROM entities WHERE id = 'kiosk-pv-02'") == "online")
    device._sock.close()
    device.loop_stop()
    wait_for(lambda: scalar(dsn, "SELECT mqtt_status FROM entities WHERE id = 'kiosk-pv-02'") == "offline", 15)
    assert [r[0] for r in rows(dsn, "SELECT status FROM status_changes ORDER BY ts")] == ["online", "offline"]


def test_same_message_twice_stores_one_copy(service, settings, registry):
    now = time.time()
    msg = (f"{P}/metrics/kiosk/k1", orjson.dumps({"ts": now, "metrics": {"temp_c": 55.1}}))
    pub = publisher(settings.mqtt_url)
    publish_all(pub, [msg])
    wait_for(lambda: registry.get_sample_value("ioc_samples_stored_total") == 1)
    publish_all(pub, [msg, msg])
    wait_for(lambda: registry.get_sample_value("ioc_samples_duplicate_total") == 2)
    assert scalar(settings.database_url, "SELECT count(*) FROM samples") == 1
    pub.disconnect()
