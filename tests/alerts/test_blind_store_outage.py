"""The store away for longer than a heartbeat while devices keep publishing (contract section 2): the
ingest spools and acknowledges, then replays when the store is back; the two `ioc run --role alerts`
processes lose their lease and one comes to lead again. Alerting's blindness is not the kiosks' silence:
no kiosk that kept publishing is paged, the one that really went silent during the outage is paged once,
about a heartbeat after the store returns, and one whose Last Will came meanwhile as soon as it is
replayed. Real PostgreSQL (a cluster of the test's own, stopped and started again), Mosquitto and
processes; a webhook stands in for the on-call channel."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from alert_helpers import Receiver, load_inventory, wait_until, write_rules

from ioc.local_services import Account, LocalPostgres
from ioc.settings import load_settings
from ioc.store.connect import connect, ensure_database
from ioc.store.migrate import migrate
from tests.service_process import IOC
from tests.support import Broker, free_port, mqtt_client

ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 4.0  # the kiosks' interval_s in the inventory (they publish every second)
HEARTBEAT_S = 3 * INTERVAL_S
OUTAGE_S = 20.0  # longer than a heartbeat, and than BLIND_GAP_S (alerting.service): blind either way
INGEST_LAG_S = 6.0
KIOSKS = [f"kiosk-pv-{i:02d}" for i in range(1, 7)]
SILENT = "kiosk-pv-06"  # stops publishing when the store goes away, and stays silent
WILL = "kiosk-pv-05"  # its Last Will (`offline`) comes during the outage: paged at once when replayed
# The kiosks' link and the portal publish too (a silent link would hold the kiosks' pages as unreachable).
OTHERS = [("ioc/v1/metrics/link/wan-xa-phu-vang", {"up": 1}), ("ioc/v1/metrics/service/dvc-portal", {"up": 1})]
RULES = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
"""


