"""Versioned, idempotent migrations for both back ends: TimescaleDB when present, plain PostgreSQL otherwise.

A migration is `NNNN_name.sql` (both back ends), optionally with `NNNN_name.plain.sql` and
`NNNN_name.timescale.sql` beside it for what differs. Each runs once, in one transaction, recorded in
`schema_migrations`; the back end chosen by the first migration is kept in `ioc_meta`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import psycopg
from psycopg import sql

from ioc.settings import Settings

Backend = Literal["timescaledb", "postgres"]
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x10C_0001  # advisory lock: one migrator at a time


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    common: str
    plain: str
    timescale: str

    def sql_for(self, backend: Backend) -> str:
        return self.common + "\n" + (self.timescale if backend == "timescaledb" else self.plain)


def load_migrations() -> list[Migration]:
    folder = resources.files("ioc.store") / "migrations"
    files = {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir() if entry.is_file()}
    migrations = []
    for filename, text in files.items():
        match = _NAME_RE.match(filename)
        if not match:
            continue
        stem = filename.removesuffix(".sql")
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                common=text,
                plain=files.get(f"{stem}.plain.sql", ""),
                timescale=files.get(f"{stem}.timescale.sql", ""),
            )
        )
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return migrations


def _timescaledb_usable(conn: psycopg.Connection) -> bool:
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone() is None:
        return False
    preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    return preload is not None and "timescaledb" in str(preload[0])


def detect_backend(conn: psycopg.Connection) -> Backend | None:
    """The back end an already-migrated store was created with, or None for an empty database."""
    if conn.execute("SELECT to_regclass('ioc_meta')").fetchone() == (None,):
        return None
    row = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()
    return row[0] if row else None


def choose_backend(conn: psycopg.Connection, wanted: str) -> Backend:
    usable = _timescaledb_usable(conn)
    if wanted == "on" and not usable:
        raise RuntimeError(
            "IOC_TIMESCALEDB=on, but the timescaledb extension is not installed and preloaded on this server"
        )
    return "timescaledb" if usable and wanted != "off" else "postgres"


def migrate(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Apply every pending migration; returns the names applied (empty when up to date)."""
    conn.autocommit = True
    applied: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ioc_meta (key text PRIMARY KEY, value text NOT NULL);"
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        backend = detect_backend(conn)
        if backend is None:
            backend = choose_backend(conn, settings.timescaledb)
            if backend == "timescaledb":
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("INSERT INTO ioc_meta VALUES ('backend', %s) ON CONFLICT DO NOTHING", (backend,))
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        params = {
            "retention_days": settings.retention_days,
            "m1_days": settings.rollup_1m_retention_days,
            "h1_days": settings.rollup_1h_retention_days,
        }
        for migration in load_migrations():
            if migration.version in done:
                continue
            text = migration.sql_for(backend)
            for key, value in params.items():
                text = text.replace("{" + key + "}", str(int(value)))
            # Continuous aggregates cannot be created inside a transaction block, so each
            # statement of a TimescaleDB migration runs on its own; plain ones run in one transaction.
            if backend == "timescaledb":
                for statement in split_statements(text):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            else:
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            applied.append(f"{migration.version:04d}_{migration.name}")
        today_first = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date - %s", (settings.retention_days,))
        first_day = today_first.fetchone()[0]  # type: ignore[index]
        conn.execute(
            "SELECT ioc_ensure_partitions(%s, (now() AT TIME ZONE 'UTC')::date + %s)",
            (first_day, settings.partitions_ahead_days),
        )
        set_grafana_password(conn, settings.grafana_db_password)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


GRAFANA_ROLE = "ioc_grafana"


def set_grafana_password(conn: psycopg.Connection, password: str | None) -> bool:
    """Let the read-only role of migration 0720 log in with `password` (IOC_GRAFANA_DB_PASSWORD); True when set."""
    if not password:
        return False
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (GRAFANA_ROLE,)).fetchone() is None:
        raise RuntimeError(f"IOC_GRAFANA_DB_PASSWORD is set, but the role {GRAFANA_ROLE} does not exist")
    conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(GRAFANA_ROLE), sql.Literal(password)))
    return True


def split_statements(text: str) -> list[str]:
    """Split SQL on top-level semicolons, keeping dollar-quoted bodies and comments intact."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    dollar: str | None = None
    while i < n:
        ch = text[i]
        if dollar:
            if text.startswith(dollar, i):
                current.append(dollar)
                i += len(dollar)
                dollar = None
                continue
        elif ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        elif ch == "'":
            end = text.find("'", i + 1)
            while end >= 0 and text.startswith("''", end):
                end = text.find("'", end + 2)
            end = n - 1 if end < 0 else end
            current.append(text[i : end + 1])
            i = end + 1
            continue
        elif ch == "$":
            match = re.match(r"\$[A-Za-z_]*\$", text[i:])
            if match:
                dollar = match.group(0)
                current.append(dollar)
                i += len(dollar)
                continue
        elif ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements
