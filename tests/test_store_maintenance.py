from __future__ import annotations

import psycopg

from ioc.settings import load_settings
from ioc.store.connect import make_pool
from ioc.store.maintenance import StoreMaintenance, run_upkeep


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
