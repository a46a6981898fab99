"""The shipped Mosquitto configuration and ACL, loaded by a real mosquitto: a device publishes only its own topics."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import free_port

DEPLOY = Path("deploy/mosquitto")
USERS = {"ioc": "s3rvice", "kiosk/kiosk-pv-01": "pw-a", "kiosk/kiosk-pv-02": "pw-b"}


def adapt(conf: str, workdir: Path, port: int) -> str:
    """The deploy configuration with this test's paths and a loopback port, nothing else changed."""
    conf = conf.replace("/mosquitto/config/", f"{workdir}/").replace("/mosquitto/data/", f"{workdir}/data/")
    conf = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", conf, flags=re.M)
    return conf.replace("log_dest stdout", "log_dest stderr")


@pytest.fixture
def deploy_broker() -> Iterator[int]:
    # Started as root, mosquitto drops to its own user, which must reach these files: pytest's tmp_path
    # sits below a private directory, so use a world-traversable one.
    tmp_path = Path(tempfile.mkdtemp(prefix="ioc-mosquitto-"))
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    tmp_path.chmod(0o755)  # mosquitto started as root drops to its own user and must read these files
    (tmp_path / "data").mkdir(mode=0o777)
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in USERS.items():
        subprocess.run([passwd_tool, "-b", str(passwd), user, password], check=True)
    passwd.chmod(0o644)
    shutil.copy(DEPLOY / "acl.example", tmp_path / "acl")
    (tmp_path / "acl").chmod(0o644)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(adapt((DEPLOY / "mosquitto.conf").read_text(), tmp_path, port))
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
    yield port
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


def test_device_publishes_only_its_own_topics(deploy_broker: int) -> None:
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    service = client(deploy_broker, "ioc", USERS["ioc"], protocol=mqtt.MQTTv5)
    subscribed: queue.Queue[object] = queue.Queue()
    service.on_message = lambda c, u, m: got.put((m.topic, m.payload))
    service.on_subscribe = lambda c, u, mid, codes, p: subscribed.put(codes)
    connect(service, deploy_broker)
    service.subscribe("$share/ioc/ioc/v1/#", qos=1)  # what ingest subscribes to
    assert not subscribed.get(timeout=5)[0].is_failure  # type: ignore[index]

    device = client(deploy_broker, "kiosk/kiosk-pv-01", USERS["kiosk/kiosk-pv-01"])
    device.will_set("ioc/v1/status/kiosk/kiosk-pv-01", b"offline", qos=1, retain=True)
    connect(device, deploy_broker)
    for topic in ("ioc/v1/status/kiosk/kiosk-pv-01", "ioc/v1/metrics/kiosk/kiosk-pv-01",
                  "ioc/v1/metrics/kiosk/kiosk-pv-02", "ioc/v1/status/kiosk/kiosk-pv-02",
                  "ioc/v1/metrics/link/wan-xa-phu-vang", "ioc/v1/lp/kiosk/kiosk-pv-01"):  # fmt: skip
        device.publish(topic, b'{"metrics": {"cpu_pct": 1}}', qos=1).wait_for_publish(5)
    received = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            received.add(got.get(timeout=0.2)[0])
        except queue.Empty:
            if len(received) >= 3:
                break
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


def test_anonymous_and_wrong_passwords_are_refused(deploy_broker: int) -> None:
    for user, password in ((None, None), ("kiosk/kiosk-pv-01", "wrong")):
        c = client(deploy_broker, user, password)
        done: queue.Queue[object] = queue.Queue()
        c.on_connect = lambda cl, u, f, reason, p, done=done: done.put(reason)
        c.connect("127.0.0.1", deploy_broker)
        c.loop_start()
        reason = done.get(timeout=5)
        c.loop_stop()
        assert reason.is_failure and str(reason) == "Not authorized", reason  # type: ignore[attr-defined]
