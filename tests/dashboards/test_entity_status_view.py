"""The SQL view `entity_status` (for Grafana) and `ioc.status` (for the API) agree on every rule."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from ioc.store.queries import entity_statuses

EXTRA = """
  - {kind: link, id: core, name: "Lõi mạng tỉnh", site: dc-tinh}
  - {kind: link, id: wan-b, name: "Đường truyền B", site: xa-phu-da, depends_on: [link/core], interval_s: 5}
  - {kind: kiosk, id: k-b1, name: "Kiosk B1", site: xa-phu-da, depends_on: [link/wan-b], interval_s: 5}
  - {kind: kiosk, id: k-b2, name: "Kiosk B2", site: xa-phu-da, depends_on: [link/wan-b], interval_s: 5}
  - {kind: kiosk, id: k-mw, name: "Kiosk bảo trì định kỳ", site: dc-tinh}
  - {kind: kiosk, id: k-old, name: "Kiosk silence hết hạn", site: dc-tinh}
"""


def test_view_and_python_agree(any_store):
    from seed import INVENTORY

    now = time.time()
    any_store.load_inventory(INVENTORY + EXTRA)
    any_store.seen("link", "wan-xa-phu-vang", now - 100)  # past its 30 s heartbeat
    any_store.seen("kiosk", "kiosk-pv-01", now - 100)
    any_store.seen("kiosk", "kiosk-pd-01", now - 2)
    any_store.alert("kiosk", "kiosk-pd-01", "warning")
    any_store.alert("service", "dvc-portal", "info")  # info does not degrade
    any_store.seen("service", "dvc-portal", now - 2)
    any_store.seen("service", "mot-cua", now - 2, mqtt_status="offline")
    any_store.silence({"agency": "vp-ubnd"}, now - 60, now + 600)
    any_store.seen("link", "core", now - 2, mqtt_status="offline")
    any_store.seen("link", "wan-b", now - 60)
    any_store.seen("kiosk", "k-b1", now - 60)
    any_store.seen("kiosk", "k-b2", now - 1)
    any_store.alert("kiosk", "k-b2", "critical")
    any_store.seen("kiosk", "k-mw", now - 1000)
    any_store.seen("kiosk", "k-old", now - 1000)
    any_store.silence({"entity": "k-old"}, now - 600, now - 60)
    any_store.seen("kiosk", "stray", now - 1)  # unassigned
    local = datetime.fromtimestamp(now, ZoneInfo("Asia/Ho_Chi_Minh"))
    started = (local.hour - 1) % 24  # an hour-long-plus window that began in the previous hour, today
    with any_store.connect() as conn:
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, weekdays, start_time, duration, created_by) "
            "VALUES (%s, %s, make_time(%s, 0, 0), interval '3 hours', 'test'), "
            "       (%s, %s, make_time(%s, 0, 0), interval '3 hours', 'test')",
            (Jsonb({"entity": "k-mw"}), [local.isoweekday(), (local - timedelta(days=1)).isoweekday()],
             started, Jsonb({"entity": "k-old"}), [local.isoweekday() % 7 + 1], local.hour),
        )  # fmt: skip
    with psycopg.connect(any_store.dsn) as conn:
        db_now = conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0]
        from_view = dict(conn.execute("SELECT kind || '/' || id, status FROM entity_status").fetchall())
        from_python = {f"{e.row.kind}/{e.row.id}": e.status for e in entity_statuses(conn, db_now)}
    assert from_view == from_python
    assert from_python == {
        "link/wan-xa-phu-vang": "down",
        "kiosk/kiosk-pv-01": "unreachable",
        "kiosk/kiosk-pd-01": "maintenance",  # the agency's silence wins over its warning
        "service/dvc-portal": "ok",
        "service/mot-cua": "down",
        "service/edoc": "maintenance",
        "link/core": "down",
        "link/wan-b": "unreachable",
        "kiosk/k-b1": "unreachable",
        "kiosk/k-b2": "degraded",
        "kiosk/k-mw": "maintenance",
        "kiosk/k-old": "down",
        "kiosk/stray": "ok",
    }


def test_view_and_python_agree_on_up_zero(any_store):
    from seed import INVENTORY

    now = time.time()
    any_store.load_inventory(INVENTORY)
    any_store.seen("link", "wan-xa-phu-vang", now - 2)  # heard, but its probe says it is down
    any_store.samples("link", "wan-xa-phu-vang", "up", [(now - 20, 1.0), (now - 2, 0.0)], {"probe": "icmp"})
    any_store.seen("kiosk", "kiosk-pv-01", now - 100)  # silent behind it
    any_store.seen("service", "dvc-portal", now - 2)
    any_store.samples("service", "dvc-portal", "up", [(now - 7200, 0.0), (now - 2, 1.0)])  # back up
    any_store.seen("service", "mot-cua", now - 2)
    any_store.samples("service", "mot-cua", "up", [(now - 4000, 0.0)])  # older than an hour: says nothing
    with psycopg.connect(any_store.dsn) as conn:
        db_now = conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0]
        from_view = dict(conn.execute("SELECT kind || '/' || id, status FROM entity_status").fetchall())
        from_python = {f"{e.row.kind}/{e.row.id}": e.status for e in entity_statuses(conn, db_now)}
    assert from_view == from_python
    assert from_python["link/wan-xa-phu-vang"] == "down"
    assert from_python["kiosk/kiosk-pv-01"] == "unreachable"
    assert from_python["service/dvc-portal"] == "ok"
    assert from_python["service/mot-cua"] == "ok"
