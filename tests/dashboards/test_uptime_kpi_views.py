"""The SQL forms of the one uptime definition and of the KPIs (ioc_views.entity_uptime, agency_kpis) give
what ioc.store.uptime and ioc.store.kpis give: the SLA and KPI boards show the API's figures."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import psycopg
import pytest
from dash_province import HOUR, seed_province
from psycopg.types.json import Jsonb

from ioc.store.kpis import agency_kpis, refresh_kpi_days
from ioc.store.uptime import period_totals, uptimes
from ioc.store.uptime_daily import refresh_uptime_daily

DAY = 86400.0
TZ = "Asia/Ho_Chi_Minh"
REFS = ["service/portal", "service/quiet", "link/wan-a", "kiosk/kiosk-a"]
PERIODS = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
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


def seed_history(store, minute: int | None = None) -> float:
    """Three days of history: the portal's probe says down now and then and it has a maintenance window;
    the link goes offline for 90 minutes and the kiosk behind it is silent for 3 hours from then; `quiet`
    stops reporting. `now` is 17 s past a minute: the store's clock's, or that `minute` of the last hour."""
    now = math.floor(store_now(store) / 60) * 60 + 17
    if minute is not None:
        now = math.floor(store_now(store) / HOUR) * HOUR - HOUR + minute * 60 + 17
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


@pytest.mark.parametrize("minute", [0, 2, 5, 30, 59])
def test_uptime_over_days_matches_the_api(any_store, minute):
    now = seed_history(any_store, minute)
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
    # Counted to the hour: `quiet`'s last hour with data is heard, its silence is down from a heartbeat
    # (3 x 60 s) after that hour's end to now, the current partial hour all of it.
    last_heard_end = math.floor((now - 10 * HOUR - 60) / HOUR) * HOUR + HOUR
    assert python["service/quiet"]["down_s"] == pytest.approx(now - last_heard_end - 180, abs=1e-6)
    assert python["service/quiet"]["known_s"] == pytest.approx(2.5 * DAY, abs=1e-6)


def test_uptime_over_a_day_matches_the_api(any_store):
    now = seed_history(any_store)
    sql = sql_uptime(any_store.dsn, now - DAY, now)
    refs = ["service/portal", "service/quiet", "link/wan-a", "kiosk/kiosk-a"]
    with psycopg.connect(any_store.dsn) as conn:
        python = uptimes(conn, refs, now, periods=("24h",))
    for ref in refs:
        assert_same(sql[ref], python[ref].totals["24h"], ref)
        assert sql[ref]["uptime_pct"] == pytest.approx(python[ref].uptime_pct["24h"], abs=1e-3)


def assert_periods_match(dsn: str, now: float) -> dict[str, dict[str, dict[str, float]]]:
    """Each period's SQL figures equal `uptimes()` (stored days and hours where usable); the SQL figures."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for period, span in PERIODS.items():
            sql = sql_uptime(dsn, now - span, now)
            python = uptimes(conn, REFS, now, periods=(period,), timezone=TZ)
            for ref in REFS:
                assert_same(sql[ref], python[ref].totals[period], f"{ref} {period}")
                assert sql[ref]["uptime_pct"] == pytest.approx(python[ref].uptime_pct[period], abs=1e-3), (ref, period)
            out[period] = sql
    return out


def test_uptime_from_the_stored_days_and_hours_matches_the_api(any_store):
    now = seed_history(any_store)
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        refresh_uptime_daily(conn, TZ, now, settle_s=0)
        days, hours = conn.execute(
            "SELECT (SELECT count(*) FROM uptime_daily WHERE entity = 'portal' AND known_s > 0),"
            " (SELECT count(*) FROM uptime_hourly WHERE entity = 'portal')"
        ).fetchone()
        assert days >= 2 and hours >= 20  # the upkeep filled the closed days and hours
        assert conn.execute("SELECT count(*) FROM uptime_dirty").fetchone() == (0,)
    before = assert_periods_match(any_store.dsn, now)
    with psycopg.connect(any_store.dsn) as conn:  # one kind only: the same figures, its root causes counted
        for span in PERIODS.values():
            rows = conn.execute(
                "SELECT kind || '/' || id, known_s, maintenance_s, down_s, unreachable_s, uptime_pct"
                " FROM ioc_views.entity_uptime(%s, %s, p_kinds => '{kiosk}')",
                (at(now - span), at(now)),
            ).fetchall()
            full = sql_uptime(any_store.dsn, now - span, now)["kiosk/kiosk-a"]
            assert [r[0] for r in rows] == ["kiosk/kiosk-a"]
            assert rows[0][1:] == pytest.approx(tuple(full.values())), span

    # The SQL reads the stored figures: a changed stored day and hour show in both readers (written as the
    # upkeep writes, so the Python reader's cache of them goes).
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE uptime_daily SET down_s = down_s + 100 WHERE entity = 'portal'"
            " AND day = (SELECT max(day) FROM uptime_daily WHERE entity = 'portal')"
        )
        conn.execute(
            "UPDATE uptime_hourly SET down_s = down_s + 10 WHERE entity = 'portal'"
            " AND hour = (SELECT max(hour) FROM uptime_hourly WHERE entity = 'portal')"
        )
        conn.execute("UPDATE uptime_version SET written_at = clock_timestamp()")  # as the upkeep's writes do
    changed = assert_periods_match(any_store.dsn, now)
    for period, extra in (("24h", 10), ("7d", 100), ("30d", 100)):
        got = changed[period]["service/portal"]["down_s"] - before[period]["service/portal"]["down_s"]
        assert got == pytest.approx(extra, abs=1e-6), period

    # A late outage of the link 20 hours ago, with the writer's mark of its day: the link from that day on,
    # and the kiosk behind it, are computed live, and both readers count the new outage.
    late = (now - 20 * HOUR, now - 19 * HOUR)
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO status_changes (kind, entity, ts, status) VALUES ('link', 'wan-a', %s, 'offline'),"
            " ('link', 'wan-a', %s, 'online')",
            (at(late[0]), at(late[1])),
        )
        conn.execute(
            "INSERT INTO uptime_dirty (kind, entity, day) VALUES ('link', 'wan-a', (%s AT TIME ZONE 'UTC')::date)",
            (at(late[0]),),
        )
    marked = assert_periods_match(any_store.dsn, now)
    for period in PERIODS:
        grew = marked[period]["link/wan-a"]["down_s"] - changed[period]["link/wan-a"]["down_s"]
        assert grew == pytest.approx(HOUR, abs=1.0), period
        assert marked[period]["service/portal"] == changed[period]["service/portal"]

    # Marked on every day (an inventory change): nothing stored is used for it.
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        conn.execute("UPDATE entities SET interval_s = 30 WHERE id = 'portal'")
        assert conn.execute("SELECT day FROM uptime_dirty WHERE entity = 'portal'").fetchall() == [(date.min,)]
    assert_periods_match(any_store.dsn, now)


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


