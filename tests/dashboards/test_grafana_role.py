"""The read-only role Grafana logs in as (migration 0720): it reads the views of `ioc_views`, and nothing
else: no API key hash, audit record, user, session or table of the public schema."""

from __future__ import annotations

import time

import psycopg
import pytest
from dash_province import grafana_dsn
from typer.testing import CliRunner

from ioc.cli import app
from ioc.store.migrate import GRAFANA_ROLE, set_grafana_password
from ioc.store.uptime_daily import refresh_uptime_daily

SECRET_TABLES = ("api_keys", "audit_log", "users", "user_sessions")


def test_grafana_reads_the_views_and_nothing_else(province):
    dsn = grafana_dsn(province.store.dsn)
    with psycopg.connect(province.store.dsn, autocommit=True) as conn:
        refresh_uptime_daily(conn, "Asia/Ho_Chi_Minh", time.time(), settle_s=0)
    with province.store.connect() as conn:
        conn.execute("INSERT INTO api_keys (key_hash, role, name) VALUES ('secret-hash', 'admin', 'k')")
        conn.execute("INSERT INTO audit_log (actor, action) VALUES ('admin', 'key.create')")
        views = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ioc_views' ORDER BY 1"
        )]  # fmt: skip
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )]  # fmt: skip
    assert {"entities", "alerts", "sites", "incidents", "samples", "uptime_days", "kpi_days"} <= set(views)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (GRAFANA_ROLE,)
        for view in views:
            conn.execute(f"SELECT * FROM ioc_views.{view} LIMIT 1")
        for function in ("entity_uptime", "agency_kpis", "counter_increase", "rollup"):
            conn.execute(f"SELECT * FROM ioc_views.{function}(now() - interval '1 hour', now()) LIMIT 1")
        # The stored figures (migration 0760's views of uptime_daily, kpi_daily), read over 30 days.
        assert conn.execute("SELECT count(*) FROM uptime_days").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM kpi_days").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM ioc_views.entity_uptime(now() - interval '30 days', now())"
                            " WHERE known_s > 0").fetchone()[0] > 0  # fmt: skip
        conn.execute("SELECT * FROM ioc_views.series_rollup(1, now() - interval '1 day', now())")
        conn.execute("SELECT * FROM ioc_views.uptime_live(now() - interval '1 hour', now(), 60, '{}', '{}', '{}')")
        for table in [*SECRET_TABLES, *tables]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(f"SELECT * FROM public.{table} LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO ioc_views.sites (id, name) VALUES ('x', 'x')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE ioc_views.mine (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.mine (x int)")
        # Unqualified names resolve in ioc_views first; on TimescaleDB its functions follow (migration 0820:
        # Grafana's TimescaleDB option writes time_bucket() unqualified).
        timescale = province.store.backend == "timescaledb"
        assert conn.execute("SHOW search_path").fetchone() == ("ioc_views, public" if timescale else "ioc_views",)
        assert conn.execute("SELECT count(*) FROM alerts WHERE pages").fetchone() == (1,)


def test_no_view_exposes_a_secret_column(dsn):
    with psycopg.connect(dsn) as conn:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'ioc_views'"
        )}  # fmt: skip
    assert not columns & {"key_hash", "password_hash", "token_hash", "csrf_token", "payload"}


def test_migrate_sets_the_password_from_the_setting(dsn, monkeypatch):
    monkeypatch.setenv("IOC_DATABASE_URL", dsn)
    monkeypatch.setenv("IOC_TIMESCALEDB", "off")
    monkeypatch.setenv("IOC_GRAFANA_DB_PASSWORD", "from-the-setting")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (GRAFANA_ROLE,)).fetchone() == (
            True,
        )
        # Stored as a SCRAM verifier of that password, never the text.
        [stored] = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (GRAFANA_ROLE,)).fetchone()
    assert stored.startswith(("SCRAM-SHA-256$", "md5")) and "from-the-setting" not in stored


def test_no_password_set_without_the_setting(dsn):
    with psycopg.connect(dsn) as conn:
        assert set_grafana_password(conn, None) is False
        assert set_grafana_password(conn, "") is False
