"""The whole service as a process, driven only through the wire contract: the CLI of section 6, MQTT
topics of section 2, the HTTP API of section 4 and a webhook of section 5."""

from __future__ import annotations

import json
import os
import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.service_process import ServiceProcess, ioc, webhook_receiver
from tests.support import Broker, free_port

INVENTORY = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, interval_s: 10}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 10}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", system: dvc_portal, agency: so-tttt,
     site: dc-tinh, url: "https://dichvucong.example.gov.vn/"}
"""


@pytest.fixture
def webhook() -> Iterator[tuple[str, queue.Queue[dict]]]:
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def service(
    dsn: str, broker: Broker, tmp_path: Path, webhook: tuple[str, queue.Queue[dict]]
) -> Iterator[tuple[str, str, dict[str, str]]]:
    port = free_port()
    env = dict(
        os.environ,
        IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_HTTP_PORT=str(port), IOC_TIMESCALEDB="off",
        IOC_SPOOL_DIR=str(tmp_path / "spool"), IOC_MQTT_CLIENT_ID=f"ioc-contract-{time.monotonic_ns()}",
        IOC_ALERT_WEBHOOK_URLS=webhook[0], IOC_ALERT_GROUP_WAIT_S="0.2", IOC_BATCH_MAX_AGE_MS="50",
    )  # fmt: skip
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    assert ioc(env, "migrate").returncode == 0
    loaded = ioc(env, "inventory", "load", str(tmp_path / "inventory.yaml"))
    assert loaded.returncode == 0, loaded.stderr
    created = ioc(env, "keys", "create", "--role", "admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    running = ServiceProcess(env).start()
    yield running.base, key, env
    running.stop()


def _until(check, what: str, seconds: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_contract_end_to_end(
    service: tuple[str, str, dict[str, str]], broker: Broker, webhook: tuple[str, queue.Queue[dict]]
) -> None:
    base, key, _ = service
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=5)
    now = datetime.now(UTC).replace(microsecond=0)

    kiosk = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kiosk-pv-01")
    kiosk.will_set("ioc/v1/status/kiosk/kiosk-pv-01", "offline", qos=1, retain=True)
    kiosk.connect("127.0.0.1", broker.port)
    kiosk.loop_start()
    publish = [
        kiosk.publish("ioc/v1/status/kiosk/kiosk-pv-01", "online", qos=1, retain=True),
        kiosk.publish("ioc/v1/metrics/kiosk/kiosk-pv-01", json.dumps(
            [{"ts": (now - timedelta(seconds=20 - i)).isoformat(), "metrics": {"cpu_pct": 10.0 + i, "printer_ok": True},
              "labels": {"firmware": "2.4.1"}} for i in range(3)]), qos=1),
        kiosk.publish("ioc/v1/lp/link/wan-xa-phu-vang", qos=1,
                      payload=f"ping,url=10.0.0.1 average_response_ms=12.5 {int(now.timestamp()) * 10**9}"),
        kiosk.publish("ioc/v1/metrics/kiosk/kiosk-pv-01", b"{not json", qos=1),
        kiosk.publish("ioc/v1/metrics/kiosk/ghost-01", json.dumps({"metrics": {"cpu_pct": 1}}), qos=1),
        kiosk.publish("ioc/v1/events/kiosk/kiosk-pv-01", qos=1, payload=json.dumps(
            {"ts": now.isoformat(), "type": "printer_jam", "severity": "warning", "message": "Kẹt giấy"})),
    ]  # fmt: skip
    for info in publish:
        info.wait_for_publish(5)

    since = {"from": str(int(now.timestamp()) - 3600)}

    def cpu_series() -> dict | None:
        answer = api.get("/api/v1/entities/kiosk/kiosk-pv-01/series/cpu_pct", params=since)
        return answer.json() if answer.status_code == 200 and len(answer.json()["points"]) == 3 else None

    series = _until(cpu_series, "the three cpu_pct samples")
    assert [p[1] for p in series["points"]] == [10.0, 11.0, 12.0]
    assert series["series"][0]["labels"] == {"firmware": "2.4.1"}
    lp = api.get("/api/v1/entities/link/wan-xa-phu-vang/series/ping_average_response_ms", params=since)
    assert lp.status_code == 200 and [p[1] for p in lp.json()["points"]] == [12.5]
    assert lp.json()["series"][0]["labels"] == {"url": "10.0.0.1"}

    entities = {(e["kind"], e["id"]): e for e in api.get("/api/v1/entities").json()}
    assert entities[("kiosk", "kiosk-pv-01")]["name"] == "Kiosk lấy số 01"
    assert entities[("kiosk", "kiosk-pv-01")]["status"] == "ok"
    assert ("kiosk", "ghost-01") in entities, "an unknown entity is listed, as unassigned"

    metrics = httpx.get(f"{base}/metrics").text
    assert 'ioc_dead_letters_total{reason="not_json"} 1.0' in metrics

    # The kiosk dies without a word: its Last Will makes it down and pages, in Vietnamese.
    kiosk._sock.close()  # type: ignore[union-attr]  # a dead device sends no DISCONNECT
    kiosk.loop_stop()
    message = webhook[1].get(timeout=30)
    assert message["version"] == "4" and message["status"] == "firing"
    alert = message["alerts"][0]
    assert alert["labels"]["entity"] == "kiosk-pv-01" and alert["labels"]["kind"] == "kiosk"
    assert {"alertname", "severity", "site", "agency"} <= set(alert["labels"])
    assert "Kiosk lấy số 01" in json.dumps(alert["annotations"], ensure_ascii=False)

    def kiosk_down() -> bool:
        kiosks = api.get("/api/v1/entities", params={"kind": "kiosk"}).json()
        return next(e["status"] for e in kiosks if e["id"] == "kiosk-pv-01") == "down"

    _until(kiosk_down, "the kiosk to be down")
    firing = api.get("/api/v1/alerts", params={"state": "firing"}).json()
    assert any(a["labels"]["entity"] == "kiosk-pv-01" for a in firing)
    alert_id = next(a["id"] for a in firing if a["labels"]["entity"] == "kiosk-pv-01")
    acked = api.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "Nguyễn Văn An", "comment": "Đang xử lý"})
    assert acked.status_code == 200
    assert next(a for a in api.get("/api/v1/alerts").json() if a["id"] == alert_id)["acked_by"] == "Nguyễn Văn An"


def test_api_refuses_without_a_key_and_names_bad_parameters(service: tuple[str, str, dict[str, str]]) -> None:
    base, key, _ = service
    assert httpx.get(f"{base}/api/v1/entities").status_code == 401
    assert httpx.get(f"{base}/healthz").status_code == 200
    bad = httpx.get(
        f"{base}/api/v1/entities/kiosk/kiosk-pv-01/series/cpu_pct",
        params={"step": "banana"}, headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert 400 <= bad.status_code < 500
    assert "step" in bad.json()["detail"]
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"]
