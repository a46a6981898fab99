"""The stored uptime figures (uptime_daily / uptime_hourly, migration 0700) agree with the live computation:
after a backfill over MQTT, after late samples, after a maintenance window recorded after the fact, and
after an inventory change; and the writer marks only what late rows touched."""

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
from ioc.store.uptime_daily import refresh_uptime_daily

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TZ = "Asia/Ho_Chi_Minh"
P = "ioc/v1"
REFS = ["service/dvc-portal", "link/wan-pv", "kiosk/kiosk-pv-01"]
INVENTORY = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: xa-pv, name: "UBND xã Phú Vang"}
entities:
  - {kind: link, id: wan-pv, name: "Đường truyền xã Phú Vang", site: xa-pv, agency: so-tttt, interval_s: 60}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk 01", site: xa-pv, agency: so-tttt,
     depends_on: [link/wan-pv], interval_s: 60}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công", agency: so-tttt, site: xa-pv, interval_s: 60}
"""


def local(day: date, hour: int, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HCM).timestamp()


def minutes(lo: float, hi: float, metric: str, value_at) -> list[dict]:
    out = []
    ts = lo + 5
    while ts < hi:
        value = value_at(ts)
        if value is not None:
            out.append({"ts": datetime.fromtimestamp(ts, UTC).isoformat(), "metrics": {metric: value}})
        ts += 60
    return out


def down_between(lo: float, hi: float):
    return lambda ts: 0 if lo <= ts < hi else 1


def send(settings: Settings, messages: list[tuple[str, list[dict]]]) -> None:
    with psycopg.connect(settings.database_url) as conn:
        before = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    service = IngestService(settings)
    service.start()
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.3)
        publish(settings.mqtt_url, [(f"{P}/metrics/{topic}", orjson.dumps(body)) for topic, body in messages])
        wait_for_samples(settings.database_url, before + sum(len(b) for _, b in messages))
    finally:
        service.stop()


def refresh(dsn: str, now: float):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return refresh_uptime_daily(conn, TZ, now, settle_s=0)


def marks(dsn: str) -> set[tuple[str, str, date]]:
    with psycopg.connect(dsn) as conn:
        return {(k, e, d) for k, e, d in conn.execute("SELECT kind, entity, day FROM uptime_dirty")}


def assert_agree(dsn: str, now: float) -> None:
    """Stored-and-live equals all-live for every figure of every entity (90 days, four periods)."""
    with psycopg.connect(dsn) as conn:
        fast = uptimes(conn, REFS, now, days=90, timezone=TZ)
        slow = uptimes(conn, REFS, now, days=90, timezone=TZ, stored=False)
    for ref in REFS:
        for period, totals in slow[ref].totals.items():
            for name, value in totals.items():
                assert fast[ref].totals[period][name] == pytest.approx(value, abs=1e-6), (ref, period, name)
        assert fast[ref].uptime_pct == slow[ref].uptime_pct, ref
        assert fast[ref].days == slow[ref].days, ref


def stored_days(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM uptime_daily WHERE known_s > 0").fetchone()[0]


@pytest.fixture
def backfilled(settings: Settings, store):
    """Four days ago (local), published now: the portal down 10-11, the link down 14-15 (its kiosk silent)."""
    store.load_inventory(INVENTORY)
    now = time.time()
    day = datetime.fromtimestamp(now, HCM).date() - timedelta(days=4)
    lo, hi = local(day, 0), local(day + timedelta(days=1), 0)
    send(settings, [
        ("service/dvc-portal", minutes(lo, hi, "up", down_between(local(day, 10), local(day, 11)))),
        ("link/wan-pv", minutes(lo, hi, "up", down_between(local(day, 14), local(day, 15)))),
        ("kiosk/kiosk-pv-01", minutes(lo, hi, "cpu_pct",
                                      lambda ts: None if local(day, 14) <= ts < local(day, 15) else 20.0)),
    ])  # fmt: skip
    return now, day


def test_stored_figures_agree_after_a_backfill(settings: Settings, store, backfilled):
    now, day = backfilled
    assert {(k, e) for k, e, _ in marks(store.dsn)} >= {("service", "dvc-portal"), ("link", "wan-pv")}
    assert_agree(store.dsn, now)  # marked: computed live
    result = refresh(store.dsn, now)
    assert result.days >= 3 * 90 and result.hours >= 3 * 24
    assert marks(store.dsn) == set()
    assert stored_days(store.dsn) >= 3  # the backfilled day, and the silent days after it, of each
    assert_agree(store.dsn, now)
    with psycopg.connect(store.dsn) as conn:
        found = next(d for d in uptimes(conn, ["service/dvc-portal"], now, days=7)["service/dvc-portal"].days
                     if d.date == day)  # fmt: skip
    assert found.uptime_pct == pytest.approx(95.83, abs=0.01)
    assert refresh(store.dsn, now).days == 0  # nothing left to do


def test_late_samples_mark_only_their_days_and_are_counted(settings: Settings, store, backfilled):
    now, day = backfilled
    refresh(store.dsn, now)
    # Late: an outage of the portal two days after the backfilled day, 08:00-08:30.
    later = day + timedelta(days=2)
    outage = down_between(local(later, 8), local(later, 8, 30))
    send(settings, [("service/dvc-portal", minutes(local(later, 8), local(later, 9), "up", outage))])
    got = marks(store.dsn)
    assert {(k, e) for k, e, _ in got} == {("service", "dvc-portal")}
    assert len(got) <= 2  # the UTC day of those samples (and the next, within 2 hours of its end)
    assert_agree(store.dsn, now)
    refresh(store.dsn, now)
    assert marks(store.dsn) == set()
    assert_agree(store.dsn, now)
    with psycopg.connect(store.dsn) as conn:
        found = next(d for d in uptimes(conn, ["service/dvc-portal"], now, days=7)["service/dvc-portal"].days
                     if d.date == later)  # fmt: skip
    assert 1800 <= found.down_s < 86400  # the outage, and the silence around that hour


def test_a_past_one_off_window_updates_the_stored_days(store, backfilled, make_client):
    now, day = backfilled
    refresh(store.dsn, now)
    client = make_client(store.dsn, clock=lambda: now)
    response = client.post(
        "/api/v1/maintenance-windows",
        json={
            "matchers": {"entity": "dvc-portal"},
            "starts_at": datetime.fromtimestamp(local(day, 9, 30), HCM).isoformat(),
            "ends_at": datetime.fromtimestamp(local(day, 11, 30), HCM).isoformat(),
            "created_by": "Trần Thị Bình",
            "comment": "Nâng cấp (ghi nhận muộn)",
        },
        headers=store.key("operator"),
    )
    assert response.status_code == 201, response.text
    assert {(k, e) for k, e, _ in marks(store.dsn)} == {("service", "dvc-portal")}
    assert_agree(store.dsn, now)
    refresh(store.dsn, now)
    assert_agree(store.dsn, now)
    with psycopg.connect(store.dsn) as conn:
        found = next(d for d in uptimes(conn, ["service/dvc-portal"], now, days=7)["service/dvc-portal"].days
                     if d.date == day)  # fmt: skip
    assert found.uptime_pct == 100.0 and found.maintenance_s == pytest.approx(7200, abs=1)


def test_an_inventory_change_updates_the_stored_days(store, backfilled):
    now, day = backfilled
    refresh(store.dsn, now)
    # The kiosk no longer behind the link: its silent hour becomes its own downtime.
    store.load_inventory(INVENTORY.replace("depends_on: [link/wan-pv], ", ""))
    assert ("kiosk", "kiosk-pv-01") in {(k, e) for k, e, _ in marks(store.dsn)}
    assert_agree(store.dsn, now)
    refresh(store.dsn, now)
    assert_agree(store.dsn, now)
    with psycopg.connect(store.dsn) as conn:
        found = next(d for d in uptimes(conn, ["kiosk/kiosk-pv-01"], now, days=7)["kiosk/kiosk-pv-01"].days
                     if d.date == day)  # fmt: skip
    assert found.unreachable_s == 0 and found.down_s == pytest.approx(3600 - 180, abs=120)


def test_a_new_entity_gets_its_days_and_live_samples_mark_nothing(settings: Settings, store):
    store.load_inventory(INVENTORY)
    now = time.time()
    send(settings, [("service/dvc-portal", minutes(now - 60, now, "up", lambda ts: 1))])
    assert marks(store.dsn) == set()  # new in the inventory, first data now: nothing stored changes
    refresh(store.dsn, now)
    now = time.time()
    send(settings, [("service/dvc-portal", minutes(now - 60, now, "up", lambda ts: 1))])
    assert marks(store.dsn) == set()
    store.load_inventory(INVENTORY + "  - {kind: service, id: edoc, name: VB, agency: so-tttt, interval_s: 60}\n")
    assert refresh(store.dsn, now).days == 90 + 2  # the newcomer's days only
    assert_agree(store.dsn, now)


def test_a_first_fill_spreads_over_runs_within_its_budget(store, backfilled):
    now, _ = backfilled
    with psycopg.connect(store.dsn, autocommit=True) as conn:
        first = refresh_uptime_daily(conn, TZ, now, settle_s=0, budget_s=0.0)
        assert first.left and first.days < 3 * 92  # the marked days, and one chunk
        runs = 1
        while refresh_uptime_daily(conn, TZ, now, settle_s=0, budget_s=0.0).left:
            runs += 1
            assert runs < 40
    assert_agree(store.dsn, now)
    assert refresh(store.dsn, now).days == 0
