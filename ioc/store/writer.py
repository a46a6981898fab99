"""The batch writer: one batch, one transaction, and the connection, caches and retries around it.

Per batch: series ids resolved (new series created in a short transaction of their own, so a failed
batch never leaves ids in the cache that the store does not hold; when the batch is prepared ahead,
on a second connection, while the previous batch is being written), plain-PostgreSQL partitions made
sure of, then the write steps in ONE transaction (`write_steps`). Temporary errors (by SQLSTATE) are
raised for the caller to retry or spool; on a permanent error the batch is split until the rows the
store refuses are isolated and dead-lettered on their own (`isolation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import psycopg
from psycopg import errors as pg_errors

from ioc.store.batch import WriteResult
from ioc.store.errors import is_temporary
from ioc.store.isolation import Refused, isolate
from ioc.store.pending import PendingBatch, SeriesTuple
from ioc.store.pg_binary import PG_EPOCH_S, copy_payload, register_pg_arrays
from ioc.store.prepared import Prepared, prepare_samples
from ioc.store.series import SeriesRegistry
from ioc.store.uptime_marks import LateMarks
from ioc.store.write_steps import write_batch

# What the writer's users import from here (bench/ingest.py: PG_EPOCH_S and copy_payload).
__all__ = ["PG_EPOCH_S", "BatchWriter", "PendingBatch", "WriteResult", "copy_payload"]

log = logging.getLogger(__name__)

_PG_EPOCH_DATE = date(2000, 1, 1)
_US_PER_DAY = 86_400_000_000


class BatchWriter:
    """Writes PendingBatches; raises temporary database errors, isolates and dead-letters permanent ones."""

    def __init__(
        self,
        dsn: str,
        registry: SeriesRegistry | None = None,
        *,
        connect: Callable[[], psycopg.Connection] | None = None,
    ):
        self._dsn = dsn
        self._connect = connect or self._default_connect
        self.registry = registry if registry is not None else SeriesRegistry()  # an empty one is falsy
        self._conn: psycopg.Connection | None = None  # the committer's
        self._ahead_conn: psycopg.Connection | None = None  # `prepare`'s, for new series
        self._ahead_ok = True  # False after `prepare` failed to reach the store, until a write succeeds
        self._days: set[int] = set()
        self._backend: str | None = None
        self._marks = LateMarks()

    def _default_connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self._dsn,
            application_name="ioc-ingest",
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    @property
    def backend(self) -> str | None:
        return self._backend

    def close(self) -> None:
        self._close_committer()
        self._close_ahead()

    def _close_committer(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _close_ahead(self) -> None:
        if self._ahead_conn is not None:
            self._ahead_conn.close()
            self._ahead_conn = None

    def _open(self) -> psycopg.Connection:
        conn = self._connect()
        conn.autocommit = False
        register_pg_arrays(conn)
        if self._backend is None:
            row = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()
            conn.commit()
            self._backend = row[0] if row else "postgres"
        return conn

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._close_committer()
            self._conn = self._open()
        return self._conn

    def write(self, batch: PendingBatch) -> WriteResult:
        """Store one batch; temporary errors propagate (the connection is dropped), nothing half-written."""
        try:
            result = self._attempt(batch)
            self._ahead_ok = True
            return result
        except Refused as refused:
            log.warning("batch refused by the store (%s); isolating the rows it refuses", refused.error)
            return isolate(batch, self._attempt)

    def _attempt(self, batch: PendingBatch) -> WriteResult:
        """One try, rolled back on any error: temporary errors propagate, permanent ones as Refused."""
        conn = self._connection()
        try:
            return self._write_deduplicated(conn, batch)
        except Exception as exc:
            self._after_error(conn)
            if is_temporary(exc) or conn.closed or conn.broken:
                raise
            raise Refused(exc) from exc

    def _after_error(self, conn: psycopg.Connection) -> None:
        self._marks.forget()  # the transaction's marks were rolled back
        try:
            if not conn.closed:
                conn.rollback()
        except psycopg.Error:
            pass
        if conn.closed or conn.broken:
            self._close_committer()

    def _write_deduplicated(self, conn: psycopg.Connection, batch: PendingBatch) -> WriteResult:
        """The fast path (plain binary COPY) first; when a sample is already stored (a redelivery), the
        transaction is rolled back and the batch written again through the staging table. The COPY is
        the transaction's first statement, so this costs no savepoint (no subtransaction) per batch."""
        try:
            return self._write(conn, batch, staged=False)
        except pg_errors.UniqueViolation:
            pass
        return self._write(conn, batch, staged=True)

    def _write(self, conn: psycopg.Connection, batch: PendingBatch, *, staged: bool) -> WriteResult:
        prep = None
        if len(batch):
            prep = batch.prepared or self._prepare(self._series_ids(conn, batch.keys), batch)
            if self._backend == "postgres":
                self._ensure_partitions(conn, prep.ts_us)
        return write_batch(conn, batch, prep, rollups=self._backend == "postgres", staged=staged, marks=self._marks)

    # -- ahead of the transaction: series ids, partitions, arrays ---------------------------------

    def prepare(self, batch: PendingBatch) -> None:
        """Compute the batch's arrays, COPY data and rollups ahead (any thread; only one at a time),
        creating its new series first; `write` then only talks to the store. Optional: when the store
        cannot be reached from here, the batch is left for `write` to prepare."""
        if not len(batch) or batch.prepared is not None:
            return
        cached = self.registry.cached(batch.keys)
        ids = cached if None not in cached else self._create_series_ahead(batch.keys)
        if ids is None:
            return
        batch.prepared = self._prepare(np.array(ids, dtype=np.int32), batch)

    def _create_series_ahead(self, keys: list[SeriesTuple]) -> list[int] | None:
        if not self._ahead_ok:  # the store was away: no connection attempt until the committer gets through
            return None
        try:
            if self._ahead_conn is None or self._ahead_conn.closed or self._ahead_conn.broken:
                self._close_ahead()
                self._ahead_conn = self._open()
            return self.registry.ids_for(self._ahead_conn, keys)  # committed before cached
        except (psycopg.Error, OSError, LookupError) as exc:
            log.info("creating new series ahead failed (%s); the committer creates them", exc)
            self._ahead_ok = False
            self._close_ahead()
            return None

    def _prepare(self, sid: np.ndarray, batch: PendingBatch) -> Prepared:
        return prepare_samples(sid, batch.ts, batch.values, rollups=self._backend == "postgres")

    def _series_ids(self, conn: psycopg.Connection, keys: list[SeriesTuple]) -> np.ndarray:
        # New series are committed (harmless to keep) before they are cached and the batch may fail.
        return np.array(self.registry.ids_for(conn, keys), dtype=np.int32)

    def _ensure_partitions(self, conn: psycopg.Connection, ts_us: np.ndarray) -> None:
        days = {int(d) for d in np.unique(ts_us // _US_PER_DAY)}
        unknown = days - self._days
        if not unknown:
            return
        first = _PG_EPOCH_DATE + timedelta(days=min(unknown))
        last = _PG_EPOCH_DATE + timedelta(days=max(unknown))
        conn.execute("SELECT ioc_ensure_partitions(%s, %s)", (first, last))
        conn.commit()
        self._days |= unknown
