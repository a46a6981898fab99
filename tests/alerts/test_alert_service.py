"""The alert service on the real store, fed committed batches as the ingest writer feeds it."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from alert_helpers import PHU_VANG_KIOSK, Batches, Receiver, load_inventory, wait_until, write_rules
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb

from alerts.alert import fingerprint
from alerts.rules import load_rules
from alerts.service import AlertService
from ioc.model import StatusUpdate
from ioc.settings import load_settings


def make_service(dsn: str, pool: object, receiver: Receiver, tmp_path: Path, **overrides: object) -> AlertService:
    settings = load_settings(
        database_url=dsn,
        alert_webhook_urls=receiver.url + "/hook",
        rules_dir=write_rules(tmp_path / "rules"),
        alert_group_wait_s=0.2,
        alert_tick_s=0.05,
        alert_topology_hold_s=0.3,
        **overrides,
    )
    rules = [r for r in load_rules(settings.rules_dir) if r.name in ("kiosk_down", "link_down", "service_slow")]
    service = AlertService(settings, pool=pool, registry=CollectorRegistry(), rules=rules, retry_base_s=0.01)
    service.start()
    return service


def alert_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT rule, kind, entity, state, suppressed_by, last_notified_at IS NOT NULL FROM alerts ORDER BY id"
        ).fetchall()


def test_link_down_behind_20_kiosks_pages_once(dsn, pool, receiver, tmp_path):
    load_inventory(dsn, kiosks=20)
    service = make_service(dsn, pool, receiver, tmp_path)
    batches = Batches(dsn)
    try:
        now = time.time()
        statuses = [StatusUpdate("kiosk", f"kiosk-pv-{i:02d}", now, "offline") for i in range(1, 21)]
        service.on_committed(batches.samples([("link", "wan-xa-phu-vang", "up", now, 0.0)], statuses))
        bodies = receiver.wait_for(1)
        time.sleep(0.5)  # several group waits: nothing else may arrive
        assert len(receiver.bodies()) == 1
        body = bodies[0]
        assert body["version"] == "4" and body["status"] == "firing"
        assert [a["labels"]["alertname"] for a in body["alerts"]] == ["link_down"]
        link = body["alerts"][0]
        assert link["annotations"]["unreachable_count"] == "20"
        assert PHU_VANG_KIOSK in link["annotations"]["unreachable"]
        rows = alert_rows(dsn)
        kiosks = [r for r in rows if r[1] == "kiosk"]
        assert len(kiosks) == 20
        assert all(r[3] == "firing" and r[4] == "link/wan-xa-phu-vang" and not r[5] for r in kiosks)

        # The link comes back, kiosk 01 still offline: it now pages on its own; the others come back.
        later = time.time()
        back = [StatusUpdate("kiosk", f"kiosk-pv-{i:02d}", later, "online") for i in range(2, 21)]
        service.on_committed(batches.samples([("link", "wan-xa-phu-vang", "up", later, 1.0)], back))
        bodies = receiver.wait_for(2)
        time.sleep(0.3)
        got = receiver.bodies()
        statuses_seen = sorted(
            (a["labels"]["alertname"], a["labels"]["entity"], a["status"]) for b in got[1:] for a in b["alerts"]
        )
        assert statuses_seen == [("kiosk_down", "kiosk-pv-01", "firing"), ("link_down", "wan-xa-phu-vang", "resolved")]
    finally:
        service.stop()


def test_a_silence_in_the_store_mutes_until_it_is_expired(dsn, pool, receiver, tmp_path):
    load_inventory(dsn, kiosks=2)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by) "
            "VALUES ('{\"entity\": \"kiosk-pv-01\"}', now() - interval '1 minute', now() + interval '1 hour', 't')"
        )
    service = make_service(dsn, pool, receiver, tmp_path)
    batches = Batches(dsn)
    try:
        now = time.time()
        statuses = [StatusUpdate("kiosk", e, now, "offline") for e in ("kiosk-pv-01", "kiosk-pv-02")]
        service.on_committed(batches.samples([], statuses))
        receiver.wait_for(1)
        time.sleep(0.4)
        assert [a["labels"]["entity"] for b in receiver.bodies() for a in b["alerts"]] == ["kiosk-pv-02"]
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE silences SET expired_at = now()")
        bodies = receiver.wait_for(2)
        # As Alertmanager does, a group's message lists all its firing alerts: the one just unmuted joins.
        assert sorted(a["labels"]["entity"] for a in bodies[1]["alerts"]) == ["kiosk-pv-01", "kiosk-pv-02"]
    finally:
        service.stop()


def test_a_firing_alert_not_yet_sent_when_the_process_died_is_sent_after_restart(dsn, pool, receiver, tmp_path):
    load_inventory(dsn, kiosks=1)
    labels = {
        "alertname": "kiosk_down", "severity": "critical", "kind": "kiosk", "entity": "kiosk-pv-01",
        "site": "xa-phu-vang", "agency": "so-tttt",
    }  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE entities SET mqtt_status = 'offline', mqtt_status_at = now() - interval '1 minute', "
            "last_seen = now() - interval '2 minutes' WHERE id = 'kiosk-pv-01'"
        )
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary, "
            "pending_since, starts_at) VALUES (%s, 'kiosk_down', 'critical', 'firing', 'kiosk', 'kiosk-pv-01', "
            "'xa-phu-vang', 'so-tttt', %s, 'x', now() - interval '1 minute', now() - interval '1 minute')",
            (fingerprint(labels), Jsonb(labels)),
        )
    service = make_service(dsn, pool, receiver, tmp_path)
    try:
        (body,) = receiver.wait_for(1)
        assert [a["labels"] for a in body["alerts"]] == [labels]
        time.sleep(0.3)
        assert len(receiver.bodies()) == 1
        rows = alert_rows(dsn)
        assert rows == [("kiosk_down", "kiosk", "kiosk-pv-01", "firing", None, True)]  # same row, now notified
    finally:
        service.stop()


def test_a_store_failure_loses_no_transition(dsn, pool, receiver, tmp_path):
    load_inventory(dsn, kiosks=1)
    service = make_service(dsn, pool, receiver, tmp_path)
    batches = Batches(dsn)
    offline = batches.samples([], [StatusUpdate("kiosk", "kiosk-pv-01", time.time(), "offline")])
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE alerts RENAME TO alerts_away")
            try:
                service.on_committed(offline)
                time.sleep(0.4)  # rounds fail while the table is away
                assert receiver.bodies() == []
            finally:
                conn.execute("ALTER TABLE alerts_away RENAME TO alerts")
        (body,) = receiver.wait_for(1)
        assert body["alerts"][0]["labels"]["entity"] == "kiosk-pv-01"
        wait_until(lambda: alert_rows(dsn) == [("kiosk_down", "kiosk", "kiosk-pv-01", "firing", None, True)])
    finally:
        service.stop()


def test_a_loopback_public_url_warns_at_start_up_when_receivers_are_configured(dsn, pool, receiver, tmp_path, caplog):
    load_inventory(dsn, kiosks=1)
    warning = "IOC_PUBLIC_URL is http://127.0.0.1:8000, a loopback address: the links in alert messages will not open"
    make_service(dsn, pool, receiver, tmp_path).stop()
    assert [r.levelname for r in caplog.records if r.getMessage().startswith(warning)] == ["WARNING"]
    caplog.clear()
    make_service(dsn, pool, receiver, tmp_path, public_url="https://ioc.thuathienhue.gov.vn").stop()
    assert not [r for r in caplog.records if "IOC_PUBLIC_URL" in r.getMessage()]
