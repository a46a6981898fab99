"""End to end over real Mosquitto and PostgreSQL: the ingest service and the alert service wired as
`ioc.runtime.build_services` wires them, a local HTTP server as the webhook receiver."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from alert_helpers import FAST_RULES, PHU_VANG_KIOSK, Receiver, load_inventory, write_rules
from prometheus_client import CollectorRegistry

from ioc.runtime import build_services
from ioc.settings import Settings, load_settings
from ioc.store.connect import make_pool
from tests.support import mqtt_client as client
from tests.support import publish

P = "ioc/v1"


class Stack:
    """Ingest + alerts in one process, as `ioc run --role ingest --role alerts` starts them."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.stopped = False
        self.pool = make_pool(settings.database_url, max_size=4, name="ioc-e2e")
        self.pool.open(wait=True)
        self.services, (self.checks, _) = build_services(settings, {"ingest", "alerts"}, self.pool, CollectorRegistry())
        for service in self.services:
            service.start()
        deadline = time.monotonic() + 10
        while not self.checks["broker"]():
            assert time.monotonic() < deadline, "ingest did not connect to the broker"
            time.sleep(0.02)
        time.sleep(0.2)  # the SUBACK

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        for service in reversed(self.services):
            service.stop()
        self.pool.close()


@pytest.fixture
def e2e_settings(dsn, broker, receiver: Receiver, tmp_path: Path) -> Settings:
    load_inventory(dsn, kiosks=20)
    return load_settings(
        database_url=dsn,
        mqtt_url=broker.url,
        spool_dir=tmp_path / "spool",
        mqtt_client_id=f"ioc-e2e-{os.getpid()}-{time.monotonic_ns()}",
        timescaledb="off",
        alert_webhook_urls=receiver.url + "/hook",
        rules_dir=write_rules(tmp_path / "rules"),
        alert_group_wait_s=0.3,
        alert_tick_s=0.05,
        alert_topology_hold_s=0.5,  # the link's `up` == 0 is judged at once with these rules
    )


@pytest.fixture
def stack(e2e_settings: Settings) -> Iterator[Stack]:
    s = Stack(e2e_settings)
    yield s
    s.stop()


def sample(metrics: dict[str, float], ts: float | None = None) -> bytes:
    return orjson.dumps({"ts": ts if ts is not None else time.time(), "metrics": metrics})


def pages(receiver: Receiver) -> list[tuple[str, str, str]]:
    return [(a["labels"]["alertname"], a["labels"]["entity"], a["status"]) for b in receiver.bodies()
            for a in b["alerts"]]  # fmt: skip


def open_alerts(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT rule, entity, state FROM alerts WHERE state <> 'resolved' AND suppressed_by IS NULL ORDER BY id"
        ).fetchall()


def test_kiosk_last_will_pages_and_a_restart_does_not_page_again(stack, e2e_settings, receiver, broker):
    kiosk = client(broker.url, "kiosk-pv-01", will=f"{P}/status/kiosk/kiosk-pv-01")
    publish(kiosk, f"{P}/status/kiosk/kiosk-pv-01", b"online", retain=True)
    publish(kiosk, f"{P}/metrics/kiosk/kiosk-pv-01", sample({"cpu_pct": 12.0}))
    time.sleep(0.3)
    assert receiver.bodies() == []
    # The kiosk loses power: no DISCONNECT, so the broker publishes its Last Will.
    kiosk.loop_stop()
    kiosk.socket().close()  # type: ignore[union-attr]
    (body,) = receiver.wait_for(1, timeout=10)
    assert body["status"] == "firing" and body["version"] == "4"
    (alert,) = body["alerts"]
    assert alert["labels"] == {
        "alertname": "kiosk_down", "severity": "critical", "kind": "kiosk", "entity": "kiosk-pv-01",
        "site": "xa-phu-vang", "agency": "so-tttt",
    }  # fmt: skip
    assert alert["annotations"]["summary"] == f"{PHU_VANG_KIOSK} mất kết nối"
    assert alert["annotations"]["reason"] == "offline"

    # Restart the whole stack: the open alert is loaded back and not paged again.
    stack.stop()
    restarted = Stack(e2e_settings)
    try:
        time.sleep(1.0)  # many ticks and group waits
        assert len(receiver.bodies()) == 1
        assert open_alerts(e2e_settings.database_url) == [("kiosk_down", "kiosk-pv-01", "firing")]
        # ... nor forgotten: the kiosk comes back and the page is resolved.
        again = client(broker.url, "kiosk-pv-01-again")
        publish(again, f"{P}/status/kiosk/kiosk-pv-01", b"online", retain=True)
        bodies = receiver.wait_for(2, timeout=10)
        assert bodies[1]["status"] == "resolved"
        assert bodies[1]["alerts"][0]["endsAt"] > bodies[1]["alerts"][0]["startsAt"]
        again.disconnect()
    finally:
        restarted.stop()


