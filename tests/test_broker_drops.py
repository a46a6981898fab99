"""A broker with stock limits drops what it cannot queue for the service while the service restarts:
`ioc run` sees it in the broker's $SYS figures and says so on /metrics, in /readyz and with a page."""

from __future__ import annotations

import json
import os
import queue
import time

import httpx
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from tests.service_process import ServiceProcess, ioc, webhook_receiver
from tests.support import Broker, free_port

INVENTORY = """
agencies: []
sites:
  - {id: xa-a, name: "UBND xã A"}
entities:
  - {kind: kiosk, id: kiosk-a-01, name: "Kiosk lấy số 01", site: xa-a, interval_s: 10}
"""
QUEUED = 1000  # Mosquitto's stock max_queued_messages


def _dropped_per_min(base: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("ioc_mqtt_broker_dropped_per_min"):
            return float(line.split()[-1])
    raise AssertionError("ioc_mqtt_broker_dropped_per_min is not on /metrics")


def test_a_restart_against_a_stock_broker_reports_the_drops(dsn, tmp_path):
    # The stock queue limit (the later line wins over the test brokers' raised one), $SYS every second.
    broker = Broker(tmp_path, extra_conf=f"max_queued_messages {QUEUED}\nsys_interval 1").start()
    try:
        with webhook_receiver() as (hook_url, pages):
            env = dict(
                os.environ, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_HTTP_PORT=str(free_port()),
                IOC_TIMESCALEDB="off", IOC_SPOOL_DIR=str(tmp_path / "spool"), IOC_INGEST_PROCESSES="1",
                IOC_MQTT_CLIENT_ID=f"ioc-drops-{time.monotonic_ns()}", IOC_ALERT_WEBHOOK_URLS=hook_url,
                IOC_ALERT_GROUP_WAIT_S="0.2",
            )  # fmt: skip
            (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
            assert ioc(env, "inventory", "load", str(tmp_path / "inventory.yaml")).returncode == 0
            service = ServiceProcess(env).start()  # its persistent session now exists at the broker
            assert _dropped_per_min(service.base) == 0.0
            service.stop()

            # While it restarts, a kiosk keeps publishing: the broker queues 1,000 and drops the rest.
            device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kiosk-a-01", protocol=mqtt.MQTTv5)
            device.connect("127.0.0.1", broker.port)
            device.loop_start()
            t0 = time.time() - 300
            sent = []  # paho keeps 20 in flight and queues the rest in order: the broker gets all 3,000
            for i in range(3 * QUEUED):
                body = json.dumps({"ts": t0 + i * 0.05, "metrics": {"cpu_pct": 10.0}})
                sent.append(device.publish("ioc/v1/metrics/kiosk/kiosk-a-01", body, qos=1))
            for info in sent:
                info.wait_for_publish(30)
                assert info.is_published()
            device.loop_stop()
            device.disconnect()

            service = ServiceProcess(env).start()
            try:
                deadline = time.monotonic() + 20
                while _dropped_per_min(service.base) == 0.0:
                    assert time.monotonic() < deadline, "the broker's drops never reached /metrics"
                    time.sleep(0.2)
                ready = httpx.get(f"{service.base}/readyz").json()
                assert any("dropping messages" in p and "ingest-0" in p for p in ready["problems"]), ready
                page = _next_page(pages, "mqtt_broker_dropping", timeout=30)
                assert page["status"] == "firing"
                alert = next(a for a in page["alerts"] if a["labels"]["alertname"] == "mqtt_broker_dropping")
                assert alert["labels"]["severity"] == "critical" and alert["labels"]["entity"] == "mqtt-broker"
                assert "bỏ tin nhắn" in alert["annotations"]["summary"]
            finally:
                service.stop()
        with psycopg.connect(dsn) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id WHERE s.entity = 'kiosk-a-01'"
            ).fetchone()
        assert stored is not None and stored[0] < 3 * QUEUED  # what was dropped is really lost: hence the page
    finally:
        broker.stop()


def _next_page(pages: queue.Queue[dict], alertname: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = pages.get(timeout=max(0.1, deadline - time.monotonic()))
        if any(a["labels"]["alertname"] == alertname for a in body["alerts"]):
            return body
