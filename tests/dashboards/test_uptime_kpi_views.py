"""The SQL forms of the one uptime definition and of the KPIs (ioc_views.entity_uptime, agency_kpis) give
what ioc.store.uptime and ioc.store.kpis give: the SLA and KPI boards show the API's figures."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import psycopg
import pytest
from dash_province import HOUR, seed_province
from psycopg.types.json import Jsonb

from ioc.store.kpis import agency_kpis
from ioc.store.uptime import period_totals, uptimes

DAY = 86400.0
INVENTORY = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: xa-a, name: "UBND xã A", parent: dc-tinh}
entities:
  - {kind: service, id: portal, name: "Cổng", agency: so-tttt, site: dc-tinh, interval_s: 60}
  - {kind: service, id: quiet, name: "Hệ thống im lặng", agency: so-tttt, site: dc-tinh, interval_s: 60}
  - {kind: link, id: wan-a, name: "Đường truyền A", site: xa-a, agency: so-tttt, interval_s: 60}
  - {kind: kiosk, id: kiosk-a, name: "Kiosk A", site: xa-a, agency: so-tttt, depends_on: [link/wan-a], interval_s: 60}
"""


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def seed_history(store) -> float:
    """Three days of history: the portal's probe says down now and then and it has a maintenance window;
    the link goes offline for 90 minutes and the kiosk behind it is silent for 3 hours from then; `quiet`
    stops reporting."""
    now = math.floor(store_now(store) / 60) * 60 + 17
    store.load_inventory(INVENTORY)
    minutes = [now - 3 * DAY + i * 60 for i in range(int(3 * DAY / 60))]
    store.samples("service", "portal", "up", [(ts, 0.0 if (i % 97) < 7 else 1.0) for i, ts in enumerate(minutes)])
    store.samples("link", "wan-a", "rtt_ms", [(ts, 20.0) for ts in minutes])
    off_from, off_to = now - 30 * HOUR, now - 28.5 * HOUR
    # The kiosk is silent for 3 hours from the link's loss: at least two whole hour buckets, whatever the clock.
    silent = (off_from, off_from + 3 * HOUR)
    store.samples("kiosk", "kiosk-a", "cpu_pct", [(ts, 5.0) for ts in minutes if not silent[0] <= ts < silent[1]])
    store.samples("service", "quiet", "up", [(ts, 1.0) for ts in minutes if ts < now - 10 * HOUR])
    store.refresh_rollups(math.floor(now / HOUR) * HOUR)
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO status_changes (kind, entity, ts, status) VALUES ('link', 'wan-a', %s, 'offline'),"
            " ('link', 'wan-a', %s, 'online'), ('link', 'wan-a', %s, 'online')",
            (at(off_from), at(off_to), at(now - 3 * DAY + 5)),
        )
        conn.execute(
            "UPDATE entities SET first_seen = %s, last_seen = %s WHERE assigned", (at(now - 3 * DAY), at(now - 60))
        )
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, starts_at, ends_at, created_by) VALUES (%s, %s, %s, 't')",
            (Jsonb({"entity": "portal"}), at(now - 40 * HOUR), at(now - 38 * HOUR)),
        )
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, weekdays, start_time, duration, created_by)"
            " VALUES (%s, '{1,2,3,4,5,6,7}', '02:30', interval '45 minutes', 't')",
            (Jsonb({"entity": "portal"}),),
        )
    return now


def store_now(store) -> float:
    with store.connect() as conn:
        return conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0]


def sql_uptime(dsn: str, start: float, end: float) -> dict[str, dict[str, float]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT kind || '/' || id, known_s, maintenance_s, down_s, unreachable_s, uptime_pct"
            " FROM ioc_views.entity_uptime(%s, %s)",
            (at(start), at(end)),
        ).fetchall()
    return {
        ref: {"known_s": k, "maintenance_s": m, "down_s": d, "unreachable_s": u, "uptime_pct": p}
        for ref, k, m, d, u, p in rows
    }


def assert_same(sql: dict[str, float], python: dict[str, float], ref: str) -> None:
    for key in ("known_s", "maintenance_s", "down_s", "unreachable_s"):
        assert sql[key] == pytest.approx(python[key], abs=1e-3), (ref, key, sql, python)


def test_uptime_over_days_matches_the_api(any_store):
    now = seed_history(any_store)
    start = now - 2.5 * DAY
    sql = sql_uptime(any_store.dsn, start, now)
    refs = ["service/portal", "service/quiet", "link/wan-a", "kiosk/kiosk-a"]
    with psycopg.connect(any_store.dsn) as conn:
        python = period_totals(conn, refs, start, now)
    for ref in refs:
        assert_same(sql[ref], python[ref], ref)
    assert python["service/portal"]["maintenance_s"] > 2 * HOUR  # the one-off and the nightly windows count
    assert python["link/wan-a"]["down_s"] >= 1.5 * HOUR - 1
    # Silent from a heartbeat past its last heard hour, within the link's 90 minutes: charged to the link.
    assert python["kiosk/kiosk-a"]["unreachable_s"] > 1000
    assert python["kiosk/kiosk-a"]["down_s"] > HOUR / 2  # silent on after the link came back: its own
    assert python["service/quiet"]["down_s"] > 9 * HOUR


def test_uptime_over_a_day_matches_the_api(any_store):
    now = seed_history(any_store)
    sql = sql_uptime(any_store.dsn, now - DAY, now)
    refs = ["service/portal", "service/quiet", "link/wan-a", "kiosk/kiosk-a"]
    with psycopg.connect(any_store.dsn) as conn:
        python = uptimes(conn, refs, now, periods=("24h",))
    for ref in refs:
        assert_same(sql[ref], python[ref].totals["24h"], ref)
        assert sql[ref]["uptime_pct"] == pytest.approx(python[ref].uptime_pct["24h"], abs=1e-3)


def test_kpis_match_the_api(any_store):
    now = seed_province(any_store)
    start, end = now - 5 * HOUR, now + 1
    with psycopg.connect(any_store.dsn) as conn:
        rows = conn.execute(
            "SELECT agency, dossiers_received, online_share_pct, ontime_share_pct, dossiers_overdue,"
            " online_payment_share_pct, satisfaction_pct FROM ioc_views.agency_kpis(%s, %s) ORDER BY 1",
            (at(start), at(end)),
        ).fetchall()
        for agency, *figures in rows:
            expected = agency_kpis(conn, agency, start, end, end - start).kpis
            names = ("dossiers_received", "online_share_pct", "ontime_share_pct", "dossiers_overdue",
                     "online_payment_share_pct", "satisfaction_pct")  # fmt: skip
            assert dict(zip(names, figures, strict=True)) == pytest.approx(expected), agency
    by_agency = {r[0]: r for r in rows}
    assert by_agency["so-tttt"][1] == 119 * 5 + 3 + 119 * 5  # the reset counts as an increase
    assert by_agency["vp-ubnd"][6] == 75.0  # 3 good of 4 votes a minute