class Proc:
    """`ioc run --role ROLE` as a process of its own, its output in a file (shown when a test fails)."""

    def __init__(self, name: str, role: str, env: dict[str, str], logs: Path):
        self.name, self.role, self.log = name, role, logs / f"{name}.log"
        self.port = free_port()
        self.env = {**env, "IOC_HTTP_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        """Started; `wait_until(proc.ready)` before relying on it."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*IOC, "run", "--role", self.role], env=self.env, stdout=out, stderr=out)
        return self

    def ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited:\n{self.log.read_text()}"
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Devices:
    """Every entity publishing a sample every second, in a thread; a kiosk taken out of `publishing` stops."""

    def __init__(self, broker: Broker):
        self.client = mqtt_client(broker.url, f"blind-kiosks-{time.monotonic_ns()}")
        self.publishing = set(KIOSKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            ts = datetime.now(UTC).isoformat()
            for topic, metrics in OTHERS:
                self.client.publish(topic, orjson.dumps({"ts": ts, "metrics": metrics}), qos=1)
            for kiosk in sorted(self.publishing):
                body = orjson.dumps({"ts": ts, "metrics": {"cpu_pct": 12.5}})
                self.client.publish(f"ioc/v1/metrics/kiosk/{kiosk}", body, qos=1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def store() -> Iterator[LocalPostgres]:
    """A PostgreSQL cluster of this test's own (the machine's one is shared: never stopped)."""
    top = Path(tempfile.mkdtemp(prefix="ioc-blind-"))
    top.chmod(0o755)
    pg = LocalPostgres(top / "pg" / "data", account=Account.for_service("postgres"))
    (top / "pg").mkdir()
    Account.for_service("postgres").own(top / "pg")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_a_store_outage_longer_than_a_heartbeat_pages_only_the_kiosks_that_went_silent_or_offline(
    store: LocalPostgres, broker: Broker, receiver: Receiver, tmp_path: Path
) -> None:
    dsn = store.dsn("ioc_blind")
    ensure_database(dsn)
    with connect(dsn, autocommit=True) as conn:
        migrate(conn, load_settings(database_url=dsn, timescaledb="off"))
    load_inventory(dsn, kiosks=len(KIOSKS), interval_s=INTERVAL_S)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env = {
        **env, "PYTHONPATH": str(ROOT), "IOC_DATABASE_URL": dsn, "IOC_MQTT_URL": broker.url,
        "IOC_TIMESCALEDB": "off", "IOC_SPOOL_DIR": str(tmp_path / "spool"),
        "IOC_MQTT_CLIENT_ID": f"ioc-blind-{os.getpid()}-{time.monotonic_ns()}",
        "IOC_ALERT_WEBHOOK_URLS": receiver.url + "/hook",
        "IOC_RULES_DIR": str(write_rules(tmp_path / "rules", RULES)),
        "IOC_ALERT_GROUP_WAIT_S": "1", "IOC_ALERT_TICK_S": "0.5", "IOC_ALERT_TOPOLOGY_HOLD_S": "0",
        "IOC_ALERT_LEASE_S": "3", "IOC_PUBLIC_URL": "https://ioc.example", "IOC_LOG_LEVEL": "INFO",
        # The ingest retries the store within a second once it runs again: its lag is INGEST_LAG_S, well
        # inside the (short) heartbeat, not the 5 s backoff cap on top.
        "IOC_DB_RETRY_MAX_S": "1",
    }  # fmt: skip
    procs = [Proc("ingest", "ingest", env, tmp_path)]
    procs += [Proc(f"alerts-{i}", "alerts", env, tmp_path) for i in (1, 2)]
    devices: Devices | None = None
    pages: list[tuple[float, str, str]] = []  # (arrival, status, entity)

    taken = 0

    def take_pages() -> list[tuple[float, str, str]]:
        nonlocal taken
        bodies = receiver.bodies()
        for body in bodies[taken:]:
            pages.extend((time.time(), a["status"], a["labels"]["entity"]) for a in body["alerts"])
        taken = len(bodies)
        return pages

    try:
        for proc in procs:  # all three start at once
            proc.start()
        for proc in procs:
            wait_until(proc.ready, timeout=30, what=f"{proc.name} ready")
        devices = Devices(broker)

        def seen_and_led() -> bool:
            if "leads now" not in "".join(p.log.read_text() for p in procs[1:]):
                return False
            with connect(dsn) as conn:
                seen = conn.execute("SELECT count(*) FROM entities WHERE last_seen IS NOT NULL").fetchone()[0]
            return bool(seen == len(KIOSKS) + len(OTHERS))

        wait_until(seen_and_led, timeout=30, what="every entity stored, one alerts process leading", every=0.2)
        time.sleep(2)  # a few of the leader's rounds (IOC_ALERT_TICK_S 0.5) with every kiosk seen
        assert take_pages() == [], "nothing is down before the outage"

        devices.publishing.discard(SILENT)
        store.stop()
        time.sleep(OUTAGE_S / 2)  # the kiosks keep publishing; the ingest spools and acknowledges
        devices.publishing.discard(WILL)
        devices.client.publish(f"ioc/v1/status/kiosk/{WILL}", b"offline", qos=1, retain=True).wait_for_publish(5)
        time.sleep(OUTAGE_S / 2)
        # The ingest a few seconds slower than alerting to see the store again (its replay lags): what the
        # store says of the kiosks when alerting takes over is 45 s old.
        assert procs[0].proc is not None
        procs[0].proc.send_signal(signal.SIGSTOP)
        store.start()
        back = time.time()
        time.sleep(INGEST_LAG_S)
        procs[0].proc.send_signal(signal.SIGCONT)

        deadline = back + INGEST_LAG_S + HEARTBEAT_S + 25
        while time.time() < deadline and not any(e == SILENT for _, _, e in take_pages()):
            time.sleep(0.2)
        until = time.time() + 8  # a while more: nobody else, and the page only once
        while time.time() < until:
            take_pages()
            time.sleep(0.2)
        logs = "\n".join(f"--- {p.name}\n{p.log.read_text()[-5000:]}" for p in procs)
        first: dict[tuple[str, str], float] = {}
        for at, status, entity in pages:  # a group's later message repeats the alerts it holds
            first.setdefault((status, entity), at)
        assert list(first) == [("firing", WILL), ("firing", SILENT)], f"pages {pages}\n{logs}"
        will_after, paged_after = first[("firing", WILL)] - back, first[("firing", SILENT)] - back
        print(f"{WILL} (offline) paged {will_after:.1f} s and {SILENT} (silent) {paged_after:.1f} s after the store "
              "came back; nobody else")  # fmt: skip
        assert will_after <= INGEST_LAG_S + 10, f"the Last Will paged {will_after:.1f} s after\n{logs}"
        # A full heartbeat from when alerting sees again (plus the spool's replay and the group wait).
        assert HEARTBEAT_S <= paged_after <= INGEST_LAG_S + HEARTBEAT_S + 20, f"paged {paged_after:.1f} s after\n{logs}"
        assert "leads now" in "".join(p.log.read_text() for p in procs[1:]), logs
        with connect(dsn) as conn:
            stored = conn.execute("SELECT count(*) FROM samples WHERE ts > to_timestamp(%s)", (back - OUTAGE_S,))
            assert stored.fetchone()[0] >= (OUTAGE_S - 5) * (len(KIOSKS) - 1), "the spool was replayed"
    finally:
        if devices is not None:
            devices.close()
        for proc in reversed(procs):
            proc.close()
