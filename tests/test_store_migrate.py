from __future__ import annotations

import psycopg

from ioc.settings import load_settings
from ioc.store.migrate import detect_backend, load_migrations, migrate, split_statements


def test_migrations_are_versioned_and_unique() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_migrate_is_idempotent(any_dsn: str) -> None:
    with psycopg.connect(any_dsn, autocommit=True) as conn:
        backend = detect_backend(conn)
        settings = load_settings(database_url=any_dsn, timescaledb="on" if backend == "timescaledb" else "off")
        assert migrate(conn, settings) == []
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        assert applied == {m.version for m in load_migrations()}


def test_both_backends_have_samples_and_rollups(any_dsn: str) -> None:
    with psycopg.connect(any_dsn) as conn:
        for relation in ("samples", "samples_1m", "samples_1h", "series", "dead_letters"):
            assert conn.execute("SELECT to_regclass(%s)", (relation,)).fetchone()[0] is not None, relation
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'samples_1m'::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum"
            )
        ]
        assert cols == ["series_id", "bucket", "cnt", "total", "min_value", "max_value"]


def test_plain_backend_has_partitions_ahead(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        ahead = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'samples'::regclass "
            "AND to_date(substr(c.relname, 10), 'YYYYMMDD') > (now() AT TIME ZONE 'UTC')::date"
        ).fetchone()[0]
        assert ahead >= 1


def test_plain_retention_drops_old_partitions(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT ioc_ensure_partitions(current_date - 40, current_date - 39)")
        conn.execute("SELECT ioc_apply_retention(30, 90, 730)")
        left = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'samples'::regclass "
            "AND to_date(substr(c.relname, 10), 'YYYYMMDD') < current_date - 31"
        ).fetchone()[0]
        assert left == 0


def test_split_statements_keeps_dollar_bodies() -> None:
    text = "SELECT 1; -- a comment; with semicolon\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;"
    assert split_statements(text) == [
        "SELECT 1",
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
    ]
