"""Dashboard query benchmark: one command, prints figures (not a test).

    .venv/bin/python bench/dashboards.py [--services 250] [--links 250] [--agencies 10] [--interval 60]
                                         [--raw-days 3] [--minute-days 3] [--hour-days 30] [--counter-days 30]
                                         [--rounds 5] [--keep] [--db NAME] [--markdown] [--board UID]
                                         [--timescaledb]

Builds a fresh database `ioc_bench_dashboards` (plain PostgreSQL; `--timescaledb` for that back end, which
needs `--minute-days 4`, see bench/reads.py) on the server of `IOC_BENCH_PG` with bench/reads.py's
closed-form builder:
`--services` service systems and `--links` links (an `up` series and a `response_ms` / `rtt_ms` series
each: 1,000 series by default) at one sample per `--interval` s, the hour rollup for `--hour-days`, the
minute rollup and raw samples for the last `--minute-days` / `--raw-days`, the first agency's services
with the dossier counters, whose raw samples go back `--counter-days` (the KPI board counts them raw).
Then some alerts (1 % of the links down, 20 kiosks' worth of symptoms behind each), dead letters and
coordinates for the site, and what the store upkeep keeps: the stored uptime days and hours
and KPI days (`refresh_uptime_daily`), which the uptime and KPI views read. On TimescaleDB the
compression policy then runs once (raw chunks older than 2 days), as it would have on such a store.

Every panel's SQL of every dashboard is expanded as Grafana sends it (dashboards.macros, variables
"All"; on TimescaleDB with the data source's TimescaleDB option, as deploy/grafana ships it, so
`$__timeGroup` is a time_bucket()) for the last 24 hours (`$__interval` 1m) and the last 30 days (1h)
-- a panel with its own relative time (`timeFrom`) keeps it -- and run `--rounds` times as the role
`ioc_grafana`, as Grafana would. Prints p50 and p95 in ms per panel and range; the target is under 200 ms each.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import reads  # bench/reads.py: the closed-form store builder

from dashboards import build_all
from dashboards.macros import dashboard_variables, interval_seconds, render_query
from ioc.store.migrate import GRAFANA_ROLE, set_grafana_password
from ioc.store.uptime_daily import refresh_uptime_daily

DB = "ioc_bench_dashboards"
RANGES = {"24h": (86400.0, "1m"), "30d": (30 * 86400.0, "1h")}
TARGET_MS = 200.0


def extras(dsn: str, args: argparse.Namespace, now: float) -> None:
    """What the wall shows beyond reads.py's store: alerts, suppression, dead letters, coordinates, and
    raw counter samples for the KPI board's 30 days."""
    end = math.floor(now / 3600) * 3600
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("""UPDATE sites SET attrs = attrs || '{"lat": 16.4660, "lon": 107.5880}'""")
        first = end - args.counter_days * 86400
        conn.execute("SELECT ioc_ensure_partitions(to_timestamp(%s)::date, current_date + 1)", (first,))
        started = time.perf_counter()
        conn.execute(
            """
            INSERT INTO samples (series_id, ts, value)
            SELECT s.id, t, floor(extract(epoch FROM t) / %(iv)s) - 1.1e8
            FROM series s CROSS JOIN generate_series(to_timestamp(%(first)s), to_timestamp(%(raw_from)s)
                                                     - interval '1 second', make_interval(secs => %(iv)s)) t
            WHERE s.metric LIKE '%%\\_total'
            ON CONFLICT DO NOTHING
            """,
            {"first": first, "raw_from": end - args.raw_days * 86400, "iv": args.interval},
        )
        print(f"  counter samples: {args.counter_days} days in {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute(
            """
            INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary,
                                pending_since, starts_at, ends_at, suppressed_by)
            SELECT 'down/' || e.id || '/' || n, 'entity_down', 'critical',
                   CASE WHEN n = 0 THEN 'firing' ELSE 'resolved' END, e.kind, e.id, e.site, e.agency,
                   jsonb_build_object('alertname', 'entity_down', 'kind', e.kind, 'entity', e.id), 'Ngừng',
                   now() - make_interval(hours => n * 7 + 1), now() - make_interval(hours => n * 7 + 1),
                   CASE WHEN n > 0 THEN now() - make_interval(hours => n * 7) END, NULL
            FROM entities e CROSS JOIN generate_series(0, 9) n
            WHERE e.kind = 'link' AND (hashtext(e.id) % 100) = 0
            """
        )
        conn.execute(
            """
            INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary,
                                pending_since, starts_at, suppressed_by)
            SELECT 'sym/' || e.id || '/' || k, 'entity_down', 'critical', 'firing', 'kiosk', e.id || '-k' || k,
                   e.site, e.agency, '{}', 'Kiosk mất kết nối', now() - interval '1 hour', now() - interval '1 hour',
                   'link/' || e.id
            FROM entities e CROSS JOIN generate_series(1, 20) k
            WHERE e.kind = 'link' AND (hashtext(e.id) % 100) = 0
            """
        )
        conn.execute(
            "INSERT INTO dead_letters (topic, payload, reason, received_at) SELECT 'ioc/v1/metrics/kiosk/x', 'x',"
            " 'bad_json', now() - make_interval(mins => n) FROM generate_series(1, 5000) n"
        )
        if reads.backend(args) == "on":
            reads.compress_as_the_policy_would(conn)
        conn.execute("VACUUM ANALYZE")
        set_grafana_password(conn, "bench")


