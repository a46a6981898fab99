"""Probes publish per the contract through a real Mosquitto: samples, retained `online`, Last Will `offline`."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from ioc.cli import app
from tests.support import Broker


def subscribe(broker: Broker, topic: str) -> tuple[mqtt.Client, queue.Queue[tuple[str, bytes, bool]]]:
    got: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{time.monotonic_ns()}")
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: got.put((m.topic, m.payload, m.retain))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, got


def wait_for(got: queue.Queue[tuple[str, bytes, bool]], topic: str, timeout: float = 10) -> tuple[bytes, bool]:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            t, payload, retain = got.get(timeout=left)
        except queue.Empty:
            break
        if t == topic:
            return payload, retain
    raise AssertionError(f"nothing on {topic}")


INVENTORY = """
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", target: 127.0.0.1,
     method: tcp, port: 1, count: 2}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01"}
"""


def test_probe_command_publishes_samples_and_status(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    monkeypatch.setenv("IOC_MQTT_URL", broker.url)
    sub, got = subscribe(broker, "ioc/v1/#")
    try:
        result = CliRunner().invoke(app, ["probe", "all", "--inventory", str(inv), "--once"])
        assert result.exit_code == 0, result.output
        payload, _ = wait_for(got, "ioc/v1/metrics/link/wan-xa-phu-vang")
        doc = orjson.loads(payload)
        assert doc["metrics"]["up"] == 1 and doc["metrics"]["loss_pct"] == 0.0
        assert abs(doc["ts"] - time.time()) < 30
        status, _ = wait_for(got, "ioc/v1/status/link/wan-xa-phu-vang")
        assert status in (b"online", b"offline")
    finally:
        sub.loop_stop()
        sub.disconnect()
    # A clean stop leaves the retained word `offline`.
    late, got2 = subscribe(broker, "ioc/v1/status/#")
    try:
        assert wait_for(got2, "ioc/v1/status/link/wan-xa-phu-vang") == (b"offline", True)
    finally:
        late.loop_stop()
        late.disconnect()


def test_kiosk_command_needs_its_entity(tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    monkeypatch.setenv("IOC_MQTT_URL", broker.url)
    result = CliRunner().invoke(app, ["probe", "kiosk", "--inventory", str(inv), "--entity", "kiosk-xx", "--dry-run"])
    assert result.exit_code == 2
    assert "kiosk-xx: no such entity of the probed kinds in the inventory" in result.output
    result = CliRunner().invoke(
        app, ["probe", "kiosk", "--inventory", str(inv), "--entity", "kiosk-pv-01", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    line = orjson.loads(result.output.strip().splitlines()[0])
    assert line["topic"] == "ioc/v1/metrics/kiosk/kiosk-pv-01" and "cpu_pct" in line["metrics"]


AGENT = """
import sys, time
from collectors.probes.publisher import EntityPublisher
from ioc.settings import MqttTarget
pub = EntityPublisher(MqttTarget.from_url(sys.argv[1]), "ioc/v1", "kiosk", "kiosk-pv-01", role="agent")
pub.start()
assert pub.wait_connected(10)
pub.publish({"cpu_pct": 12.5}, time.time())
print("ready", flush=True)
time.sleep(60)
"""


def test_last_will_says_offline_when_the_agent_dies(broker: Broker) -> None:
    sub, got = subscribe(broker, "ioc/v1/#")
    proc = subprocess.Popen([sys.executable, "-c", AGENT, broker.url], stdout=subprocess.PIPE, cwd=os.getcwd())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        assert wait_for(got, "ioc/v1/status/kiosk/kiosk-pv-01")[0] == b"online"
        assert orjson.loads(wait_for(got, "ioc/v1/metrics/kiosk/kiosk-pv-01")[0])["metrics"] == {"cpu_pct": 12.5}
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert wait_for(got, "ioc/v1/status/kiosk/kiosk-pv-01")[0] == b"offline"
    finally:
        proc.kill()
        proc.wait()
        sub.loop_stop()
        sub.disconnect()
