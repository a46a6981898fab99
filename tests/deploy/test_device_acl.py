"""`ioc devices credentials` against a real Mosquitto (`allow_anonymous false`, the files it wrote): a device
publishes only its own topics, its Last Will included; the service reads them; rotation takes effect on a
reload; and `ioc run --role ingest` on that broker stores the device's samples and dead-letters nothing."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.service_process import IOC, ioc
from tests.support import Broker, free_port

P = "ioc/v1"
INVENTORY = """
agencies: []
sites:
  - {id: xa-a, name: "UBND xã A"}
entities:
  - {kind: kiosk, id: kiosk-a, name: "Kiosk A", site: xa-a, interval_s: 10}
  - {kind: kiosk, id: kiosk-b, name: "Kiosk B", site: xa-a, interval_s: 10}
  - {kind: link, id: wan-a, name: "Đường truyền xã A", site: xa-a, target: 127.0.0.1, method: tcp, port: 9}
  - {kind: service, id: portal, name: "Cổng DVC", site: xa-a, url: "http://127.0.0.1:9/", timeout_s: 1}
"""
NOT_AUTHORIZED = 0x87
OWN_TOPICS = [f"{P}/{family}/kiosk/kiosk-a" for family in ("metrics", "lp", "status", "events")]
PAYLOADS = {
    "metrics": b'{"metrics": {"cpu_pct": 1}}',
    "lp": b"cpu usage_idle=99.5",
    "status": b"online",
    "events": b'{"type": "printer_jam", "severity": "warning", "message": "jam"}',
}


@dataclass
class Setup:
    dir: Path
    env: dict[str, str]
    accounts: dict[str, tuple[str, str]]  # ref -> (username, password), from the command's output
    broker: Broker

    def reload(self) -> None:
        assert self.broker.proc is not None
        self.broker.proc.send_signal(signal.SIGHUP)


def issue(setup_dir: Path, env: dict[str, str], *extra: str) -> dict[str, tuple[str, str]]:
    # As root the broker drops to its own user, who reads the files through their group.
    group = ["--group", "mosquitto"] if os.geteuid() == 0 else []
    done = ioc(env, "devices", "credentials", "--inventory", str(setup_dir / "inventory.yaml"),
               "--out", str(setup_dir / "broker"), *group, *extra)  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = {}
    for line in done.stdout.splitlines():
        ref, username, password = line.split(" ")
        printed[ref] = (username, password)
    return printed


@pytest.fixture
def setup() -> Iterator[Setup]:
    # Not pytest's tmp_path: a broker started as root drops to its own user, who cannot enter that.
    workdir = Path(tempfile.mkdtemp(prefix="ioc-devcred-"))
    workdir.chmod(0o755)
    (workdir / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    env = dict(os.environ)
    env.pop("IOC_MQTT_TOPIC_PREFIX", None)
    accounts = issue(workdir, env)
    (workdir / "broker").chmod(0o755)
    conf = f"allow_anonymous false\npassword_file {workdir}/broker/passwd\nacl_file {workdir}/broker/acl"
    s = Setup(workdir, env, accounts, Broker(workdir, extra_conf=conf).start())
    try:
        yield s
    finally:
        s.broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class Client:
    """One MQTT connection as a user: what the broker answered to CONNECT, each PUBACK, what arrived."""

    def __init__(self, port: int, user: str, password: str, *, protocol: int = mqtt.MQTTv5, will: str = ""):
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}", protocol=protocol
        )  # type: ignore[arg-type]
        self.c.username_pw_set(user, password)
        if will:
            self.c.will_set(will, b"offline", qos=1, retain=True)
        self.c.reconnect_delay_set(60, 60)  # a refused or dropped connection stays so while the test looks
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: dict[int, ReasonCode] = {}
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.c.on_connect = lambda c, u, f, reason, p: self.connack.put(reason)
        self.c.on_publish = lambda c, u, mid, reason, p: self.acks.__setitem__(mid, reason)
        self.c.on_message = lambda c, u, m: self.received.put((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, reasons, p: self.subacks.put(reasons)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.answer = self.connack.get(timeout=5)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """QoS 1; the PUBACK's reason code (always Success under MQTT 3.1.1, which has none)."""
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        deadline = time.monotonic() + 5
        while info.mid not in self.acks:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return self.acks[info.mid]

    def drop(self) -> None:
        """Lose the connection without a DISCONNECT, as a device losing power: the broker sends its will."""
        self.c.loop_stop()
        self.c.socket().close()  # type: ignore[union-attr]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def login(setup: Setup, ref: str, **kw: object) -> Client:
    username, password = setup.accounts[ref]
    c = Client(setup.broker.port, username, password, **kw)  # type: ignore[arg-type]
    assert not c.answer.is_failure, c.answer
    return c