def upkeep(dsn: str, now: float) -> None:
    """What the store upkeep keeps before any panel reads it: the stored uptime days and hours and the KPI
    days (the views read those and compute only the live rest)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        done = refresh_uptime_daily(conn, "Asia/Ho_Chi_Minh", now, settle_s=0)
        print(f"  stored figures: {done.days:,} entity days, {done.hours:,} entity hours, {done.kpi_days:,} KPI"
              f" series days, {done.ingest_hours:,} ingest hours in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
        conn.execute("ANALYZE uptime_daily, uptime_hourly, kpi_daily, ingest_hourly")


def grafana_dsn(dsn: str) -> str:
    params = conninfo_to_dict(dsn)
    params.update(user=GRAFANA_ROLE, password="bench")
    return make_conninfo(**params)


def panel_range(panel: dict, seconds: float, interval: str) -> tuple[float, str]:
    """A panel's own relative time (`timeFrom`, e.g. 24h) replaces the dashboard's range; its minimum
    interval raises `$__interval`."""
    if panel.get("timeFrom"):
        seconds = interval_seconds(panel["timeFrom"])
        interval = "1m" if seconds <= 2 * 86400 else "1h"
    if panel.get("interval") and interval_seconds(panel["interval"]) > interval_seconds(interval):
        interval = panel["interval"]
    return seconds, interval


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=250)
    parser.add_argument("--links", type=int, default=250)
    parser.add_argument("--agencies", type=int, default=10)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--raw-days", type=int, default=3)
    parser.add_argument("--minute-days", type=int, default=3)
    parser.add_argument("--hour-days", type=int, default=30)
    parser.add_argument("--counter-days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse an existing bench database")
    parser.add_argument("--db", default=DB, help="the bench database's name (one per engineer on a shared server)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--board", action="append", help="only this dashboard uid (repeatable)")
    parser.add_argument("--cover-indexes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timescaledb", action="store_true", help="build the store on the TimescaleDB back end")
    args = parser.parse_args()

    dsn = reads.ADMIN.rsplit("/", 1)[0] + "/" + args.db
    now = time.time()
    if not args.keep:
        reads.DB = args.db
        print(f"building {args.db}: {args.services} services, {args.links} links ...", flush=True)
        reads.build(dsn, args, now, raw_retention_days=args.counter_days)
        extras(dsn, args, now)
    upkeep(dsn, now)
    with psycopg.connect(dsn) as conn:
        timescale = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone() == ("timescaledb",)
        now = conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0]  # type: ignore[index]
        series = conn.execute("SELECT count(*) FROM series").fetchone()[0]  # type: ignore[index]
    print(f"series: {series}, back end: {'TimescaleDB' if timescale else 'plain PostgreSQL'}", flush=True)
    grafana = grafana_dsn(dsn)
    rows = []
    with psycopg.connect(grafana, autocommit=True) as conn:
        for uid, board in build_all().items():
            if args.board and uid not in args.board:
                continue
            variables = dashboard_variables(board, {})
            for panel in board["panels"]:
                for name, (seconds, interval) in RANGES.items():
                    span, step = panel_range(panel, seconds, interval)
                    times = []
                    for _ in range(args.rounds):
                        sql = render_query(
                            panel["targets"][0]["rawSql"],
                            datetime.fromtimestamp(now - span, UTC),
                            datetime.fromtimestamp(now, UTC),
                            interval=step,
                            variables=variables,
                            timescaledb=timescale,
                        )
                        started = time.perf_counter()
                        conn.execute(sql).fetchall()  # type: ignore[call-overload]
                        times.append((time.perf_counter() - started) * 1000)
                    label = name if not panel.get("timeFrom") else f"{name} (panel: {panel['timeFrom']})"
                    rows.append((uid, panel["title"], label, statistics.median(times), percentile(times, 0.95)))
                    print(f"  {uid:13} {panel['title'][:44]:44} {label:20} p50 {rows[-1][3]:8.1f} ms"
                          f"  p95 {rows[-1][4]:8.1f} ms", flush=True)  # fmt: skip
    over = [r for r in rows if r[4] >= TARGET_MS]
    print(f"\n{len(rows) - len(over)} of {len(rows)} panel queries under {TARGET_MS:.0f} ms at p95")
    if args.markdown:
        print("\n| dashboard | panel | range | p50 ms | p95 ms |\n|---|---|---|---|---|")
        for uid, title, label, p50, p95 in rows:
            mark = " **over**" if p95 >= TARGET_MS else ""
            print(f"| `{uid}` | {title} | {label} | {p50:.0f} | {p95:.0f}{mark} |")


if __name__ == "__main__":
    main()
