"""A small province to run the dashboards on, and running a panel's SQL as Grafana does (macros and
variables expanded, connected as the read-only role `ioc_grafana`)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from seed import Store

from dashboards.macros import dashboard_variables, render_query
from ioc.store.migrate import GRAFANA_ROLE, set_grafana_password

HOUR = 3600.0
DAY = 86400.0
KIOSKS_BEHIND_LINK = 20

PROVINCE = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
  - {id: vp-ubnd, name: "Văn phòng UBND tỉnh"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh", lat: 16.4637, lon: 107.5909}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh, lat: 16.5156, lon: 107.6712}
  - {id: xa-phu-da, name: "UBND xã Phú Đa", parent: dc-tinh, lat: 16.4530, lon: 107.7020}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, agency: so-tttt,
     interval_s: 10}
  - {kind: link, id: wan-xa-phu-da, name: "Đường truyền xã Phú Đa", site: xa-phu-da, agency: vp-ubnd, interval_s: 10}
  - {kind: kiosk, id: kiosk-pd-01, name: "Kiosk tra cứu Phú Đa", site: xa-phu-da, agency: vp-ubnd, interval_s: 10,
     depends_on: [link/wan-xa-phu-da]}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", system: dvc_portal, agency: so-tttt,
     site: dc-tinh, url: "https://dichvucong.example.gov.vn/"}
  - {kind: service, id: edoc, name: "Quản lý văn bản điều hành", agency: vp-ubnd, site: dc-tinh}
""" + "".join(
    f"""  - {{kind: kiosk, id: kiosk-pv-{n:02d}, name: "Kiosk Phú Vang {n:02d}", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 10}}
"""
    for n in range(1, KIOSKS_BEHIND_LINK + 1)
)


@dataclass
class Province:
    store: Store
    now: float


