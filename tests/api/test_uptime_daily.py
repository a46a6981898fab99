"""uptime_daily (ioc.store.uptime_daily): the stored figures of closed days equal the live computation, and
a day is computed again after a backfill through the writer or a late maintenance window."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb
from seed import at

from ioc.settings import load_settings
from ioc.store.connect import make_pool
from ioc.store.maintenance import refresh_uptime
from ioc.store.uptime import _stored_days, uptimes
from ioc.store.uptime_daily import load_hours, refresh_uptime_daily
from ioc.store.writer import BatchWriter, PendingBatch

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TZ = "Asia/Ho_Chi_Minh"
REFS = ["service/dvc-portal", "service/mot-cua", "link/wan-xa-phu-vang", "kiosk/kiosk-pv-01"]
INVENTORY = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền", site: xa-phu-vang, agency: so-tttt, interval_s: 60}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 60}
  - {kind: service, id: dvc-portal, name: "Cổng", agency: so-tttt, site: dc-tinh, interval_s: 60}
  - {kind: service, id: mot-cua, name: "Một cửa", agency: so-tttt, site: dc-tinh, interval_s: 60}
"""


def local(day, hour: int) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=HCM).timestamp()


@pytest.fixture
def history(store):
    """Five days of minutes: portal down an hour two days ago, mot-cua silent 10:00-11:00 three days ago,
    the link down an hour yesterday with the kiosk behind it silent."""
    wall = time.time()
    today = datetime.fromtimestamp(wall, HCM).date()
    noon = local(today, 12)
    now = noon if noon < wall - 600 else noon - 86400  # clear of local midnight and of the writer's LATE_S
    day = datetime.fromtimestamp(now, HCM).date()
    store.load_inventory(INVENTORY)
    points = [math.floor(now / 60) * 60 - 5 * 86400 + i * 60 + 5 for i in range(5 * 1440)]
    d2, d3, d1 = day - timedelta(2), day - timedelta(3), day - timedelta(1)

    def between(ts: float, d, hour: int) -> bool:
        return local(d, hour) <= ts < local(d, hour + 1)

    store.samples("service", "dvc-portal", "up", [(t, 0.0 if between(t, d2, 10) else 1.0) for t in points])
    store.samples("service", "mot-cua", "up", [(t, 1.0) for t in points if not between(t, d3, 10)])
    store.samples("link", "wan-xa-phu-vang", "up", [(t, 0.0 if between(t, d1, 14) else 1.0) for t in points])
    store.samples("kiosk", "kiosk-pv-01", "cpu_pct", [(t, 20.0) for t in points if not between(t, d1, 14)])
    return now, d3, d2


def read(store, now: float):
    with psycopg.connect(store.dsn) as conn:
        return uptimes(conn, REFS, now, days=90, timezone=TZ)


def stored_refs(store, now: float) -> list[str]:
    with psycopg.connect(store.dsn) as conn:
        first = datetime.fromtimestamp(now, HCM).date() - timedelta(days=89)
        dates = [first + timedelta(days=i) for i in range(90)]
        return sorted(_stored_days(conn, REFS, now, ["7d", "30d", "90d"], dates, TZ)[0])


def fill(store, now: float) -> int:
    with psycopg.connect(store.dsn, autocommit=True) as conn:
        return refresh_uptime_daily(conn, TZ, now)


def assert_same(stored, live) -> None:
    for ref in REFS:
        assert stored[ref].uptime_pct == pytest.approx(live[ref].uptime_pct, abs=1e-3), ref
        assert stored[ref].days == live[ref].days, ref


def day_row(store, ref: str, day):
    kind, entity = ref.split("/")
    with psycopg.connect(store.dsn) as conn:
        return conn.execute(
            "SELECT observed_s, down_s, maintenance_s, unreachable_s FROM uptime_daily"
            " WHERE kind = %s AND entity = %s AND day = %s AND timezone = %s",
            (kind, entity, day, TZ),
        ).fetchone()


