"""A kill -9 of the alerting process in the middle of a group wait and of a flap, and a restart, sends
exactly the messages a run without the restart sends (issue 8, item 6; Alertmanager issue #4064)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg
import pytest
from alert_helpers import Receiver, write_rules

from ioc.inventory import parse_inventory, store_inventory
from ioc.store.batch import COMMITTED_CHANNEL
from tests.conftest import _truncate

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = """
agencies: [{id: so-tttt, name: "Sở Thông tin và Truyền thông"}]
sites: [{id: xa-phu-vang, name: "UBND xã Phú Vang"}]
entities:
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt, interval_s: 100}
  - {kind: kiosk, id: kiosk-pv-02, name: "Kiosk lấy số 02", site: xa-phu-vang, agency: so-tttt, interval_s: 100}
"""
RULES = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    keep_firing_for: 2s
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
"""
GROUP_WAIT_S = 2.0
# (seconds from the start, kiosk, status), none at the group's flushes (2, 4, 6, ...). Kills at 0.5,
# inside the first group wait, and at 5.7: kiosk 01 resolved at 5.3, its message due at the next flush
# (6); kiosk 02 flapping, clearing since 4.7 with three flaps behind it, so its keep_firing_for is 6 s
# (FLAPPING_HOLD_FACTOR x 2 s) and going offline at 9.3 is the same incident: no page.
EVENTS = [
    (0.0, "kiosk-pv-01", "offline"), (0.0, "kiosk-pv-02", "offline"),
    (2.3, "kiosk-pv-02", "online"), (2.7, "kiosk-pv-02", "offline"), (3.0, "kiosk-pv-02", "online"),
    (3.3, "kiosk-pv-02", "offline"), (3.3, "kiosk-pv-01", "online"), (3.7, "kiosk-pv-02", "online"),
    (4.3, "kiosk-pv-02", "offline"), (4.7, "kiosk-pv-02", "online"),
    (9.3, "kiosk-pv-02", "offline"),
]  # fmt: skip
KILLS = (0.5, 5.7)
END = 11.5  # a flush (10) and more after the last event


class AlertProcess:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        script = str(ROOT / "tests" / "alerts" / "alert_process.py")
        self.proc = subprocess.Popen([sys.executable, script], env=self.env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == "ready\n", f"the alert process did not start: {line!r}"

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()


def publish(dsn: str, entity: str, status: str) -> None:
    """What the ingest writer does with a status message: the entity's status, the change, a NOTIFY."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        now = time.time()
        conn.execute(
            "UPDATE entities SET mqtt_status = %s, mqtt_status_at = to_timestamp(%s) WHERE kind = 'kiosk' AND id = %s",
            (status, now, entity),
        )
        conn.execute(
            "INSERT INTO status_changes (kind, entity, ts, status) VALUES ('kiosk', %s, to_timestamp(%s), %s)",
            (entity, now, status),
        )
        conn.execute("SELECT pg_notify(%s, %s)", (COMMITTED_CHANNEL, orjson.dumps({"status": True}).decode()))


def run(dsn: str, receiver: Receiver, tmp_path: Path, *, kills: tuple[float, ...]) -> list[tuple]:
    _truncate(dsn)
    receiver.requests.clear()
    with psycopg.connect(dsn) as conn:
        store_inventory(conn, parse_inventory(INVENTORY))
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "IOC_DATABASE_URL": dsn,
        "IOC_ALERT_WEBHOOK_URLS": receiver.url + "/hook",
        "IOC_RULES_DIR": str(write_rules(tmp_path / "rules", RULES)), "IOC_TEST_RULES": "kiosk_down",
        "IOC_ALERT_GROUP_WAIT_S": str(GROUP_WAIT_S), "IOC_ALERT_TICK_S": "0.1", "IOC_ALERT_TOPOLOGY_HOLD_S": "0",
        "IOC_PUBLIC_URL": "https://ioc.example",
    }  # fmt: skip
    process = AlertProcess(env)
    process.start()
    start = time.monotonic()
    plan = sorted([(t, "event", (e, s)) for t, e, s in EVENTS] + [(t, "kill", None) for t in kills])
    try:
        for at, what, arg in plan:
            time.sleep(max(0.0, start + at - time.monotonic()))
            if what == "kill":
                process.kill9()
                process.start()
            else:
                assert time.monotonic() - start < at + 0.5, f"the schedule slipped at {at} s"
                publish(dsn, *arg)
        time.sleep(max(0.0, start + END - time.monotonic()))
    finally:
        process.stop()
    return [
        (body["status"], sorted((a["status"], a["labels"]["entity"], a["startsAt"][:19]) for a in body["alerts"]))
        for body in receiver.bodies()
    ]


@pytest.mark.slow
def test_a_kill_9_and_restart_sends_exactly_the_messages_of_a_run_without(dsn, receiver, tmp_path):
    reference = run(dsn, receiver, tmp_path / "a", kills=())
    # One message for the two kiosks; kiosk 01's resolved (kiosk 02 still firing, flapping); nothing else.
    assert [(status, [(s, e) for s, e, _ in alerts]) for status, alerts in reference] == [
        ("firing", [("firing", "kiosk-pv-01"), ("firing", "kiosk-pv-02")]),
        ("firing", [("firing", "kiosk-pv-02"), ("resolved", "kiosk-pv-01")]),
    ]
    restarted = run(dsn, receiver, tmp_path / "b", kills=KILLS)
    assert [(s, [(a, e) for a, e, _ in alerts]) for s, alerts in restarted] == [
        (s, [(a, e) for a, e, _ in alerts]) for s, alerts in reference
    ]
