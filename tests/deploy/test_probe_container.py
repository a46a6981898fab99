"""The probe container as compose.yaml runs it, without docker: its command and environment, the broker
with the shipped mosquitto.conf and the files `ioc devices credentials` writes, and the service's
account subscribed as ingest is. Each service and link the probe measures is published under its own
account, and the service receives it."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.deploy.test_mosquitto import adapt
from tests.support import free_port

DEPLOY = Path("deploy")
INVENTORY = """
agencies: []
sites:
  - {id: xa-a, name: "UBND xã A"}
entities:
  - {kind: kiosk, id: kiosk-a, name: "Kiosk A", site: xa-a}
  - {kind: link, id: wan-a, name: "Đường truyền xã A", site: xa-a, target: 127.0.0.1, method: tcp, port: 9,
     count: 1, timeout_s: 0.5}
  - {kind: service, id: portal, name: "Cổng DVC", site: xa-a, url: "http://127.0.0.1:9/", timeout_s: 1}
"""


def _ioc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ioc", *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_probe_publishes_each_entity_under_its_own_account() -> None:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(exe, os.X_OK):
        pytest.skip("mosquitto is not installed")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    probe = compose["services"]["probe"]
    workdir = Path(tempfile.mkdtemp(prefix="ioc-probe-container-"))  # the broker's own user must enter it
    workdir.chmod(0o755)
    (workdir / "data").mkdir(mode=0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    try:
        (workdir / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
        group = ["--group", "mosquitto"] if os.geteuid() == 0 else []
        made = _ioc(env, "devices", "credentials", "--inventory", str(workdir / "inventory.yaml"), "--out",
                    str(workdir), *group)  # fmt: skip
        if made.returncode != 0 and "No such command" in made.stderr:
            pytest.skip("`ioc devices credentials` is not in this tree")
        assert made.returncode == 0, made.stderr
        lines = made.stdout.splitlines()
        service_user, service_password = next(line.split()[1:] for line in lines if line.startswith("ioc "))
        # deploy/README.md step 3: the service and link lines make probe-credentials.txt.
        probed = [line for line in lines if re.match(r"^(service|link)/", line)]
        assert len(probed) == 2
        credentials = workdir / "probe-credentials.txt"
        credentials.write_text("\n".join(probed) + "\n", encoding="utf-8")
        port = free_port()
        conf = adapt((DEPLOY / "mosquitto/mosquitto.conf").read_text(encoding="utf-8"), workdir, port)
        (workdir / "mosquitto.conf").write_text(conf, encoding="utf-8")
        broker = subprocess.Popen([exe, "-c", str(workdir / "mosquitto.conf")], stderr=subprocess.PIPE, text=True)
        try:
            got: queue.Queue[str] = queue.Queue()
            service = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-service", protocol=mqtt.MQTTv5)
            service.username_pw_set(service_user, service_password)
            service.on_message = lambda c, u, m: got.put(m.topic)
            deadline = time.monotonic() + 10
            while True:
                try:
                    service.connect("127.0.0.1", port)
                    break
                except OSError:
                    assert broker.poll() is None, broker.stderr.read()  # type: ignore[union-attr]
                    assert time.monotonic() < deadline, "mosquitto did not listen"
                    time.sleep(0.05)
            service.subscribe("$share/ioc/ioc/v1/#", qos=1)
            service.loop_start()
            time.sleep(0.3)
            # The probe's command and environment as compose gives them, pointed at this broker and files.
            probe_env = {**env, **probe["environment"]}
            probe_env["IOC_MQTT_URL"] = probe_env["IOC_MQTT_URL"].replace("broker:1883", f"127.0.0.1:{port}")
            probe_env["IOC_MQTT_CREDENTIALS_FILE"] = str(credentials)
            command = [
                str(workdir / "inventory.yaml") if a == "/etc/ioc/inventory.yaml" else a for a in probe["command"]
            ]
            done = _ioc(probe_env, *command, "--once")
            assert done.returncode == 0, done.stderr
            received = set()
            deadline = time.monotonic() + 10
            expected = {"ioc/v1/metrics/service/portal", "ioc/v1/metrics/link/wan-a"}
            while not expected <= received and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    received.add(got.get(timeout=0.2))
            assert expected <= received, received
            service.loop_stop()
            service.disconnect()
        finally:
            broker.terminate()
            broker.wait(5)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
