"""Store upkeep on a timer: partitions created ahead and retention applied (plain PostgreSQL; on
TimescaleDB the same calls drop expired chunks, while its own policies also run)."""

from __future__ import annotations

import logging
import threading

from psycopg_pool import ConnectionPool

from ioc.settings import Settings
from ioc.store.errors import is_temporary

log = logging.getLogger(__name__)
_LOCK_KEY = 0x10C_0002  # one process does the upkeep at a time


def run_upkeep(pool: ConnectionPool, settings: Settings) -> tuple[int, int] | None:
    """Create partitions for the retention window and the days ahead, drop what expired.

    Returns (partitions created, partitions or chunks dropped), or None when another process holds
    the upkeep lock.
    """
    with pool.connection() as conn:
        conn.autocommit = True
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
            return None
        try:
            created = conn.execute(
                "SELECT ioc_ensure_partitions((now() AT TIME ZONE 'UTC')::date - %s,"
                " (now() AT TIME ZONE 'UTC')::date + %s)",
                (settings.retention_days, settings.partitions_ahead_days),
            ).fetchone()[0]  # type: ignore[index]
            dropped = conn.execute(
                "SELECT ioc_apply_retention(%s, %s, %s)",
                (settings.retention_days, settings.rollup_1m_retention_days, settings.rollup_1h_retention_days),
            ).fetchone()[0]  # type: ignore[index]
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return int(created), int(dropped)


class StoreMaintenance:
    """Runs `run_upkeep` at start and then every `interval_s` seconds in a daemon thread."""

    def __init__(self, pool: ConnectionPool, settings: Settings, interval_s: float = 3600.0):
        self._pool = pool
        self._settings = settings
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="store-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = run_upkeep(self._pool, self._settings)
                if result:
                    log.info("store upkeep: %d partitions created, %d dropped", *result)
            except Exception as exc:
                if not is_temporary(exc):
                    log.exception("store upkeep failed")
                else:
                    log.warning("store upkeep postponed: %s", exc)
            self._stop.wait(self._interval_s)