def test_stored_days_equal_the_live_computation(store, history):
    now, _, d2 = history
    live = read(store, now)
    assert stored_refs(store, now) == []  # nothing stored yet: all live
    assert fill(store, now) == 92
    assert stored_refs(store, now) == sorted(REFS)
    stored = read(store, now)
    assert_same(stored, live)
    (portal_day,) = [d for d in stored["service/dvc-portal"].days if d.date == d2]
    assert portal_day.uptime_pct == pytest.approx(95.83, abs=0.01)
    kiosk = stored["kiosk/kiosk-pv-01"]
    assert all(d.down_s == 0 for d in kiosk.days)  # behind the downed link: charged to the link
    assert day_row(store, "service/dvc-portal", d2)[1] == pytest.approx(3600, abs=60)
    with psycopg.connect(store.dsn) as conn:  # the 24 hours: closed hours stored at one-minute resolution
        assert conn.execute("SELECT count(DISTINCT hour), count(*) FROM uptime_hourly").fetchone() == (26, 26 * 4)
        first, last_closed = math.floor((now - 86400) / 3600) * 3600, math.floor((now - 900) / 3600) * 3600
        assert sorted(load_hours(conn, REFS, first, last_closed)) == sorted(REFS)
    assert fill(store, now) == 0  # nothing missing, nothing stale


def test_a_backfilled_day_is_computed_again(store, history):
    now, d3, _ = history
    fill(store, now)
    assert day_row(store, "service/mot-cua", d3)[1] == pytest.approx(3600 - 180, abs=60)  # silent past 180 s
    # The missing hour arrives late, through the ingest writer: one stale note for the batch.
    writer = BatchWriter(store.dsn)
    late = PendingBatch()
    for i in range(60):
        late.keys.append(("service", "mot-cua", "up", ()))
        late.ts.append(local(d3, 10) + i * 60 + 5)
        late.values.append(1.0)
    try:
        assert writer.write(late).stored == 60
    finally:
        writer.close()
    with psycopg.connect(store.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM uptime_stale").fetchone()[0] == 1
    assert stored_refs(store, now) == []  # stale: read live until it is computed again
    live = read(store, now)
    (day,) = [d for d in live["service/mot-cua"].days if d.date == d3]
    assert (day.uptime_pct, day.down_s) == (100.0, 0)
    settings = load_settings(database_url=store.dsn, timezone=TZ)
    pool = make_pool(store.dsn, max_size=1)
    pool.open()
    try:
        assert refresh_uptime(pool, settings) == (datetime.fromtimestamp(time.time() - 900, HCM).date() - d3).days
    finally:
        pool.close()
    assert day_row(store, "service/mot-cua", d3)[1] == 0
    with psycopg.connect(store.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM uptime_stale").fetchone()[0] == 0
    if datetime.fromtimestamp(now, HCM).date() == datetime.fromtimestamp(time.time(), HCM).date():
        assert stored_refs(store, now) == sorted(REFS)
    assert_same(read(store, now), live)


def test_a_late_maintenance_window_is_computed_again(store, history):
    now, _, d2 = history
    fill(store, now)
    with psycopg.connect(store.dsn) as conn:
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, starts_at, ends_at, created_by, comment)"
            " VALUES (%s, %s, %s, 'test', 'ghi nhận muộn')",
            (Jsonb({"entity": "dvc-portal"}), at(local(d2, 9)), at(local(d2, 11))),
        )
    assert stored_refs(store, now) == []
    live = read(store, now)
    assert fill(store, now) == (datetime.fromtimestamp(now - 900, HCM).date() - d2).days
    assert day_row(store, "service/dvc-portal", d2)[1:3] == (0.0, 7200.0)
    stored = read(store, now)
    assert_same(stored, live)
    (day,) = [d for d in stored["service/dvc-portal"].days if d.date == d2]
    assert (day.uptime_pct, day.down_s, day.maintenance_s) == (100.0, 0, 7200)


def test_the_maintenance_thread_keeps_the_days(store, history):
    """StoreMaintenance computes the days after its rollup refresh, as `ioc run` runs it."""
    from ioc.store.maintenance import StoreMaintenance

    settings = load_settings(database_url=store.dsn, timezone=TZ)
    pool = make_pool(store.dsn, max_size=2)
    pool.open()
    service = StoreMaintenance(pool, settings, interval_s=3600, refresh_interval_s=0.2)
    try:
        service.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with psycopg.connect(store.dsn) as conn:
                if conn.execute("SELECT count(*) FROM uptime_daily").fetchone()[0] == 92 * len(REFS):
                    break
            time.sleep(0.2)
        else:
            pytest.fail("uptime_daily was not filled")
    finally:
        service.stop()
        pool.close()
