"""Store upkeep on timers: partitions created ahead and retention applied (plain PostgreSQL; on
TimescaleDB the same calls drop expired chunks), and on TimescaleDB the continuous aggregates
refreshed over the whole retention window, so late samples reach the rollups within a minute as they
do at once on plain PostgreSQL. TimescaleDB's own policies run too, but on some PostgreSQL releases
their background jobs are recorded as failed and backed off; this does not depend on them. After each
refresh, the stored uptime figures of closed days and hours that are missing or marked changed are
computed (ioc.store.uptime_daily), with the KPI days and the ingest hours (ioc.store.ingest_hourly)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from psycopg_pool import ConnectionPool

from ioc.settings import Settings
from ioc.store.errors import is_temporary
from ioc.store.migrate import detect_backend
from ioc.store.uptime_daily import RefreshResult, refresh_uptime_daily

log = logging.getLogger(__name__)
_LOCK_KEY = 0x10C_0002  # one process does the upkeep at a time
_REFRESH_LOCK_KEY = 0x10C_0003
_UPTIME_LOCK_KEY = 0x10C_0004
UPTIME_BUDGET_S = 5.0  # work begun per run: a first fill of a big store spreads over a few minutes


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


def refresh_rollups(pool: ConnectionPool, settings: Settings) -> bool:
    """On TimescaleDB, refresh `samples_1m` and `samples_1h` over the retention window; False elsewhere.

    Only invalidated buckets are materialised again, so a refresh with nothing late costs milliseconds.
    """
    with pool.connection() as conn:
        conn.autocommit = True  # CALL refresh_continuous_aggregate cannot run inside a transaction
        if detect_backend(conn) != "timescaledb":
            return False
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_REFRESH_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
            return True
        try:
            window = f"{int(settings.retention_days)} days"
            conn.execute(
                "CALL refresh_continuous_aggregate('samples_1m', now() - %s::interval, now() - interval '1 minute')",
                (window,),
            )
            conn.execute(
                "CALL refresh_continuous_aggregate('samples_1h', now() - %s::interval, now() - interval '1 hour')",
                (window,),
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_REFRESH_LOCK_KEY,))
    return True


def refresh_uptime(pool: ConnectionPool, settings: Settings) -> RefreshResult | None:
    """Compute the stored uptime figures that are missing or marked changed, in the configured time zone;
    None when another process holds the lock."""
    with pool.connection() as conn:
        conn.autocommit = True
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_UPTIME_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
            return None
        try:
            return refresh_uptime_daily(conn, settings.timezone, time.time(), budget_s=UPTIME_BUDGET_S)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_UPTIME_LOCK_KEY,))


class StoreMaintenance:
    """Runs `run_upkeep` at start and every `interval_s` seconds, and `refresh_rollups` then `refresh_uptime`
    every `refresh_interval_s` seconds, in a daemon thread."""

    def __init__(
        self,
        pool: ConnectionPool,
        settings: Settings,
        interval_s: float = 3600.0,
        refresh_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._pool = pool
        self._settings = settings
        self._interval_s = interval_s
        self._refresh_interval_s = refresh_interval_s
        self._clock = clock
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
        next_upkeep = next_refresh = self._clock()
        while not self._stop.is_set():
            now = self._clock()
            if now >= next_upkeep:
                next_upkeep = now + self._interval_s
                self._guarded("store upkeep", self._upkeep)
            if now >= next_refresh:
                next_refresh = now + self._refresh_interval_s
                self._guarded("rollup refresh", lambda: refresh_rollups(self._pool, self._settings))
                self._guarded("uptime figures", lambda: refresh_uptime(self._pool, self._settings))
            self._stop.wait(max(0.0, min(next_upkeep, next_refresh) - self._clock()))

    def _upkeep(self) -> None:
        result = run_upkeep(self._pool, self._settings)
        if result:
            log.info("store upkeep: %d partitions created, %d dropped", *result)

    @staticmethod
    def _guarded(what: str, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception as exc:
            if is_temporary(exc):
                log.warning("%s postponed: %s", what, exc)
            else:
                log.exception("%s failed", what)