def kpi_rows(dsn: str, start: float, end: float) -> dict[str, dict[str, float | None]]:
    names = ("dossiers_received", "online_share_pct", "ontime_share_pct", "dossiers_overdue",
             "online_payment_share_pct", "satisfaction_pct")  # fmt: skip
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT agency, {', '.join(names)} FROM ioc_views.agency_kpis(%s, %s)", (at(start), at(end))
        ).fetchall()
    return {agency: dict(zip(names, figures, strict=True)) for agency, *figures in rows}


def api_kpis(dsn: str, start: float, end: float) -> dict[str, float | None]:
    with psycopg.connect(dsn) as conn:
        return agency_kpis(conn, "so-tttt", start, end, end - start).kpis


def test_kpis_from_the_stored_days_match_the_api(any_store):
    """Four days of counters (one a reset on the second): after the upkeep stored the closed UTC days, a
    changed stored day shows in both readers; marked changed, it is counted live again."""
    now = math.floor(store_now(any_store) / 60) * 60 + 17
    any_store.load_inventory(INVENTORY)
    points = [now - 4 * DAY + i * 600 for i in range(int(4 * DAY / 600))]
    received, total = [], 50.0
    for i, ts in enumerate(points):
        total = 4.0 if i == 200 else total + 3.0
        received.append((ts, total))
    any_store.samples("service", "portal", "dossiers_received_total", received)
    any_store.samples("service", "portal", "dossiers_online_total", [(ts, 2.0 * i) for i, ts in enumerate(points)])
    any_store.samples("service", "portal", "dossiers_done_total", [(ts, 5.0 * i) for i, ts in enumerate(points)])
    any_store.samples("service", "portal", "dossiers_done_ontime_total", [(ts, 4.0 * i) for i, ts in enumerate(points)])
    any_store.refresh_rollups(math.floor(now / HOUR) * HOUR)
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        assert refresh_kpi_days(conn, now, []) >= 4 * 3
    whole = (math.floor(now / HOUR) * HOUR - 3 * DAY - 5 * HOUR, math.floor(now / HOUR) * HOUR)
    ranges = [whole, (now - 3.5 * DAY, now + 1)]
    before = {}
    for start, end in ranges:
        sql = kpi_rows(any_store.dsn, start, end)["so-tttt"]
        assert sql == pytest.approx(api_kpis(any_store.dsn, start, end)), (start, end)
        before[start] = sql
    assert before[whole[0]]["dossiers_received"] > 3 * 24 * 18  # the reset counted as an increase

    day = datetime.fromtimestamp(whole[0] + DAY, UTC).date()
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE kpi_daily k SET increases[5] = increases[5] + 1000 FROM series s"
            " WHERE s.id = k.series_id AND s.metric = 'dossiers_received_total' AND k.day = %s",
            (day,),
        )
    sql = kpi_rows(any_store.dsn, *whole)["so-tttt"]
    assert sql == pytest.approx(api_kpis(any_store.dsn, *whole))
    assert sql["dossiers_received"] == before[whole[0]]["dossiers_received"] + 1000

    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO uptime_dirty (kind, entity, day) VALUES ('service', 'portal', %s)", (day,))
    sql = kpi_rows(any_store.dsn, *whole)["so-tttt"]
    assert sql == pytest.approx(api_kpis(any_store.dsn, *whole))
    assert sql == pytest.approx(before[whole[0]])
