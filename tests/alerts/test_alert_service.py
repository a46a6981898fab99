"""The alert service on the real store, fed committed batches as the ingest writer feeds it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alert_helpers import PHU_VANG_KIOSK, Batches, Receiver, load_inventory, write_rules
from prometheus_client import CollectorRegistry

from alerts.rules import load_rules
from alerts.service import AlertService
from ioc.model import StatusUpdate
from ioc.settings import load_settings
from ioc.store.connect import make_pool


@pytest.fixture
def pool(dsn: str) -> Iterator[object]:
    p = make_pool(dsn, max_size=4, name="ioc-alerts-test")
    p.open(wait=True)
    yield p
    p.close()


def make_service(dsn: str, pool: object, receiver: Receiver, tmp_path: Path, **overrides: object) -> AlertService:
    settings = load_settings(
        database_url=dsn,
        alert_webhook_urls=receiver.url + "/hook",
        rules_dir=write_rules(tmp_path / "rules"),
        alert_group_wait_s=0.2,
        alert_tick_s=0.05,
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
