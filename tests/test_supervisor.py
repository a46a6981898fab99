"""`ioc run`'s supervisor: the processes it starts, restarts with backoff, and stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ioc.settings import load_settings
from ioc.supervisor import ChildSpec, Supervisor, child_specs
from tests.service_process import ServiceProcess, ioc
from tests.support import Broker, free_port


def test_the_children_and_what_each_is_told():
    settings = load_settings(http_port=9000, ingest_processes=3, mqtt_client_id="ioc-ingest", spool_dir="var/spool")
    specs = child_specs(settings)
    assert [(s.name, s.role, s.port) for s in specs] == [
        ("api", "api", 9000), ("alerts", "alerts", 9001),
        ("ingest-0", "ingest", 9002), ("ingest-1", "ingest", 9003), ("ingest-2", "ingest", 9004),
    ]  # fmt: skip
    by_name = {s.name: s.env for s in specs}
    assert by_name["ingest-0"] == {}  # the configured client id and spool: an upgrade resumes its session
    assert by_name["ingest-2"] == {
        "IOC_MQTT_CLIENT_ID": "ioc-ingest-2", "IOC_SPOOL_DIR": str(Path("var/spool/ingest-2")),
        "IOC_MQTT_SYS_SAMPLES": "false",
    }  # fmt: skip
    assert by_name["api"]["IOC_PEER_URLS"].split(",") == [
        "http://127.0.0.1:9001/#alerts", "http://127.0.0.1:9002/#ingest-0",
        "http://127.0.0.1:9003/#ingest-1", "http://127.0.0.1:9004/#ingest-2",
    ]  # fmt: skip


def test_one_ingest_process_per_core_beyond_the_first():
    specs = child_specs(load_settings(ingest_processes=0))
    assert sum(s.role == "ingest" for s in specs) == max(1, (os.cpu_count() or 1) - 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _python(code: str):  # type: ignore[no-untyped-def]
    def spawn(spec: ChildSpec, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code], env=env)

    return spawn


def test_a_child_that_keeps_dying_is_restarted_with_growing_backoff():
    clock = FakeClock()
    supervisor = Supervisor(
        [ChildSpec("ingest-0", "ingest", free_port())], spawn=_python("raise SystemExit(3)"), clock=clock,
        backoff_base_s=1.0, backoff_max_s=4.0, stable_after_s=60.0,
    )  # fmt: skip
    child = supervisor.children[0]
    supervisor._start(child)
    delays = []
    for _ in range(5):
        assert child.proc is not None
        child.proc.wait(10)
        supervisor.check()  # notes the exit: no restart before the backoff runs out
        assert child.proc is None and child.restart_at is not None
        delays.append(child.restart_at - clock.now)
        clock.now = child.restart_at - 0.01
        supervisor.check()
        assert child.proc is None
        clock.now = child.restart_at
        supervisor.check()
        assert child.proc is not None
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert supervisor.restarts == 5
    child.proc.wait(10)


def test_a_child_that_ran_for_a_while_is_restarted_at_once():
    clock = FakeClock()
    supervisor = Supervisor(
        [ChildSpec("alerts", "alerts", free_port())], spawn=_python("raise SystemExit(1)"), clock=clock,
        stable_after_s=60.0,
    )  # fmt: skip
    child = supervisor.children[0]
    supervisor._start(child)
    assert child.proc is not None
    child.proc.wait(10)
    clock.now += 61
    supervisor.check()
    assert child.proc is not None and supervisor.restarts == 1  # a crash after a good run: no backoff
    child.proc.wait(10)


def test_stop_sends_sigterm_then_kills_a_child_that_ignores_it(tmp_path: Path):
    stubborn = (
        "import os, signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(tmp_path)!r}, os.environ['IOC_HTTP_PORT']).touch(); time.sleep(120)"
    )
    supervisor = Supervisor(
        [ChildSpec("api", "api", free_port()), ChildSpec("ingest-0", "ingest", free_port())],
        spawn=_python(stubborn), grace_s=0.5, poll_s=0.05,
    )  # fmt: skip
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(supervisor.run()))
    runner.start()
    deadline = time.monotonic() + 10
    while len(list(tmp_path.iterdir())) < 2:  # both ignore SIGTERM now
        assert time.monotonic() < deadline
        time.sleep(0.05)
    procs = [c.proc for c in supervisor.children]
    supervisor.request_stop()
    runner.join(10)
    assert result == [1]  # not a clean stop: a child had to be killed
    assert all(p is not None and p.returncode == -signal.SIGKILL for p in procs)


KIOSKS = 20
INVENTORY = 'agencies: []\nsites:\n  - {id: xa-a, name: "UBND xã A"}\nentities:\n' + "".join(
    f'  - {{kind: kiosk, id: k{i:02d}, name: "Kiosk {i:02d}", site: xa-a, interval_s: 10}}\n' for i in range(KIOSKS)
)


def _stored(dsn: str, kind: str = "kiosk") -> tuple[int, int]:
    """Samples of this kind's entities in the store: all, and distinct (series, ts)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (x.series_id, x.ts)) FROM samples x "
            "JOIN series s ON s.id = x.series_id WHERE s.kind = %s",
            (kind,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def _stored_all(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM samples").fetchone()
    assert row is not None
    return int(row[0])


def test_ioc_run_runs_each_part_in_its_own_process_and_restarts_a_killed_one(dsn: str, broker: Broker, tmp_path):
    env = dict(
        os.environ, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_HTTP_PORT=str(free_port()),
        IOC_TIMESCALEDB="off", IOC_SPOOL_DIR=str(tmp_path / "spool"), IOC_INGEST_PROCESSES="2",
        IOC_MQTT_CLIENT_ID=f"ioc-sup-{time.monotonic_ns()}", IOC_BATCH_MAX_AGE_MS="50",
    )  # fmt: skip
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    assert ioc(env, "inventory", "load", str(tmp_path / "inventory.yaml")).returncode == 0
    service = ServiceProcess(env).start()
    assert service.proc is not None
    supervisor = psutil.Process(service.proc.pid)
    roles = sorted(" ".join(c.cmdline()[-2:]) for c in supervisor.children())
    assert roles == ["--role alerts", "--role api", "--role ingest", "--role ingest"]

    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kiosks", protocol=mqtt.MQTTv5)
    device.connect("127.0.0.1", broker.port)
    device.loop_start()
    t0 = time.time() - 60

    def publish(rounds: range) -> None:
        for r in rounds:
            for i in range(KIOSKS):
                payload = json.dumps({"ts": t0 + r * 0.01, "metrics": {"cpu_pct": float(r)}})
                device.publish(f"ioc/v1/metrics/kiosk/k{i:02d}", payload, qos=1).wait_for_publish(5)

    def wait_stored(n: int) -> None:
        deadline = time.monotonic() + 60
        while _stored(dsn)[0] < n:
            assert time.monotonic() < deadline, f"stored {_stored(dsn)} of {n}"
            time.sleep(0.2)

    def stored_total() -> float:
        metrics = httpx.get(f"{service.base}/metrics").text  # every process's counters, added up
        return sum(float(x.split()[-1]) for x in metrics.splitlines() if x.startswith("ioc_samples_stored_total "))

    try:
        publish(range(0, 50))
        wait_stored(50 * KIOSKS)
        deadline = time.monotonic() + 10
        while stored_total() != _stored_all(dsn) and time.monotonic() < deadline:
            time.sleep(0.1)  # the counter follows the commit (and the broker's figures come every 10 s)
        assert stored_total() == _stored_all(dsn) >= 50 * KIOSKS
        ingest = [c for c in supervisor.children() if c.cmdline()[-1] == "ingest"]
        ingest[0].kill()  # kill -9, mid-stream
        publish(range(50, 100))
        wait_stored(100 * KIOSKS)
        time.sleep(1.0)  # anything redelivered after the kill has arrived
        assert _stored(dsn) == (100 * KIOSKS, 100 * KIOSKS)  # each sample once, none lost
        restarted = [c for c in supervisor.children() if c.cmdline()[-1] == "ingest"]
        assert len(restarted) == 2 and ingest[0].pid not in {c.pid for c in restarted}
    finally:
        device.loop_stop()
        device.disconnect()
        children = supervisor.children()
        out = service.stop()
    assert "restarting" in out
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, "every child stops with the supervisor"


def test_a_process_whose_port_is_taken_says_so_and_exits(dsn: str, broker: Broker, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = dict(
        os.environ, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_HTTP_PORT=str(port), IOC_HTTP_HOST="127.0.0.1",
        IOC_TIMESCALEDB="off", IOC_SPOOL_DIR=str(tmp_path / "spool"),
        IOC_MQTT_CLIENT_ID=f"ioc-port-{time.monotonic_ns()}",
    )  # fmt: skip
    try:
        done = ioc(env, "run", "--role", "alerts")
    finally:
        taken.close()
    assert done.returncode == 1
    assert f"cannot listen on port {port}" in done.stderr and "Traceback" not in done.stderr
