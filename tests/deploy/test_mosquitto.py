"""The shipped Mosquitto configuration and ACLs, loaded by a real mosquitto: a device publishes only its own
topics on the device listener, the probe only services' and links' on its own listener."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import free_port

DEPLOY = Path("deploy/mosquitto")
USERS = {"ioc": "s3rvice", "kiosk/kiosk-pv-01": "pw-a", "kiosk/kiosk-pv-02": "pw-b"}
PROBE_USERS = {"ioc-probe": "pr0be"}


@dataclass(frozen=True)
class Ports:
    devices: int  # 1883 in the deploy
    probe: int  # 1884


def adapt(conf: str, workdir: Path, ports: Ports) -> str:
    """The deploy configuration with this test's paths and loopback ports, nothing else changed."""
    conf = conf.replace("/mosquitto/config/", f"{workdir}/").replace("/mosquitto/data/", f"{workdir}/data/")
    conf = re.sub(r"^listener 1883$", f"listener {ports.devices} 127.0.0.1", conf, flags=re.M)
    conf = re.sub(r"^listener 1884$", f"listener {ports.probe} 127.0.0.1", conf, flags=re.M)
    return conf.replace("log_dest stdout", "log_dest stderr")


def _passwd(tool: str, path: Path, users: dict[str, str]) -> None:
    path.touch()
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True)
    path.chmod(0o644)


@pytest.fixture
def deploy_broker() -> Iterator[Ports]:
    # Started as root, mosquitto drops to its own user, which must reach these files: pytest's tmp_path
    # sits below a private directory, so use a world-traversable one.
    tmp_path = Path(tempfile.mkdtemp(prefix="ioc-mosquitto-"))
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    tmp_path.chmod(0o755)  # mosquitto started as root drops to its own user and must read these files
    (tmp_path / "data").mkdir(mode=0o777)
    _passwd(passwd_tool, tmp_path / "passwd", USERS)
    _passwd(passwd_tool, tmp_path / "probe.passwd", PROBE_USERS)
    for source, target in (("acl.example", "acl"), ("probe.acl", "probe.acl")):
        shutil.copy(DEPLOY / source, tmp_path / target)
        (tmp_path / target).chmod(0o644)
    ports = Ports(free_port(), free_port())
    port = ports.devices
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(adapt((DEPLOY / "mosquitto.conf").read_text(), tmp_path, ports))
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"mosquitto refused the deploy configuration: {proc.stderr.read()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("mosquitto did not start listening")
            time.sleep(0.05)
    yield ports
    proc.terminate()
    proc.wait(5)
    shutil.rmtree(tmp_path, ignore_errors=True)


def client(port: int, user: str | None, password: str | None = None, **kw: object) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{(user or 'anon').replace('/', '-')}-{time.monotonic_ns()}", **kw
    )  # type: ignore[arg-type]
    if user:
        c.username_pw_set(user, password)
    return c


def connect(c: mqtt.Client, port: int, **kw: object) -> None:
    done: queue.Queue[object] = queue.Queue()
    c.on_connect = lambda cl, u, f, reason, p: done.put(reason)
    c.connect("127.0.0.1", port, **kw)  # type: ignore[arg-type]
    c.loop_start()
    reason = done.get(timeout=5)
    assert not reason.is_failure, reason  # type: ignore[attr-defined]


def test_the_deploy_config_keeps_qos1_queues_large() -> None:
    conf = (DEPLOY / "mosquitto.conf").read_text()
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert int(settings["max_queued_messages"]) >= 1_000_000
    assert settings["persistence"] == "true" and settings["allow_anonymous"] == "false"
    assert int(settings["max_packet_size"]) > 256 * 1024


def subscribed_service(port: int) -> tuple[mqtt.Client, queue.Queue[tuple[str, bytes]]]:
    """The service's account, subscribed as ingest is; what it receives goes onto the queue."""
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    service = client(port, "ioc", USERS["ioc"], protocol=mqtt.MQTTv5)
    subscribed: queue.Queue[object] = queue.Queue()
    service.on_message = lambda c, u, m: got.put((m.topic, m.payload))
    service.on_subscribe = lambda c, u, mid, codes, p: subscribed.put(codes)
    connect(service, port)
    service.subscribe("$share/ioc/ioc/v1/#", qos=1)  # what ingest subscribes to
    assert not subscribed.get(timeout=5)[0].is_failure  # type: ignore[index]
    return service, got


