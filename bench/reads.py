"""Read benchmark of the agency views: one command, prints figures (not a test).

    .venv/bin/python bench/reads.py [--services 500] [--links 500] [--agencies 25] [--interval 15]
                                    [--raw-days 30] [--minute-days 90] [--hour-days 90] [--rounds 7] [--keep]
                                    [--cover-indexes] [--timescaledb]

Builds a fresh database `ioc_bench_reads` (plain PostgreSQL; `--timescaledb` for that back end) on the
server of `IOC_BENCH_PG` (default postgresql://postgres@127.0.0.1:5432/postgres) holding `--services` service systems
(`--agencies` agencies of equal size) and `--links` links, each with an `up` series and a
`response_ms` / `rtt_ms` series at one sample per `--interval` seconds for `--raw-days` days (raw
samples), with the minute rollup for `--minute-days` and the hour rollup for `--hour-days`; the
first agency's services also carry the six dossier counters. An outage of 1 % of the time is
scattered over every entity. Rows are generated inside PostgreSQL (generate_series), so a big store
is built in minutes, not hours; the rollups are the sums of the raw rows they stand for. On TimescaleDB
the closed-form rows older than the raw samples (minutes) or the minute rows (hours) go into the
continuous aggregates' materialization hypertables, and the rest is materialized by
refresh_continuous_aggregate from the rows below it, as the refresh policies do (so `--raw-days` >= 1 and
`--minute-days` >= 4: the policies recompute the last 3 hours from raw samples and the last 3 days and an
hour of hours from the minutes).

Then it times, through the real FastAPI app in this process (median and worst of `--rounds`):
`GET /status.json` (every public service: 90 days, incidents, maintenance), `GET /status/{agency}.json`,
`GET /api/v1/agencies/{id}/health` (20 services' 24h/7d/30d/90d uptime, kiosks and links), and
`GET /api/v1/agencies/{id}/kpis` over 30 days at `step=1d`, and `ioc.store.uptime.uptimes` alone over 90 days
for one agency's 20 services. Before timing, the store upkeep's `refresh_uptime_daily` fills `uptime_daily`
and `uptime_hourly` (timed; on a `--keep` run only what is missing), and then is timed again after one late
sample of one service (its recomputation). Each timed request moves the app's clock 31 s
on, so none is answered from the status pages' 30-second cache; one cached answer is timed after.
Targets: /status.json and one agency's 90-day uptime under 200 ms; one agency's 30-day KPIs under 100 ms.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from ioc.api.app import create_app
from ioc.auth import create_key
from ioc.inventory import parse_inventory, store_inventory
from ioc.settings import load_settings
from ioc.store.connect import ensure_database, make_pool
from ioc.store.migrate import migrate
from ioc.store.uptime import uptimes
from ioc.store.uptime_daily import refresh_uptime_daily

ADMIN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "ioc_bench_reads"
COUNTERS = ("dossiers_received_total", "dossiers_online_total", "dossiers_done_total",
            "dossiers_done_ontime_total", "payments_online_total")  # fmt: skip


def inventory(services: int, links: int, agencies: int) -> str:
    lines = ["agencies:"]
    lines += [f'  - {{id: ag-{a:02d}, name: "Sở {a:02d}"}}' for a in range(agencies)]
    lines += ["sites:", '  - {id: dc, name: "Trung tâm dữ liệu"}', "entities:"]
    per = max(1, services // agencies)
    for i in range(services):
        system = "one_stop_shop" if i < per else "edoc"
        agency = f"ag-{min(i // per, agencies - 1):02d}"
        lines.append(
            f'  - {{kind: service, id: svc-{i:04d}, name: "Hệ thống {i:04d}", agency: {agency},'
            f" site: dc, system: {system}, interval_s: 15}}"
        )
    for i in range(links):
        lines.append(
            f'  - {{kind: link, id: wan-{i:04d}, name: "Đường truyền {i:04d}", agency: ag-{i % agencies:02d},'
            f" site: dc, interval_s: 15}}"
        )
    return "\n".join(lines) + "\n"


def backend(args: argparse.Namespace) -> str:
    """IOC_TIMESCALEDB for the bench store: "on" with --timescaledb, else "off"."""
    return "on" if getattr(args, "timescaledb", False) else "off"


def materialization_table(conn: psycopg.Connection, view: str) -> str:
    """Where a continuous aggregate keeps its rows (TimescaleDB), so the builder can write them in closed form."""
    row = conn.execute(
        "SELECT format('%%I.%%I', materialization_hypertable_schema, materialization_hypertable_name)"
        " FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
        (view,),
    ).fetchone()
    assert row is not None, view
    return str(row[0])


def compress_as_the_policy_would(conn: psycopg.Connection) -> None:
    """TimescaleDB: run the compression policy once now (raw chunks older than 2 days), as its job would
    have on a store this old, so reads meet compressed chunks where production does."""
    started = time.perf_counter()
    jobs = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_compression' AND hypertable_name = 'samples'"
    ).fetchall()
    for (job,) in jobs:
        conn.execute("CALL run_job(%s)", (job,))
    chunks = conn.execute(
        "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'samples'"
    ).fetchone()
    assert chunks is not None
    print(f"  compression policy: {chunks[0]} of {chunks[1]} raw chunks compressed in"
          f" {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip


def build(dsn: str, args: argparse.Namespace, now: float, *, raw_retention_days: int = 0) -> None:
    timescale = backend(args) == "on"
    if timescale and (args.raw_days < 1 or args.minute_days < 4):
        raise SystemExit("--timescaledb needs --raw-days >= 1 and --minute-days >= 4 (see the docstring)")
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    ensure_database(dsn)
    raw_retention = max(1, args.raw_days, raw_retention_days)
    settings = load_settings(database_url=dsn, timescaledb=backend(args), retention_days=raw_retention,
                             rollup_1m_retention_days=max(raw_retention, args.minute_days),
                             rollup_1h_retention_days=max(raw_retention, args.minute_days, args.hour_days))  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings)
        store_inventory(conn, parse_inventory(inventory(args.services, args.links, args.agencies)))
        conn.execute(
            """
            INSERT INTO series (kind, entity, metric)
            SELECT kind, id, m FROM entities, unnest(CASE kind WHEN 'service' THEN ARRAY['up', 'response_ms']
                                                     ELSE ARRAY['up', 'rtt_ms'] END) m
            """
        )
        conn.execute(
            "INSERT INTO series (kind, entity, metric) SELECT 'service', id, m FROM entities, unnest(%s::text[]) m "
            "WHERE kind = 'service' AND agency = 'ag-00'",
            ([*COUNTERS, "dossiers_overdue"],),
        )
        end = math.floor(now / 3600) * 3600
        conn.execute("UPDATE entities SET first_seen = to_timestamp(%s), last_seen = to_timestamp(%s)",
                     (end - args.hour_days * 86400, now))  # fmt: skip
        # Value of series s at time t: `up` is 0 for 1 % of the time (a 15-minute outage in every 25 hours,
        # at an offset of its own), others a smooth curve; counters grow by one every interval.
        value = """CASE WHEN s.metric = 'up' THEN
                        CASE WHEN ((extract(epoch FROM t)::bigint + s.id * 7919) %% 90000) < 900 THEN 0 ELSE 1 END
                     WHEN s.metric LIKE '%%_total' THEN floor(extract(epoch FROM t) / %(iv)s) - 1.1e8
                     WHEN s.metric = 'dossiers_overdue' THEN 3
                     ELSE 200 + 50 * sin(extract(epoch FROM t) / 5400) END"""
        # The rollups in closed form (each bucket's count, sum, min and max of the raw values above), so a
        # big store is built without generating every raw sample of 90 days.
        rollup = """
            WITH p AS (
                SELECT s.id AS sid, s.metric, b,
                       %(width)s / %(iv)s AS cnt,
                       ((extract(epoch FROM b)::bigint + s.id * 7919) %% 90000)::float8 AS phase,
                       extract(epoch FROM b) AS e
                FROM series s
                CROSS JOIN generate_series(to_timestamp(%(start)s), to_timestamp(%(end)s) - interval '1 second',
                                           make_interval(secs => %(width)s)) b
            ), d AS (
                SELECT p.*, (greatest(0, least(phase + %(width)s, 900) - phase)
                             + greatest(0, least(phase + %(width)s, 90900) - greatest(phase, 90000))) AS down_s
                FROM p
            )
            SELECT sid, b, cnt,
                   CASE WHEN metric = 'up' THEN cnt - ceil(down_s / %(iv)s)
                        WHEN metric LIKE '%%_total' THEN cnt * (floor(e / %(iv)s) - 1.1e8 + (cnt - 1) / 2.0)
                        WHEN metric = 'dossiers_overdue' THEN 3 * cnt
                        ELSE cnt * (200 + 50 * sin((e + %(width)s / 2.0) / 5400)) END,
                   CASE WHEN metric = 'up' THEN CASE WHEN down_s > 0 THEN 0 ELSE 1 END
                        WHEN metric LIKE '%%_total' THEN floor(e / %(iv)s) - 1.1e8
                        WHEN metric = 'dossiers_overdue' THEN 3 ELSE 150 END,
                   CASE WHEN metric = 'up' THEN CASE WHEN down_s >= %(width)s THEN 0 ELSE 1 END
                        WHEN metric LIKE '%%_total' THEN floor(e / %(iv)s) - 1.1e8 + cnt - 1
                        WHEN metric = 'dossiers_overdue' THEN 3 ELSE 250 END
            FROM d
        """
        # Closed-form rows up to `upto`: all of them on the plain back end; on TimescaleDB those below what
        # the aggregates materialize from the rows under them (raw samples, minute rows).
        upto = {"samples_1h": end + 3600, "samples_1m": end + 3600}
        if timescale:
            upto = {"samples_1h": end - args.minute_days * 86400, "samples_1m": end - args.raw_days * 86400}
        for view, days, width in (("samples_1h", args.hour_days, 3600), ("samples_1m", args.minute_days, 60)):
            table = materialization_table(conn, view) if timescale else view
            started = time.perf_counter()
            conn.execute(
                f"INSERT INTO {table} (series_id, bucket, cnt, total, min_value, max_value) {rollup}",
                {"start": end - days * 86400, "end": upto[view], "width": width, "iv": args.interval},
            )
            closed = (min(upto[view], end) - (end - days * 86400)) / 86400
            print(f"  {view}: {closed:.0f} days in closed form in {time.perf_counter() - started:.0f} s", flush=True)
        if args.raw_days:
            started = time.perf_counter()
            conn.execute("SELECT ioc_ensure_partitions(current_date - %s, current_date + 1)", (args.raw_days + 1,))
            conn.execute(
                f"""
                INSERT INTO samples (series_id, ts, value)
                SELECT s.id, t, {value}
                FROM series s CROSS JOIN generate_series(to_timestamp(%(start)s), to_timestamp(%(now)s),
                                                         make_interval(secs => %(iv)s)) t
                """,
                {"start": end - args.raw_days * 86400, "now": now, "iv": args.interval},
            )
            print(f"  samples: {args.raw_days} days in {time.perf_counter() - started:.0f} s", flush=True)
        if timescale:
            for view, lower in (("samples_1m", args.raw_days), ("samples_1h", args.minute_days)):
                started = time.perf_counter()
                conn.execute(
                    "CALL refresh_continuous_aggregate(%s::regclass, to_timestamp(%s), to_timestamp(%s))",
                    (view, end - lower * 86400, now),
                )
                print(f"  {view}: the last {lower} days materialized in {time.perf_counter() - started:.0f} s",
                      flush=True)  # fmt: skip
            compress_as_the_policy_would(conn)
        if args.cover_indexes:
            for view in ("samples_1m", "samples_1h"):
                table = materialization_table(conn, view) if timescale else view
                conn.execute(
                    f"CREATE INDEX {view}_series_cover ON {table} (series_id, bucket)"
                    " INCLUDE (cnt, total, min_value, max_value)"
                )
        conn.execute("VACUUM ANALYZE")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                  for t in ("samples", "samples_1m", "samples_1h")}  # fmt: skip
    print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)


def timed(
    client: TestClient, url: str, headers: dict[str, str], rounds: int, clock: list[float]
) -> tuple[float, float, int]:
    """Median and worst of `rounds` requests, each at a clock 31 s on (no status page cache hit)."""
    times = []
    size = 0
    for _ in range(rounds):
        clock[0] += 31
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        size = len(response.content)
    return statistics.median(times), max(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--agencies", type=int, default=25)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--raw-days", type=int, default=30)
    parser.add_argument("--minute-days", type=int, default=90)
    parser.add_argument("--hour-days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the database of a previous run")
    parser.add_argument("--timescaledb", action="store_true", help="build the store on the TimescaleDB back end")
    parser.add_argument(
        "--cover-indexes",
        action="store_true",
        help="add covering indexes on the rollups by series (not shipped: see docs/benchmarks.md)",
    )
    args = parser.parse_args()
    dsn = ADMIN.rsplit("/", 1)[0] + "/" + DB
    now = time.time()
    if not args.keep:
        print(f"building {DB}: {args.services} services, {args.links} links, one sample per {args.interval} s",
              flush=True)  # fmt: skip
        started = time.perf_counter()
        build(dsn, args, now)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, load_settings(database_url=dsn, timescaledb=backend(args)))  # a --keep store from before 0700
        started = time.perf_counter()
        done = refresh_uptime_daily(conn, "Asia/Ho_Chi_Minh", now, settle_s=0)
        print(f"  uptime figures: {done.days:,} entity days, {done.hours:,} entity hours computed in"
              f" {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        # One late sample of one service three days ago: the upkeep recomputes that entity's days only.
        conn.execute(
            "INSERT INTO uptime_dirty (kind, entity, day)"
            " VALUES ('service', 'svc-0001', (now() - interval '3 days')::date)"
        )
        started = time.perf_counter()
        done = refresh_uptime_daily(conn, "Asia/Ho_Chi_Minh", now, settle_s=0)
        print(f"  after one late sample: {done.days} entity days, {done.hours} entity hours computed in"
              f" {(time.perf_counter() - started) * 1000:.0f} ms", flush=True)  # fmt: skip
    pool = make_pool(dsn, max_size=2, name="ioc-bench-reads")
    pool.open(wait=True)
    clock = [now]
    app = create_app(load_settings(database_url=dsn), pool=pool, registry=CollectorRegistry(),
                     readiness={"store": lambda: True}, clock=lambda: clock[0])  # fmt: skip
    with psycopg.connect(dsn) as conn:
        key = create_key(conn, "viewer", None, "bench")
    headers = {"Authorization": f"Bearer {key}"}
    client = TestClient(app)
    day = 86400
    kpi_to = math.floor(now / 3600) * 3600
    checks = [
        ("GET /status.json (province)", "/status.json", 200),
        ("GET /status/ag-01.json", "/status/ag-01.json", 200),
        ("GET /api/v1/agencies/ag-01/health", "/api/v1/agencies/ag-01/health", 200),
        ("GET /api/v1/agencies/ag-00/kpis (30 d, step 1d)",
         f"/api/v1/agencies/ag-00/kpis?from={kpi_to - 30 * day}&to={kpi_to}&step=1d", 100),
    ]  # fmt: skip
    print(f"{'request':52} {'median ms':>10} {'worst ms':>9} {'target':>7} {'bytes':>9}")
    for label, url, target in checks:
        median, worst, size = timed(client, url, headers, args.rounds, clock)
        flag = "ok" if median < target else "MISSED"
        print(f"{label:52} {median:10.1f} {worst:9.1f} {target:7d} {size:9,d}  {flag}", flush=True)
    with psycopg.connect(dsn) as conn:
        refs = [
            f"service/{i}"
            for (i,) in conn.execute("SELECT id FROM entities WHERE kind = 'service' AND agency = 'ag-01'")
        ]
        times = []
        for _ in range(args.rounds):
            clock[0] += 31
            started = time.perf_counter()
            uptimes(conn, refs, clock[0], periods=("90d",))
            times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    label = f"uptimes() 90d, {len(refs)} services of ag-01"
    print(f"{label:52} {median:10.1f} {max(times):9.1f} {200:7d} {'':9}  {'ok' if median < 200 else 'MISSED'}")
    # The public pages' cache: within 30 s a document is answered from memory.
    client.get("/status.json")
    started = time.perf_counter()
    client.get("/status.json")
    print(f"{'GET /status.json again within 30 s (cached)':52} {(time.perf_counter() - started) * 1000:10.1f}")
    pool.close()


if __name__ == "__main__":
    main()