def test_a_slow_portal_pages(stack, receiver, broker):
    probe = client(broker.url, "probe-http")
    now = time.time()
    fast = [{"ts": now - 240 + i * 10, "metrics": {"response_ms": 400.0, "up": 1}} for i in range(12)]
    publish(probe, f"{P}/metrics/service/dvc-portal", orjson.dumps(fast))
    time.sleep(0.4)
    assert receiver.bodies() == []
    slow = [{"ts": now - 120 + i * 10, "metrics": {"response_ms": 6500.0, "up": 1}} for i in range(12)]
    publish(probe, f"{P}/metrics/service/dvc-portal", orjson.dumps(slow))
    (body,) = receiver.wait_for(1, timeout=10)
    (alert,) = body["alerts"]
    assert alert["labels"]["alertname"] == "service_slow" and alert["status"] == "firing"
    assert alert["annotations"]["summary"] == "Cổng Dịch vụ công tỉnh phản hồi chậm (p95 6500 ms)"
    assert body["groupLabels"] == {"site": "dc-tinh"}
    probe.disconnect()


def test_link_down_behind_20_kiosks_gives_exactly_one_page(stack, e2e_settings, receiver, broker):
    probe = client(broker.url, "probe-link")
    publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 1, "rtt_ms": 12}))
    time.sleep(0.2)
    publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 0}))
    for i in range(1, 21):  # the broker's Last Wills for the kiosks behind the link
        publish(probe, f"{P}/status/kiosk/kiosk-pv-{i:02d}", b"offline", retain=True)
    receiver.wait_for(1, timeout=10)
    time.sleep(1.0)  # several group waits: nothing else may come
    assert pages(receiver) == [("link_down", "wan-xa-phu-vang", "firing")]
    annotations = receiver.bodies()[0]["alerts"][0]["annotations"]
    assert annotations["unreachable_count"] == "20"
    assert f"{PHU_VANG_KIOSK} (kiosk/kiosk-pv-01)" in annotations["unreachable"]
    with psycopg.connect(e2e_settings.database_url) as conn:
        suppressed = conn.execute(
            "SELECT count(*) FROM alerts WHERE rule = 'kiosk_down' AND suppressed_by = 'link/wan-xa-phu-vang'"
        ).fetchone()
    assert suppressed == (20,)
    probe.disconnect()


def test_an_alert_process_of_its_own_follows_the_writer_through_listen(e2e_settings, receiver, broker):
    """`ioc run --role ingest` and `ioc run --role alerts` apart: the alerts read what the NOTIFY announces."""
    from alerts.service import AlertService

    pool = make_pool(e2e_settings.database_url, max_size=2, name="ioc-e2e-alerts")
    pool.open(wait=True)
    alerts = AlertService(e2e_settings, pool=pool, registry=CollectorRegistry(), in_process=False)
    alerts.start()
    ingest_pool = make_pool(e2e_settings.database_url, max_size=2, name="ioc-e2e-ingest")
    ingest_pool.open(wait=True)
    services, (checks, _) = build_services(e2e_settings, {"ingest"}, ingest_pool, CollectorRegistry())
    try:
        for service in services:
            service.start()
        deadline = time.monotonic() + 10
        while not checks["broker"]():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        probe = client(broker.url, "probe-listen")
        publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 0}))
        publish(probe, f"{P}/status/kiosk/kiosk-pv-05", b"offline", retain=True)
        receiver.wait_for(1, timeout=10)
        time.sleep(0.6)
        assert pages(receiver) == [("link_down", "wan-xa-phu-vang", "firing")]
        publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 1}))
        receiver.wait_for(2, timeout=10)
        time.sleep(0.6)
        # The root is back and kiosk 05 is still offline: now it pages on its own.
        assert sorted(pages(receiver)[1:]) == [
            ("kiosk_down", "kiosk-pv-05", "firing"), ("link_down", "wan-xa-phu-vang", "resolved"),
        ]  # fmt: skip
        probe.disconnect()
    finally:
        for service in services:
            service.stop()
        alerts.stop()
        ingest_pool.close()
        pool.close()


