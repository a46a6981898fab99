"""Uptime from a history published late over MQTT with its own timestamps (contract section 9): the real
broker, the ingest service and the store, then the API."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from mqtt_backfill import publish, wait_for_samples

from collectors.ingest import IngestService
from ioc.settings import Settings
from ioc.store.uptime import uptimes

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
P = "ioc/v1"


def local(day: date, hour: int, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HCM).timestamp()


def day_of_minutes(day: date, metric: str, value_at) -> list[dict]:
    """One sample a minute over the local day, stamped with its own time."""
    start = local(day, 0)
    out = []
    for i in range(1440):
        ts = start + i * 60 + 5
        value = value_at(ts)
        if value is not None:
            out.append({"ts": datetime.fromtimestamp(ts, UTC).isoformat(), "metrics": {metric: value}})
    return out


@pytest.fixture
def backfilled(settings: Settings, store, make_client):
    """Three days ago (local), published today: an outage, a maintained outage, a link cut."""
    store.load_inventory(
        """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, agency: so-tttt,
     interval_s: 60}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 60}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", agency: so-tttt, site: dc-tinh, interval_s: 60}
  - {kind: service, id: mot-cua, name: "Một cửa điện tử", agency: so-tttt, site: dc-tinh, interval_s: 60}
"""
    )
    now = time.time()
    day = datetime.fromtimestamp(now, HCM).date() - timedelta(days=3)

    def down_between(lo: float, hi: float):
        return lambda ts: 0 if lo <= ts < hi else 1

    portal = day_of_minutes(day, "up", down_between(local(day, 10), local(day, 11)))
    mot_cua = day_of_minutes(day, "up", down_between(local(day, 22), local(day, 23)))
    link = day_of_minutes(day, "up", down_between(local(day, 14), local(day, 15)))
    kiosk = day_of_minutes(day, "cpu_pct", lambda ts: None if local(day, 14) <= ts < local(day, 15) else 20.0)
    service = IngestService(settings)
    service.start()
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.3)
        publish(
            settings.mqtt_url,
            [
                (f"{P}/metrics/service/dvc-portal", orjson.dumps(portal)),
                (f"{P}/metrics/service/mot-cua", orjson.dumps(mot_cua)),
                (f"{P}/metrics/link/wan-xa-phu-vang", orjson.dumps(link)),
                (f"{P}/metrics/kiosk/kiosk-pv-01", orjson.dumps(kiosk)),
            ],
        )
        wait_for_samples(settings.database_url, len(portal) + len(mot_cua) + len(link) + len(kiosk))
    finally:
        service.stop()
    client = make_client(store.dsn, clock=lambda: now)
    # The maintenance of mot-cua, 21:30 to 23:30 that day, recorded late (a one-off window in the past).
    window = client.post(
        "/api/v1/maintenance-windows",
        json={
            "matchers": {"entity": "mot-cua"},
            "starts_at": datetime.fromtimestamp(local(day, 21, 30), HCM).isoformat(),
            "ends_at": datetime.fromtimestamp(local(day, 23, 30), HCM).isoformat(),
            "created_by": "Trần Thị Bình",
            "comment": "Nâng cấp (ghi nhận muộn)",
        },
        headers=store.key("operator"),
    )
    assert window.status_code == 201, window.text
    return client, now, day


def the_day(store, now: float, day: date, ref: str):
    with psycopg.connect(store.dsn) as conn:
        result = uptimes(conn, [ref], now, periods=("7d",), days=5)[ref]
    (found,) = [d for d in result.days if d.date == day]
    return found, result


def test_a_day_with_an_hour_of_outage_is_95_8(store, backfilled):
    _, now, day = backfilled
    found, result = the_day(store, now, day, "service/dvc-portal")
    assert found.uptime_pct == pytest.approx(95.83, abs=0.01)
    assert found.down_s == pytest.approx(3600, abs=60)
    assert found.maintenance_s == 0
    before = [d for d in result.days if d.date < day]
    assert all(d.uptime_pct is None for d in before)  # no data yet


def test_downtime_inside_a_maintenance_window_counts_as_neither(store, backfilled):
    _, now, day = backfilled
    found, _ = the_day(store, now, day, "service/mot-cua")
    assert found.uptime_pct == 100.0
    assert found.down_s == 0
    assert found.maintenance_s == pytest.approx(7200, abs=1)


def test_kiosk_behind_a_downed_link_is_charged_to_the_link(store, backfilled):
    _, now, day = backfilled
    link, _ = the_day(store, now, day, "link/wan-xa-phu-vang")
    kiosk, _ = the_day(store, now, day, "kiosk/kiosk-pv-01")
    assert link.uptime_pct == pytest.approx(95.83, abs=0.01)
    assert kiosk.uptime_pct == 100.0
    assert kiosk.down_s == 0
    # Silent for an hour, past its 180 s heartbeat: the rest of that hour was unreachable, not down.
    assert kiosk.unreachable_s == pytest.approx(3600 - 180, abs=120)


def test_the_past_one_off_window_is_audited_and_listed(store, backfilled):
    client, _, _ = backfilled
    windows = client.get("/api/v1/maintenance-windows", headers=store.key("viewer")).json()
    assert [(w["matchers"], w["weekdays"], w["comment"]) for w in windows] == [
        ({"entity": "mot-cua"}, None, "Nâng cấp (ghi nhận muộn)")
    ]
    with psycopg.connect(store.dsn) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE action LIKE 'maintenance.%'")]
    assert actions == ["maintenance.create"]


def test_health_counts_the_backfill_in_7d(store, backfilled):
    client, _, _ = backfilled
    body = client.get("/api/v1/agencies/so-tttt/health", headers=store.key("viewer")).json()
    portal = next(s for s in body["services"] if s["id"] == "dvc-portal")
    # Known from that day on; silent since its end (the probe stopped), which is down too.
    assert portal["uptime_pct"]["7d"] is not None and portal["uptime_pct"]["7d"] < 95.83
    assert body["kiosks"]["total"] == 1 and body["links"]["total"] == 1
