"""Shared fixtures: real PostgreSQL databases (plain and, where installed, TimescaleDB) and a private
Mosquitto broker started with our own test configuration. Never mocks of either."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ioc.local_services import read_test_dsn
from ioc.settings import Settings, load_settings
from ioc.store.connect import connect, ensure_database
from ioc.store.migrate import migrate
from tests.support import Broker, free_port

# IOC_TEST_PG_DSN; else the project's test cluster when `scripts/setup --test` started one (it does when the
# system PostgreSQL asks user postgres for a password); else the system PostgreSQL with trust on loopback.
PG_ADMIN_DSN = os.environ.get("IOC_TEST_PG_DSN") or read_test_dsn() or "postgresql://postgres@127.0.0.1:5432/postgres"

# Tables emptied between tests; the schema stays.
DATA_TABLES = (
    "samples", "series", "entities", "agencies", "sites", "events", "status_changes", "dead_letters",
    "alerts", "silences", "maintenance_windows", "audit_log", "api_keys", "users", "user_sessions",
    "alert_runtime", "alert_groups", "alert_outbox", "auth_failures", "ingest_members", "alerts_leader",
    "uptime_daily", "uptime_daily_filled", "uptime_hourly", "uptime_hourly_filled", "uptime_dirty",
    "uptime_version", "kpi_daily", "kpi_daily_filled", "ingest_hourly",
)  # fmt: skip


def _dsn_for(dbname: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + dbname


def timescaledb_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            ext = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        return ext is not None and preload is not None and "timescaledb" in preload[0]
    except psycopg.OperationalError:
        return False


def _fresh_database(name: str, backend: str) -> tuple[str, Settings]:
    dsn = _dsn_for(name)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ensure_database(dsn)
    settings = load_settings(database_url=dsn, timescaledb="on" if backend == "timescaledb" else "off")
    with connect(dsn, autocommit=True) as conn:
        migrate(conn, settings)
    return dsn, settings


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _plain_db() -> Iterator[tuple[str, Settings]]:
    name = f"ioc_test_plain_{os.getpid()}"
    yield _fresh_database(name, "postgres")
    _drop_database(name)


@pytest.fixture(scope="session")
def _timescale_db() -> Iterator[tuple[str, Settings]]:
    if not timescaledb_available():
        pytest.skip("the timescaledb extension is not installed and preloaded on this PostgreSQL")
    name = f"ioc_test_tsdb_{os.getpid()}"
    yield _fresh_database(name, "timescaledb")
    _drop_database(name)


def _truncate(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        existing = [t for t in DATA_TABLES if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0]]
        conn.execute("TRUNCATE " + ", ".join(existing) + " RESTART IDENTITY CASCADE")
        # Plain rollup tables; on TimescaleDB this empties the continuous aggregates' materialized rows
        # (which truncating `samples` leaves behind, stale, for the next test) and resets their watermark.
        conn.execute("TRUNCATE samples_1m, samples_1h")


@pytest.fixture
def dsn(_plain_db: tuple[str, Settings]) -> str:
    """A migrated plain-PostgreSQL store, emptied for this test."""
    _truncate(_plain_db[0])
    return _plain_db[0]


@pytest.fixture(params=["postgres", "timescaledb"])
def any_dsn(request: pytest.FixtureRequest) -> str:
    """A migrated store on each back end in turn (TimescaleDB skipped where it is absent)."""
    fixture = "_plain_db" if request.param == "postgres" else "_timescale_db"
    db_dsn, _ = request.getfixturevalue(fixture)
    _truncate(db_dsn)
    return db_dsn


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh private broker for this test."""
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def settings(dsn: str, broker: Broker, tmp_path: Path) -> Settings:
    """Settings pointing at this test's store and broker, with a private spool."""
    return load_settings(
        database_url=dsn,
        mqtt_url=broker.url,
        http_port=free_port(),
        spool_dir=tmp_path / "spool",
        mqtt_client_id=f"ioc-test-{os.getpid()}-{time.monotonic_ns()}",
        timescaledb="off",
    )