def _held_stack(e2e_settings: Settings, tmp_path: Path, hold_s: float) -> Stack:
    """link_down with a real `for` (2 s) and a topology hold."""
    rules = write_rules(
        tmp_path / "rules-with-for", FAST_RULES.replace("    down: true\n", "    for: 2s\n    down: true\n")
    )
    return Stack(e2e_settings.model_copy(update={"rules_dir": rules, "alert_topology_hold_s": hold_s}))


@pytest.fixture
def held_stack(e2e_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """A 1 s topology hold: what the tests of how long a dependent waits measure against."""
    s = _held_stack(e2e_settings, tmp_path, 1.0)
    yield s
    s.stop()


@pytest.fixture
def long_held_stack(e2e_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """A 5 s topology hold: the link's first bad sample is in well within it, however loaded the machine."""
    s = _held_stack(e2e_settings, tmp_path, 5.0)
    yield s
    s.stop()


def test_a_last_will_before_the_link_is_judged_waits_for_the_link(long_held_stack, e2e_settings, receiver, broker):
    probe = client(broker.url, "probe-held")
    # The link last reported `up` 20 s ago, past 1.5x its 10 s interval: it has not vouched for itself, so
    # the kiosk's Last Will waits for it (a link that had just reported up would let the kiosk page at once,
    # test_a_dependent_whose_link_just_reported_up_pages_at_once). Then the link probe's `up` == 0 comes
    # and needs 2 s to fire: the kiosk waits for that too, whichever batch each message lands in.
    publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 1}, ts=time.time() - 20))
    publish(probe, f"{P}/status/kiosk/kiosk-pv-03", b"offline", retain=True)
    started = time.monotonic()
    while time.monotonic() - started < 3.5:
        publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 0}))
        time.sleep(0.25)
    receiver.wait_for(1, timeout=5)
    time.sleep(0.8)  # past the hold and several group waits: the kiosk must not page
    assert pages(receiver) == [("link_down", "wan-xa-phu-vang", "firing")]
    annotations = receiver.bodies()[0]["alerts"][0]["annotations"]
    assert "Kiosk lấy số 03 (kiosk/kiosk-pv-03)" in annotations["unreachable"]
    with psycopg.connect(e2e_settings.database_url) as conn:
        row = conn.execute("SELECT state, suppressed_by FROM alerts WHERE entity = 'kiosk-pv-03'").fetchone()
    assert row == ("firing", "link/wan-xa-phu-vang")
    probe.disconnect()


def test_a_dependent_whose_link_just_reported_up_pages_at_once(held_stack, receiver, broker):
    probe = client(broker.url, "probe-held-up")
    publish(probe, f"{P}/metrics/link/wan-xa-phu-vang", sample({"up": 1}))
    publish(probe, f"{P}/status/kiosk/kiosk-pv-04", b"offline", retain=True)
    sent = time.monotonic()
    receiver.wait_for(1, timeout=5)
    assert time.monotonic() - sent < 1.0  # no hold: the link vouched for itself within its interval
    assert pages(receiver) == [("kiosk_down", "kiosk-pv-04", "firing")]
    probe.disconnect()


def test_a_dependent_whose_link_is_not_heard_from_pages_after_the_hold(held_stack, receiver, broker):
    probe = client(broker.url, "probe-held-quiet")
    publish(probe, f"{P}/status/kiosk/kiosk-pv-04", b"offline", retain=True)
    sent = time.monotonic()
    receiver.wait_for(1, timeout=5)
    assert time.monotonic() - sent >= 1.0  # the hold
    assert pages(receiver) == [("kiosk_down", "kiosk-pv-04", "firing")]
    probe.disconnect()
