"""`ioc simulate` against a real Mosquitto: metrics and retained status arrive, ground truth is written."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from ioc.cli import app
from tests.support import Broker

INVENTORY = """
sites: [{id: xa-phu-vang, name: "UBND xã Phú Vang"}]
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, interval_s: 5}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, depends_on: [link/wan-xa-phu-vang],
     interval_s: 5}
"""
SCENARIO = """
name: "Mất kết nối xã Phú Vang"
incidents:
  - {id: inc-1, type: link_down, target: link/wan-xa-phu-vang, at: 20s, duration: 60s}
"""


def test_simulate_publishes_over_mqtt(broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inv.yaml").write_text(INVENTORY, encoding="utf-8")
    (tmp_path / "sc.yaml").write_text(SCENARIO, encoding="utf-8")
    monkeypatch.setenv("IOC_MQTT_URL", broker.url)
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sim-sub")
    sub.on_connect = lambda c, *_: c.subscribe("ioc/v1/#", qos=1)
    sub.on_message = lambda c, u, m: got.put((m.topic, m.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        time.sleep(0.2)  # let the subscription settle before publishing starts
        began = time.time()
        result = CliRunner().invoke(
            app,
            ["simulate", "--inventory", str(tmp_path / "inv.yaml"), "--scenario", str(tmp_path / "sc.yaml"),
             "--speed", "120", "--duration", "120", "--truth-out", str(tmp_path / "truth.json")],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert time.time() - began < 10
        messages: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                messages.append(got.get(timeout=0.3))
            except queue.Empty:
                break
    finally:
        sub.loop_stop()
        sub.disconnect()
    link = [orjson.loads(p) for t, p in messages if t == "ioc/v1/metrics/link/wan-xa-phu-vang"]
    assert len(link) >= 20
    assert {d["metrics"]["up"] for d in link} == {0, 1}
    assert all(abs(d["ts"] - time.time()) < 300 for d in link), "simulated time never runs into the future"
    kiosk_status = [p for t, p in messages if t == "ioc/v1/status/kiosk/kiosk-pv-01"]
    assert kiosk_status == [b"online", b"offline", b"online"]
    truth = orjson.loads((tmp_path / "truth.json").read_bytes())
    assert truth["complete"] is True and truth["scenario"] == "Mất kết nối xã Phú Vang"
    assert truth["incidents"][0]["affected"] == ["kiosk/kiosk-pv-01", "link/wan-xa-phu-vang"]
