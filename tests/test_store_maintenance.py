from __future__ import annotations

import time

import psycopg

from ioc.settings import load_settings
from ioc.store.connect import make_pool
from ioc.store.maintenance import StoreMaintenance, refresh_rollups, run_upkeep
from ioc.store.writer import BatchWriter, PendingBatch


def _partition_days(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return sorted(
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'samples'::regclass"
            )
        )


def test_upkeep_creates_ahead_and_drops_expired(dsn: str) -> None:
    settings = load_settings(database_url=dsn, retention_days=3, partitions_ahead_days=5)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT ioc_ensure_partitions(current_date - 20, current_date - 18)")
        old_bucket = "now() - interval '200 days'"
        conn.execute(f"INSERT INTO samples_1m VALUES (1, {old_bucket}, 1, 1, 1, 1), (1, now(), 1, 1, 1, 1)")
    pool = make_pool(dsn, max_size=1)
    pool.open()
    try:
        _created, dropped = run_upkeep(pool, settings)  # type: ignore[misc]
        assert dropped >= 3
        days = _partition_days(dsn)
        with psycopg.connect(dsn) as conn:
            today = conn.execute("SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD')").fetchone()[0]
            ahead = conn.execute("SELECT to_char((now() AT TIME ZONE 'UTC')::date + 5, 'YYYYMMDD')").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM samples_1m").fetchone()[0] == 1
        assert f"samples_p{today}" in days and f"samples_p{ahead}" in days
        assert all(d >= days[0] for d in days)
        assert len([d for d in days if d < f"samples_p{today}"]) <= 3
        assert run_upkeep(pool, settings) == (0, 0)
    finally:
        pool.close()


def test_maintenance_thread_starts_and_stops(dsn: str) -> None:
    settings = load_settings(database_url=dsn)
    pool = make_pool(dsn, max_size=1)
    pool.open()
    try:
        service = StoreMaintenance(pool, settings, interval_s=0.05)
        service.start()
        service.stop()
        assert service._thread is not None and not service._thread.is_alive()
    finally:
        pool.close()


def test_late_samples_reach_the_rollups_on_both_back_ends(any_dsn: str) -> None:
    """A sample hours late, written by the ingest writer, lands in samples_1m: at once on plain
    PostgreSQL (the writer's upsert), after the rollup refresh on TimescaleDB."""
    settings = load_settings(database_url=any_dsn)
    writer = BatchWriter(any_dsn)
    now = float(int(time.time()) // 60 * 60)
    pool = make_pool(any_dsn, max_size=1)
    pool.open()
    try:
        history = PendingBatch()
        for i in range(1, 600):
            history.keys.append(("link", "wan-1", "rtt_ms", ()))
            history.ts.append(now - 60.0 * i)
            history.values.append(float(i))
        writer.write(history)
        refresh_rollups(pool, settings)
        late_ts = now - 5 * 3600 + 30.5  # inside a bucket that already holds a sample
        late = PendingBatch()
        late.keys.append(("link", "wan-1", "rtt_ms", ()))
        late.ts.append(late_ts)
        late.values.append(1000.0)
        assert writer.write(late).stored == 1
        with psycopg.connect(any_dsn, autocommit=True) as conn:
            backend = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()[0]
        assert refresh_rollups(pool, settings) is (backend == "timescaledb")
        with psycopg.connect(any_dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT cnt, max_value FROM samples_1m WHERE bucket = to_timestamp(%s)", (now - 5 * 3600,)
            ).fetchone()
        assert row == (2, 1000.0)
    finally:
        writer.close()
        pool.close()