def service_reader(setup: Setup) -> Client:
    """The service's account with ingest's subscriptions."""
    service = login(setup, "ioc")
    service.c.subscribe([(f"$share/ioc/{P}/#", 1), ("$SYS/broker/load/publish/dropped/1min", 0)])
    assert [r.is_failure for r in service.subacks.get(timeout=5)] == [False, False]
    return service


def drain(c: Client, until: tuple[str, bytes], timeout: float = 10) -> list[tuple[str, bytes]]:
    """Everything `c` received up to and including the message `until` (topic, payload)."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        got.append(c.received.get(timeout=max(0.1, deadline - time.monotonic())))
        if got[-1] == until:
            return got


def test_the_printed_accounts_are_the_service_and_one_per_entity(setup: Setup) -> None:
    assert {ref: username for ref, (username, _) in setup.accounts.items()} == {
        "ioc": "ioc", "kiosk/kiosk-a": "kiosk/kiosk-a", "kiosk/kiosk-b": "kiosk/kiosk-b", "link/wan-a": "link/wan-a",
        "service/portal": "service/portal",
    }  # fmt: skip
    assert len({password for _, password in setup.accounts.values()}) == 5


def test_a_kiosk_publishes_its_own_topics_and_none_of_anothers(setup: Setup) -> None:
    service = service_reader(setup)
    a = login(setup, "kiosk/kiosk-a", will=f"{P}/status/kiosk/kiosk-a")
    for topic in OWN_TOPICS:
        family = topic.split("/")[2]
        assert a.publish(topic, PAYLOADS[family], retain=family == "status").value == 0, topic
    # Another kiosk's topics, another kind's, a topic below its own, and outside the prefix: all refused
    # with MQTT 5's PUBACK reason code 0x87.
    for topic in (f"{P}/metrics/kiosk/kiosk-b", f"{P}/status/kiosk/kiosk-b", f"{P}/lp/kiosk/kiosk-b",
                  f"{P}/events/kiosk/kiosk-b", f"{P}/metrics/link/wan-a", f"{P}/metrics/kiosk/kiosk-a/x",
                  "other/topic"):  # fmt: skip
        reason = a.publish(topic, PAYLOADS["metrics"], retain=topic.startswith(f"{P}/status"))
        assert (reason.value, str(reason)) == (NOT_AUTHORIZED, "Not authorized"), topic
    marker = (f"{P}/metrics/kiosk/kiosk-a", b'{"metrics": {"cpu_pct": 2}}')
    a.publish(*marker)
    assert drain(service, marker) == [*((t, PAYLOADS[t.split("/")[2]]) for t in OWN_TOPICS), marker]

    # Under MQTT 3.1.1 the broker acknowledges a refused message like any other and drops it.
    a3 = login(setup, "kiosk/kiosk-a", protocol=mqtt.MQTTv311)
    assert a3.publish(f"{P}/metrics/kiosk/kiosk-b", PAYLOADS["metrics"]).value == 0
    marker = (f"{P}/metrics/kiosk/kiosk-a", b'{"metrics": {"cpu_pct": 3}}')
    a3.publish(*marker)
    assert drain(service, marker) == [marker]
    a3.close()

    # The service's account reads; it writes nothing.
    assert service.publish(f"{P}/metrics/kiosk/kiosk-a", PAYLOADS["metrics"]).value == NOT_AUTHORIZED
    a.close()
    service.close()


def test_a_kiosk_cannot_log_in_as_another(setup: Setup) -> None:
    username_b, _ = setup.accounts["kiosk/kiosk-b"]
    _, password_a = setup.accounts["kiosk/kiosk-a"]
    for protocol in (mqtt.MQTTv5, mqtt.MQTTv311):  # paho gives MQTT 3.1.1's CONNACK 5 as reason code 0x87
        c = Client(setup.broker.port, username_b, password_a, protocol=protocol)
        assert (c.answer.value, str(c.answer)) == (NOT_AUTHORIZED, "Not authorized"), c.answer
        c.c.loop_stop()
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-anonymous", protocol=mqtt.MQTTv5)
    answers: queue.Queue[ReasonCode] = queue.Queue()
    anonymous.on_connect = lambda c, u, f, reason, p: answers.put(reason)
    anonymous.connect("127.0.0.1", setup.broker.port)
    anonymous.loop_start()
    assert answers.get(timeout=5).value == NOT_AUTHORIZED
    anonymous.loop_stop()


def test_the_last_will_goes_out_on_the_own_status_topic_only(setup: Setup) -> None:
    service = service_reader(setup)
    own = login(setup, "kiosk/kiosk-a", will=f"{P}/status/kiosk/kiosk-a")
    # The broker takes a will on another's topic at CONNECT and refuses it when the time comes.
    forged = login(setup, "kiosk/kiosk-a", will=f"{P}/status/kiosk/kiosk-b")
    forged.drop()
    own.drop()
    will = (f"{P}/status/kiosk/kiosk-a", b"offline")
    assert drain(service, will) == [will]
    marker = (f"{P}/metrics/link/wan-a", PAYLOADS["metrics"])
    link = login(setup, "link/wan-a")
    link.publish(*marker)
    assert drain(service, marker) == [marker]  # no offline of kiosk B came
    link.close()
    service.close()


def test_rotation_refuses_the_old_password_after_a_reload_and_keeps_the_others(setup: Setup) -> None:
    passwd = setup.dir / "broker" / "passwd"
    before = dict(line.split(":", 1) for line in passwd.read_text().splitlines())
    rotated = issue(setup.dir, setup.env, "--rotate", "kiosk/kiosk-a")
    assert list(rotated) == ["kiosk/kiosk-a"]  # the others' passwords are not printed again
    after = dict(line.split(":", 1) for line in passwd.read_text().splitlines())
    assert after["kiosk/kiosk-a"] != before["kiosk/kiosk-a"]
    assert {u: h for u, h in after.items() if u != "kiosk/kiosk-a"} == {
        u: h for u, h in before.items() if u != "kiosk/kiosk-a"
    }
    old_password = setup.accounts["kiosk/kiosk-a"][1]
    new_username, new_password = rotated["kiosk/kiosk-a"]
    setup.reload()
    deadline = time.monotonic() + 10
    while True:  # the broker rereads its files on SIGHUP
        old = Client(setup.broker.port, "kiosk/kiosk-a", old_password)
        old.c.loop_stop()
        if old.answer.is_failure:
            break
        old.close()
        assert time.monotonic() < deadline, "the old password still works after the reload"
        time.sleep(0.1)
    assert old.answer.value == NOT_AUTHORIZED
    service = service_reader(setup)  # the service's account was not rotated: its password still works
    new = Client(setup.broker.port, new_username, new_password)
    assert not new.answer.is_failure, new.answer
    other = login(setup, "kiosk/kiosk-b")  # nor kiosk B's
    for device, topic in ((new, f"{P}/metrics/kiosk/kiosk-a"), (other, f"{P}/metrics/kiosk/kiosk-b")):
        assert device.publish(topic, PAYLOADS["metrics"]).value == 0
        assert drain(service, (topic, PAYLOADS["metrics"])) == [(topic, PAYLOADS["metrics"])]
        device.close()
    service.close()


def test_a_probe_logs_each_entity_in_with_its_own_account(setup: Setup) -> None:
    service = service_reader(setup)
    lines = [f"{ref} {username} {password}" for ref, (username, password) in setup.accounts.items()]
    (setup.dir / "credentials.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(setup.env, IOC_MQTT_URL=f"mqtt://127.0.0.1:{setup.broker.port}",
               IOC_MQTT_CREDENTIALS_FILE=str(setup.dir / "credentials.txt"))  # fmt: skip
    done = ioc(env, "probe", "all", "--inventory", str(setup.dir / "inventory.yaml"), "--once")
    assert done.returncode == 0, done.stderr
    got: dict[str, list[bytes]] = {}
    deadline = time.monotonic() + 10
    while sum(len(v) for v in got.values()) < 6:  # online, one round of metrics, offline: for each of two
        topic, payload = service.received.get(timeout=max(0.1, deadline - time.monotonic()))
        got.setdefault(topic, []).append(payload)
    assert got.keys() == {f"{P}/{family}/{ref}" for family in ("status", "metrics") for ref in
                          ("link/wan-a", "service/portal")}  # fmt: skip
    assert got[f"{P}/status/link/wan-a"] == [b"online", b"offline"] == got[f"{P}/status/service/portal"]
    assert json.loads(got[f"{P}/metrics/link/wan-a"][0])["metrics"]["up"] == 1  # a refused connect answers
    service.close()

    # A file that lacks an account for an entity probed is refused before anything connects.
    username, password = setup.accounts["link/wan-a"]
    (setup.dir / "some.txt").write_text(f"link/wan-a {username} {password}\n", encoding="utf-8")
    short = ioc(dict(env, IOC_MQTT_CREDENTIALS_FILE=str(setup.dir / "some.txt")),
                "probe", "all", "--inventory", str(setup.dir / "inventory.yaml"), "--once")  # fmt: skip
    assert (short.returncode, short.stderr.strip()) == (
        2, f"error: IOC_MQTT_CREDENTIALS_FILE ({setup.dir}/some.txt): no account for service/portal"
    )  # fmt: skip


def test_the_simulator_publishes_for_each_entity_with_its_own_account(setup: Setup) -> None:
    service = service_reader(setup)
    lines = [f"{ref} {username} {password}" for ref, (username, password) in setup.accounts.items()]
    (setup.dir / "credentials.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(setup.env, IOC_MQTT_URL=f"mqtt://127.0.0.1:{setup.broker.port}",
               IOC_MQTT_CREDENTIALS_FILE=str(setup.dir / "credentials.txt"))  # fmt: skip
    done = ioc(env, "simulate", "--inventory", str(setup.dir / "inventory.yaml"), "--duration", "60", "--speed", "60")
    assert done.returncode == 0, done.stderr
    published = int(done.stdout.split("published ")[1].split()[0])
    got = [service.received.get(timeout=5) for _ in range(published)]  # every message, none refused
    assert {topic.split("/", 3)[3] for topic, _ in got} == {"kiosk/kiosk-a", "kiosk/kiosk-b", "link/wan-a",
                                                             "service/portal"}  # fmt: skip
    assert service.received.empty()
    service.close()


def test_ingest_with_the_service_account_stores_the_kiosks_samples_and_dead_letters_nothing(
    setup: Setup, dsn: str
) -> None:
    setup.broker.stop()  # again with the broker's figures every second: the service must be let read them
    conf = f"{setup.broker.extra_conf}\nsys_interval 1"
    setup.broker = Broker(setup.dir, extra_conf=conf).start()
    _, password = setup.accounts["ioc"]
    port = free_port()
    env = dict(
        setup.env, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=f"mqtt://ioc:{password}@127.0.0.1:{setup.broker.port}",
        IOC_HTTP_PORT=str(port), IOC_TIMESCALEDB="off", IOC_SPOOL_DIR=str(setup.dir / "spool"),
        IOC_MQTT_CLIENT_ID=f"ioc-devcred-{time.monotonic_ns()}",
    )  # fmt: skip
    assert ioc(env, "inventory", "load", str(setup.dir / "inventory.yaml")).returncode == 0
    proc = subprocess.Popen([*IOC, "run", "--role", "ingest"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}/readyz")
        a = login(setup, "kiosk/kiosk-a", will=f"{P}/status/kiosk/kiosk-a")
        t0 = time.time() - 60
        for i in range(20):
            body = json.dumps({"ts": t0 + i, "metrics": {"cpu_pct": 10.0 + i}}).encode()
            assert a.publish(f"{P}/metrics/kiosk/kiosk-a", body).value == 0
            # Kiosk A tries to speak for kiosk B and the link: refused by the broker, never seen by ingest.
            assert a.publish(f"{P}/metrics/kiosk/kiosk-b", body).value == NOT_AUTHORIZED
            assert a.publish(f"{P}/metrics/link/wan-a", b"not even JSON").value == NOT_AUTHORIZED
        assert a.publish(f"{P}/status/kiosk/kiosk-a", b"online", retain=True).value == 0
        deadline = time.monotonic() + 20
        while True:
            counts = _counts(dsn)
            if counts["kiosk-a"] == 20 and counts["mqtt-broker"] > 0 and counts["status kiosk-a"] == 1:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.2)
        time.sleep(0.5)  # anything else in flight lands
        counts = _counts(dsn)
        assert counts == {"kiosk-a": 20, "kiosk-b": 0, "wan-a": 0, "mqtt-broker": counts["mqtt-broker"],
                          "status kiosk-a": 1, "dead_letters": 0}  # fmt: skip
        a.close()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "refused" not in out, out  # neither the connection nor a subscription


def _wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"ioc run --role ingest exited: {proc.stdout.read()}")  # type: ignore[union-attr]
        time.sleep(0.1)
    raise AssertionError("ioc run --role ingest never became ready")


def _counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        per_entity = dict(
            conn.execute(
                "SELECT s.entity, count(*) FROM samples x JOIN series s ON s.id = x.series_id GROUP BY s.entity"
            ).fetchall()
        )
        statuses = conn.execute("SELECT count(*) FROM status_changes WHERE entity = 'kiosk-a'").fetchone()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    counts = {name: per_entity.get(name, 0) for name in ("kiosk-a", "kiosk-b", "wan-a", "mqtt-broker")}
    counts["status kiosk-a"] = statuses[0] if statuses else 0
    counts["dead_letters"] = dead[0] if dead else 0
    return counts


def test_the_deploy_broker_configuration_takes_the_files_made_for_the_sample_province() -> None:
    """deploy/mosquitto/mosquitto.conf as shipped (paths and port aside) with the files made for the whole
    sample province: the broker starts, and its kiosks publish their own topics only."""
    workdir = Path(tempfile.mkdtemp(prefix="ioc-devcred-deploy-"))
    workdir.chmod(0o755)
    (workdir / "data").mkdir(mode=0o777)
    (workdir / "data").chmod(0o777)
    group = ["--group", "mosquitto"] if os.geteuid() == 0 else []
    done = ioc(dict(os.environ), "devices", "credentials", "--inventory", "deploy/examples/province.yaml",
               "--out", str(workdir), *group)  # fmt: skip
    assert done.returncode == 0, done.stderr
    accounts = {ref: (username, password) for ref, username, password in map(str.split, done.stdout.splitlines())}
    kiosks = [ref for ref in accounts if ref.startswith("kiosk/")]
    assert len(accounts) > 100 and len(kiosks) > 2
    port = free_port()
    conf = Path("deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    conf = conf.replace("/mosquitto/config/", f"{workdir}/").replace("/mosquitto/data/", f"{workdir}/data/")
    conf = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", conf, flags=re.M)
    (workdir / "mosquitto.conf").write_text(conf.replace("log_dest stdout", "log_dest stderr"), encoding="utf-8")
    broker = Broker(workdir)
    broker.port = port
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker.proc = subprocess.Popen([exe, "-c", str(workdir / "mosquitto.conf")], stderr=subprocess.PIPE)
    try:
        _wait_listening(broker)
        setup = Setup(workdir, dict(os.environ), accounts, broker)
        service = service_reader(setup)
        first, second = kiosks[0], kiosks[1]
        device = login(setup, first, will=f"{P}/status/{first}")
        assert device.publish(f"{P}/metrics/{second}", PAYLOADS["metrics"]).value == NOT_AUTHORIZED
        own = (f"{P}/metrics/{first}", PAYLOADS["metrics"])
        assert device.publish(*own).value == 0
        assert [m for m in drain(service, own) if not m[0].startswith("$SYS/")] == [own]
        device.close()
        service.close()
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_listening(broker: Broker) -> None:
    assert broker.proc is not None
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", broker.port), timeout=0.2).close()
            return
        except OSError:
            if broker.proc.poll() is not None:
                raise AssertionError(f"mosquitto refused the configuration: {broker.proc.stderr.read()!r}") from None  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "mosquitto did not start listening"
            time.sleep(0.05)