def drain(got: queue.Queue[tuple[str, bytes]], expected: int) -> set[str]:
    received = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            received.add(got.get(timeout=0.2)[0])
        except queue.Empty:
            if len(received) >= expected:
                break
    return received


def test_device_publishes_only_its_own_topics(deploy_broker: Ports) -> None:
    port = deploy_broker.devices
    service, got = subscribed_service(port)
    device = client(port, "kiosk/kiosk-pv-01", USERS["kiosk/kiosk-pv-01"])
    device.will_set("ioc/v1/status/kiosk/kiosk-pv-01", b"offline", qos=1, retain=True)
    connect(device, port)
    for topic in ("ioc/v1/status/kiosk/kiosk-pv-01", "ioc/v1/metrics/kiosk/kiosk-pv-01",
                  "ioc/v1/metrics/kiosk/kiosk-pv-02", "ioc/v1/status/kiosk/kiosk-pv-02",
                  "ioc/v1/metrics/link/wan-xa-phu-vang", "ioc/v1/lp/kiosk/kiosk-pv-01"):  # fmt: skip
        device.publish(topic, b'{"metrics": {"cpu_pct": 1}}', qos=1).wait_for_publish(5)
    received = drain(got, 3)
    assert received == {
        "ioc/v1/status/kiosk/kiosk-pv-01", "ioc/v1/metrics/kiosk/kiosk-pv-01", "ioc/v1/lp/kiosk/kiosk-pv-01",
    }  # fmt: skip
    # Its Last Will goes out on its own status topic.
    device._sock.close()  # type: ignore[union-attr]  # drop the connection without a DISCONNECT
    topic, payload = got.get(timeout=10)
    assert (topic, payload) == ("ioc/v1/status/kiosk/kiosk-pv-01", b"offline")
    device.loop_stop()
    service.loop_stop()
    service.disconnect()


def test_the_probe_publishes_services_and_links_on_its_own_listener(deploy_broker: Ports) -> None:
    service, got = subscribed_service(deploy_broker.devices)
    probe = client(deploy_broker.probe, "ioc-probe", PROBE_USERS["ioc-probe"])
    probe.will_set("ioc/v1/status/link/wan-xa-phu-vang", b"offline", qos=1, retain=True)
    connect(probe, deploy_broker.probe)
    for topic in ("ioc/v1/metrics/service/dvc-portal", "ioc/v1/status/link/wan-xa-phu-vang",
                  "ioc/v1/metrics/link/wan-xa-phu-vang", "ioc/v1/metrics/kiosk/kiosk-pv-01"):  # fmt: skip
        probe.publish(topic, b'{"metrics": {"up": 1}}', qos=1).wait_for_publish(5)
    assert drain(got, 3) == {
        "ioc/v1/metrics/service/dvc-portal",
        "ioc/v1/status/link/wan-xa-phu-vang",
        "ioc/v1/metrics/link/wan-xa-phu-vang",
    }
    probe.loop_stop()
    probe.disconnect()
    service.loop_stop()
    service.disconnect()


def test_each_listener_knows_only_its_own_accounts(deploy_broker: Ports) -> None:
    for port, user, password in ((deploy_broker.probe, "kiosk/kiosk-pv-01", USERS["kiosk/kiosk-pv-01"]),
                                 (deploy_broker.probe, "ioc", USERS["ioc"]),
                                 (deploy_broker.devices, "ioc-probe", PROBE_USERS["ioc-probe"])):  # fmt: skip
        assert refusal(port, user, password) == "Not authorized", (port, user)


def refusal(port: int, user: str | None, password: str | None) -> str:
    """The broker's reason for refusing this login (fails the test if it is accepted)."""
    c = client(port, user, password)
    done: queue.Queue[object] = queue.Queue()
    c.on_connect = lambda cl, u, f, reason, p: done.put(reason)
    c.connect("127.0.0.1", port)
    c.loop_start()
    reason = done.get(timeout=5)
    c.loop_stop()
    assert reason.is_failure, reason  # type: ignore[attr-defined]
    return str(reason)


def test_anonymous_and_wrong_passwords_are_refused(deploy_broker: Ports) -> None:
    for user, password in ((None, None), ("kiosk/kiosk-pv-01", "wrong")):
        for port in (deploy_broker.devices, deploy_broker.probe):
            assert refusal(port, user, password) == "Not authorized", (port, user)