def seed_province(store: Store) -> float:
    """The province with a week of every metric the boards show; now the Phú Vang link is down and its
    20 kiosks are unreachable behind it (one alert pages, 20 are its symptoms)."""
    now = math.floor(time.time())
    store.load_inventory(PROVINCE)
    recent = [now - 4 * HOUR + i * 60 for i in range(240)]
    week = [now - 7 * DAY + i * 600 for i in range(7 * 24 * 6 - 24 * 6)]
    times = week + recent

    def put(kind: str, entity: str, metric: str, value_of: Any, points: Sequence[float] = times) -> None:
        store.samples(kind, entity, metric, [(ts, float(value_of(i))) for i, ts in enumerate(points)])

    for link, loss, rtt in (("wan-xa-phu-vang", 0.5, 20.0), ("wan-xa-phu-da", 7.0, 80.0)):
        put("link", link, "rtt_ms", lambda i, rtt=rtt: rtt + i % 3)
        put("link", link, "loss_pct", lambda i, loss=loss: loss)
        put("link", link, "jitter_ms", lambda i: 1 + i % 2)
        put("link", link, "rx_bps", lambda i: 1e6)
        put("link", link, "up", lambda i: 1)
    for n, kiosk in enumerate(("kiosk-pv-01", "kiosk-pd-01")):
        put("kiosk", kiosk, "cpu_pct", lambda i: 10 + i % 50)
        put("kiosk", kiosk, "mem_pct", lambda i: 40)
        put("kiosk", kiosk, "temp_c", lambda i: 50)
        put("kiosk", kiosk, "printer_paper_pct", lambda i, n=n: 80 - 70 * n)
        put("kiosk", kiosk, "queue_waiting", lambda i, n=n: 3 + n)
        put("kiosk", kiosk, "wait_time_s", lambda i: 120)
    put("service", "dvc-portal", "up", lambda i: 0 if i % 10 == 0 else 1)
    put("service", "dvc-portal", "response_ms", lambda i: 100 + i % 100)
    put("service", "dvc-portal", "tls_days_left", lambda i: 12)
    put("service", "dvc-portal", "dossiers_overdue", lambda i: 4)
    put("service", "ioc-broker", "mqtt_broker_dropped_per_min", lambda i: 0, recent)
    # Counters over the last 4 hours: received grows by 5 a minute and resets once; online 3 of them.
    total = 100.0
    received = []
    for i, ts in enumerate(recent):
        total = 3.0 if i == 120 else total + 5.0
        received.append((ts, total))
    store.samples("service", "dvc-portal", "dossiers_received_total", received)
    put("service", "dvc-portal", "dossiers_online_total", lambda i: 3 * i, recent)
    put("service", "dvc-portal", "dossiers_done_total", lambda i: 10 + 2 * i, recent)
    put("service", "dvc-portal", "dossiers_done_ontime_total", lambda i: 10 + i, recent)
    put("kiosk", "kiosk-pd-01", "satisfaction_votes_total", lambda i: 4 * i, recent)
    put("kiosk", "kiosk-pd-01", "satisfaction_good_total", lambda i: 3 * i, recent)
    store.refresh_rollups(math.floor(now / HOUR) * HOUR)

    store.seen("link", "wan-xa-phu-vang", now - 600)  # down for about 10 minutes
    for n in range(1, KIOSKS_BEHIND_LINK + 1):
        store.seen("kiosk", f"kiosk-pv-{n:02d}", now - 600)  # unreachable behind it
    store.seen("kiosk", "kiosk-pd-01", now - 5)
    store.seen("link", "wan-xa-phu-da", now - 5)
    store.seen("service", "dvc-portal", now - 5)
    with store.connect() as conn:
        rows = [("link", "wan-xa-phu-vang", "xa-phu-vang", "so-tttt", None, "Mất kết nối đường truyền xã Phú Vang")]
        rows += [
            ("kiosk", f"kiosk-pv-{n:02d}", "xa-phu-vang", "so-tttt", "link/wan-xa-phu-vang", "Kiosk mất kết nối")
            for n in range(1, KIOSKS_BEHIND_LINK + 1)
        ]
        for kind, entity, site, agency, cause, summary in rows:
            labels = {"alertname": "entity_down", "kind": kind, "entity": entity, "site": site, "agency": agency}
            conn.execute(
                "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary,"
                " pending_since, starts_at, suppressed_by) VALUES (%s, 'entity_down', 'critical', 'firing', %s, %s,"
                " %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s), %s)",
                (f"{kind}/{entity}", kind, entity, site, agency, Jsonb(labels), summary, now - 600, now - 570, cause),
            )
        # Yesterday's incident, resolved, and a muted one: neither pages now.
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary,"
            " pending_since, starts_at, ends_at) VALUES ('old', 'entity_down', 'critical', 'resolved', 'service',"
            " 'dvc-portal', 'dc-tinh', 'so-tttt', '{}', 'Cổng ngừng', to_timestamp(%s), to_timestamp(%s),"
            " to_timestamp(%s))",
            (now - 20 * HOUR, now - 20 * HOUR, now - 19 * HOUR),
        )
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary,"
            " pending_since, starts_at) VALUES ('muted', 'tls_expiring', 'warning', 'firing', 'service', 'edoc',"
            " 'dc-tinh', 'vp-ubnd', %s, 'TLS sắp hết hạn', now(), now())",
            (Jsonb({"alertname": "tls_expiring", "kind": "service", "entity": "edoc", "agency": "vp-ubnd"}),),
        )
        conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by) VALUES (%s, now() - interval '1 hour',"
            " now() + interval '1 hour', 'test')",
            (Jsonb({"entity": "edoc"}),),
        )
        conn.execute(
            "INSERT INTO dead_letters (topic, payload, reason) VALUES ('ioc/v1/metrics/kiosk/x', 'oops', 'bad_json')"
        )
    return now


def grafana_dsn(dsn: str) -> str:
    """The same database, as the read-only role Grafana logs in with."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        set_grafana_password(conn, "grafana-test")
    params = conninfo_to_dict(dsn)
    params.update(user=GRAFANA_ROLE, password="grafana-test")
    return make_conninfo(**params)


def grafana_connection(dsn: str) -> psycopg.Connection[dict[str, Any]]:
    """A connection as Grafana's pool keeps one: each query its own transaction, 20 s at most."""
    conn = psycopg.connect(dsn, row_factory=dict_row, autocommit=True)
    conn.execute("SET statement_timeout = '20s'")
    return conn


def run_panel_sql(
    dsn: str | psycopg.Connection[dict[str, Any]],
    sql: str,
    board: Mapping[str, Any],
    start: float,
    end: float,
    *,
    interval: str = "1m",
    picks: Mapping[str, Sequence[str] | str] | None = None,
    timescaledb: bool = False,
) -> list[dict[str, Any]]:
    """Run one target's SQL as Grafana would send it, as `ioc_grafana` (`dsn`, or a `grafana_connection` to
    reuse over many queries)."""
    rendered = render_query(
        sql,
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(end, UTC),
        interval=interval,
        variables=dashboard_variables(board, picks or {}),
        timescaledb=timescaledb,
    )
    if not isinstance(dsn, str):
        return dsn.execute(rendered).fetchall()
    with grafana_connection(dsn) as conn:
        return conn.execute(rendered).fetchall()
