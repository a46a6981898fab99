from __future__ import annotations

import datetime as dt
import re

import psycopg
import pytest

from ioc.settings import load_settings
from ioc.store.migrate import detect_backend, load_migrations, migrate, split_statements

_PARTITION_RE = re.compile(r"^samples_p(\d{8})$")


def _partition_days(conn: psycopg.Connection) -> list[dt.date]:
    """The days of the raw partitions of `samples`, parsed here from the names PostgreSQL lists.

    Not with to_date() in the query: the planner may apply it to every row of pg_class before the join
    to pg_inherits keeps the partitions, and a relation such as `samples_p_notadate` then breaks it.
    """
    names = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'samples'::regclass"
    )
    matches = (_PARTITION_RE.match(name) for (name,) in names)
    return sorted(dt.datetime.strptime(m.group(1), "%Y%m%d").date() for m in matches if m)


def _utc_today(conn: psycopg.Connection) -> dt.date:
    return conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]  # type: ignore[index]


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
        today = _utc_today(conn)
        assert [day for day in _partition_days(conn) if day > today]


def test_plain_retention_drops_old_partitions(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        today = _utc_today(conn)
        conn.execute("SELECT ioc_ensure_partitions(%s, %s)", (today - dt.timedelta(40), today - dt.timedelta(39)))
        assert today - dt.timedelta(40) in _partition_days(conn)
        conn.execute("SELECT ioc_apply_retention(30, 90, 730)")
        assert min(_partition_days(conn)) >= today - dt.timedelta(30)


def test_partition_queries_survive_relations_named_like_partitions(dsn: str) -> None:
    """With a relation whose name is no date after `samples_p` and a plan that filters pg_class before
    the join (what a larger pg_inherits makes the planner choose), the old to_date() test query fails;
    the partition listing of these tests and ioc_apply_retention() still work."""
    old_query = (
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'samples'::regclass "
        "AND to_date(substr(c.relname, 10), 'YYYYMMDD') > (now() AT TIME ZONE 'UTC')::date"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        today = _utc_today(conn)
        conn.execute("SELECT ioc_ensure_partitions(%s, %s)", (today - dt.timedelta(40), today - dt.timedelta(39)))
        conn.execute("CREATE TABLE samples_p_notadate (x integer)")
        try:
            conn.execute("SET enable_nestloop = off")
            conn.execute("SET enable_mergejoin = off")
            # Which error depends on the first relation name to_date() meets: `samples_p_notadate`, or a
            # `pg_toast_NNNNNN` whose digits are no date (more tables, such as users', make more of those).
            with pytest.raises((psycopg.errors.InvalidDatetimeFormat, psycopg.errors.DatetimeFieldOverflow)):
                conn.execute(old_query)
            assert today - dt.timedelta(40) in _partition_days(conn)
            assert conn.execute("SELECT ioc_apply_retention(30, 90, 730)").fetchone()[0] >= 2  # type: ignore[index]
            days = _partition_days(conn)
            assert min(days) >= today - dt.timedelta(30) and max(days) > today
        finally:
            conn.execute("DROP TABLE samples_p_notadate")


def test_split_statements_keeps_dollar_bodies() -> None:
    text = "SELECT 1; -- a comment; with semicolon\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;"
    assert split_statements(text) == [
        "SELECT 1",
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
    ]
