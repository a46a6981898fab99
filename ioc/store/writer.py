"""The batch writer: one batch, one transaction, samples by binary COPY, and everything the batch implies.

Per batch: series ids resolved (new series created in a short transaction of their own, so a failed
batch never leaves ids in the cache that the store does not hold), plain-PostgreSQL partitions made
sure of, then in ONE transaction: samples (binary COPY; on a duplicate, a staging table and
`ON CONFLICT DO NOTHING`), the plain back end's 1 min / 1 h rollups from the rows actually inserted,
entities' first/last seen, status changes, events, dead letters, and a NOTIFY on `ioc_committed`.
Temporary errors (by SQLSTATE) are raised for the caller to retry or spool; on a permanent error the
batch is split until the rows the store refuses are isolated and dead-lettered on their own.
"""

from __future__ import annotations

import itertools
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from ioc.model import Event, Labels, Rejection, StatusUpdate
from ioc.store.batch import COMMITTED_CHANNEL, CommittedBatch
from ioc.store.errors import is_temporary
from ioc.store.series import SeriesKey, SeriesRegistry

log = logging.getLogger(__name__)

PG_EPOCH_S = 946_684_800  # 2000-01-01T00:00:00Z, the origin of PostgreSQL's binary timestamps
_PG_EPOCH_DATE = date(2000, 1, 1)
_US_PER_DAY = 86_400_000_000
_MINUTE_US = 60_000_000
_HOUR_US = 3_600_000_000
_NOTIFY_MAX_SERIES = 500  # NOTIFY payloads must stay under 8000 bytes

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("sid", ">i4"), ("l2", ">i4"), ("ts", ">i8"), ("l3", ">i4"), ("v", ">f8")]
)

SeriesTuple = tuple[str, str, str, Labels]  # kind, entity, metric, labels


class PgArray:
    """A one-dimensional numpy array sent as a binary PostgreSQL array, built by numpy in one go
    (psycopg's list dumpers convert element by element in Python: they were the writer's main cost)."""

    __slots__ = ("data",)
    elem_oid = 0
    dtype: np.dtype[Any] = np.dtype(">f8")

    def __init__(self, data: np.ndarray):
        self.data = data


class Int4Array(PgArray):
    elem_oid, dtype = 23, np.dtype(">i4")


class Int8Array(PgArray):
    elem_oid, dtype = 20, np.dtype(">i8")


class Float8Array(PgArray):
    elem_oid, dtype = 701, np.dtype(">f8")


def pg_array_bytes(array: PgArray) -> bytes:
    """PostgreSQL's binary array format: ndim, has-null flag, element oid, (length, lower bound) per
    dimension, then per element an int32 length and the big-endian value."""
    n = array.data.shape[0]
    if n == 0:
        return struct.pack(">iii", 0, 0, array.elem_oid)
    rows = np.empty(n, np.dtype([("len", ">i4"), ("value", array.dtype)]))
    rows["len"] = array.dtype.itemsize
    rows["value"] = array.data
    return struct.pack(">iiiii", 1, 0, array.elem_oid, n, 1) + rows.tobytes()


class _PgArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: PgArray) -> bytes:
        return pg_array_bytes(obj)


def _array_dumper(array_oid: int) -> type[Dumper]:
    return type(f"PgArrayDumper{array_oid}", (_PgArrayDumper,), {"oid": array_oid})


def register_pg_arrays(conn: psycopg.Connection) -> None:
    for cls, array_oid in ((Int4Array, 1007), (Int8Array, 1016), (Float8Array, 1022)):
        conn.adapters.register_dumper(cls, _array_dumper(array_oid))


@dataclass(frozen=True)
class Prepared:
    """What a batch's samples become before they are written; computed from the batch alone (and the
    series id cache), so it can be done in another thread while the previous batch is being written."""

    sid: np.ndarray
    ts_us: np.ndarray
    values: np.ndarray
    repeats: int  # rows repeating a (series, ts) of the same batch, dropped
    order: np.ndarray | None  # (series, ts) sort order of the rows
    copy_data: bytes
    rollups: list[object] | None  # 1 min and 1 h rollup parameters from all rows (plain back end)


@dataclass
class PendingBatch:
    """Everything decoded from a run of messages, waiting to be written in one transaction."""

    keys: list[SeriesTuple] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    # Retained statuses (sent by the broker on subscribe): stored only when they differ from the stored one.
    retained_statuses: list[StatusUpdate] = field(default_factory=list)
    last_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    # The samples as arrays, COPY data and rollups, computed ahead by `BatchWriter.prepare` (optional).
    prepared: Prepared | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.values)

    def is_empty(self) -> bool:
        return not (
            self.values or self.statuses or self.events or self.rejections or self.last_seen or self.retained_statuses
        )

    def seen(self, kind: str, entity: str, first: float, last: float) -> None:
        key = (kind, entity)
        old = self.last_seen.get(key)
        if old is None:
            self.first_seen[key] = first
            self.last_seen[key] = last
        else:
            if first < self.first_seen[key]:
                self.first_seen[key] = first
            if last > old:
                self.last_seen[key] = last

    def to_bytes(self) -> bytes:
        """A self-contained encoding, for the local spool."""
        return orjson.dumps(
            {
                "keys": [[k, e, m, [list(p) for p in labels]] for k, e, m, labels in self.keys],
                "ts": self.ts,
                "values": self.values,
                "statuses": [[s.kind, s.entity, s.ts, s.status] for s in self.statuses],
                "events": [[e.kind, e.entity, e.ts, e.type, e.severity, e.message, e.attrs] for e in self.events],
                "rejections": [[r.topic, r.payload.hex(), r.reason, r.detail] for r in self.rejections],
                "seen": [[k, e, self.first_seen[(k, e)], t] for (k, e), t in self.last_seen.items()],
                "retained": [[s.kind, s.entity, s.ts, s.status] for s in self.retained_statuses],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingBatch:
        doc = orjson.loads(data)
        batch = cls(
            keys=[(k, e, m, tuple((a, b) for a, b in labels)) for k, e, m, labels in doc["keys"]],
            ts=doc["ts"],
            values=doc["values"],
            statuses=[StatusUpdate(*s) for s in doc["statuses"]],
            events=[Event(*e) for e in doc["events"]],
            rejections=[Rejection(t, bytes.fromhex(p), r, d) for t, p, r, d in doc["rejections"]],
            retained_statuses=[StatusUpdate(*s) for s in doc.get("retained", [])],
        )
        for k, e, first, last in doc["seen"]:
            batch.seen(k, e, first, last)
        return batch


@dataclass
class WriteResult:
    committed: CommittedBatch
    stored: int
    duplicates: int
    dead_letters: list[Rejection]


def _empty_committed() -> CommittedBatch:
    return CommittedBatch(np.empty(0, np.int32), np.empty(0, np.float64), np.empty(0, np.float64))


def merge_committed(parts: list[CommittedBatch]) -> CommittedBatch:
    if not parts:
        return _empty_committed()
    if len(parts) == 1:
        return parts[0]
    seen: dict[tuple[str, str], float] = {}
    for part in parts:
        for key, ts in part.entities_seen.items():
            seen[key] = max(ts, seen.get(key, ts))
    return CommittedBatch(
        np.concatenate([p.series_ids for p in parts]),
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.values for p in parts]),
        [s for p in parts for s in p.statuses],
        [e for p in parts for e in p.events],
        seen,
    )


def copy_payload(series_ids: np.ndarray, ts_us: np.ndarray, values: np.ndarray) -> bytes:
    """PostgreSQL binary COPY data for rows of (integer, timestamptz, double precision)."""
    rows = np.empty(series_ids.shape[0], _COPY_ROW)
    rows["n"] = 3
    rows["l1"] = 4
    rows["sid"] = series_ids
    rows["l2"] = 8
    rows["ts"] = ts_us
    rows["l3"] = 8
    rows["v"] = values
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def rollup(
    series_ids: np.ndarray, ts_us: np.ndarray, values: np.ndarray, width_us: int, order: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Group rows by (series, bucket): ids, bucket starts (us since 2000), count, sum, min, max.

    `order`, when given, sorts the rows by (series, ts), hence also by (series, bucket) for any width."""
    buckets = ts_us // width_us * width_us
    if order is None:
        order = np.lexsort((buckets, series_ids))
    s, b, v = series_ids[order], buckets[order], values[order]
    n = s.shape[0]
    change = np.empty(n, dtype=bool)
    change[:1] = True
    np.not_equal(s[1:], s[:-1], out=change[1:])
    change[1:] |= b[1:] != b[:-1]
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, n))
    return (
        s[starts],
        b[starts],
        counts,
        np.add.reduceat(v, starts),
        np.minimum.reduceat(v, starts),
        np.maximum.reduceat(v, starts),
    )


_ROLLUP_SQL = """
INSERT INTO {table} AS r (series_id, bucket, cnt, total, min_value, max_value)
SELECT s, timestamptz '2000-01-01 00:00:00+00' + b * interval '1 microsecond', c, t, lo, hi
FROM unnest(%b::int4[], %b::int8[], %b::int8[], %b::float8[], %b::float8[], %b::float8[]) AS u(s, b, c, t, lo, hi)
ON CONFLICT (series_id, bucket) DO UPDATE SET
    cnt = r.cnt + excluded.cnt,
    total = r.total + excluded.total,
    min_value = least(r.min_value, excluded.min_value),
    max_value = greatest(r.max_value, excluded.max_value)
"""

_ENTITIES_SQL = """
INSERT INTO entities AS e (kind, id, first_seen, last_seen)
SELECT k, i, to_timestamp(f), to_timestamp(l)
FROM unnest(%s::text[], %s::text[], %s::float8[], %s::float8[]) AS u(k, i, f, l)
ORDER BY k, i
ON CONFLICT (kind, id) DO UPDATE SET
    first_seen = least(e.first_seen, excluded.first_seen),
    last_seen = greatest(e.last_seen, excluded.last_seen)
"""


def _upkeep_sql(rollups: bool, entities: bool, notify: bool) -> str:
    """Rollups, entities and the NOTIFY as ONE statement (data-modifying CTEs): one round trip a batch."""
    parts = []
    if rollups:
        parts.append(f"m1 AS ({_ROLLUP_SQL.format(table='samples_1m')})")
        parts.append(f"h1 AS ({_ROLLUP_SQL.format(table='samples_1h')})")
    if entities:
        parts.append(f"seen AS ({_ENTITIES_SQL})")
    head = f"WITH {', '.join(parts)} " if parts else ""
    return head + ("SELECT pg_notify(%s, %s)" if notify else "SELECT 1")


_UPKEEP_SQL = {key: _upkeep_sql(*key) for key in itertools.product((False, True), repeat=3)}

_STATUS_SQL = """
UPDATE entities AS e SET mqtt_status = %s, mqtt_status_at = to_timestamp(%s)
WHERE e.kind = %s AND e.id = %s AND (e.mqtt_status_at IS NULL OR e.mqtt_status_at <= to_timestamp(%s))
"""

# A retained status: the entity is created if unknown; the status is stored (and a status change
# recorded) only when it differs from the stored one. The row lock of the UPDATE makes this hold across
# ingest processes receiving the same retained message: the later one re-reads the row and matches none.
_RETAINED_ENTITY_SQL = """
INSERT INTO entities (kind, id, first_seen, last_seen) VALUES (%s, %s, to_timestamp(%s), to_timestamp(%s))
ON CONFLICT (kind, id) DO NOTHING
"""
_RETAINED_STATUS_SQL = """
UPDATE entities SET mqtt_status = %s, mqtt_status_at = to_timestamp(%s)
WHERE kind = %s AND id = %s AND mqtt_status IS DISTINCT FROM %s
RETURNING 1
"""


class BatchWriter:
    """Writes PendingBatches; raises temporary database errors, isolates and dead-letters permanent ones."""

    def __init__(
        self,
        dsn: str,
        registry: SeriesRegistry | None = None,
        *,
        connect: Callable[[], psycopg.Connection] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._dsn = dsn
        self._connect = connect or self._default_connect
        self.registry = registry or SeriesRegistry()
        self._clock = clock
        self._conn: psycopg.Connection | None = None
        self._ids: dict[SeriesTuple, int] = {}
        self._days: set[int] = set()
        self._backend: str | None = None

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
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            conn = self._connect()
            conn.autocommit = False
            register_pg_arrays(conn)
            if self._backend is None:
                row = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()
                conn.commit()
                self._backend = row[0] if row else "postgres"
            self._conn = conn
        return self._conn

    def write(self, batch: PendingBatch) -> WriteResult:
        """Store one batch; temporary errors propagate (the connection is dropped), nothing half-written."""
        conn = self._connection()
        try:
            return self._write_deduplicated(conn, batch)
        except Exception as exc:
            self._after_error(conn)
            if self._is_temporary(conn, exc):
                raise
            log.warning("batch refused by the store (%s); isolating the rows it refuses", exc)
            return self._isolate(batch)

    def _is_temporary(self, conn: psycopg.Connection, exc: BaseException) -> bool:
        return is_temporary(exc) or conn.closed or conn.broken

    def _after_error(self, conn: psycopg.Connection) -> None:
        try:
            if not conn.closed:
                conn.rollback()
        except psycopg.Error:
            pass
        if conn.closed or conn.broken:
            self.close()

    # -- the batch, in one transaction ---------------------------------------------------------

    def _write_deduplicated(self, conn: psycopg.Connection, batch: PendingBatch) -> WriteResult:
        """The fast path (plain binary COPY) first; when a sample is already stored (a redelivery), the
        transaction is rolled back and the batch written again through the staging table. The COPY is
        the transaction's first statement, so this costs no savepoint (no subtransaction) per batch."""
        try:
            return self._write(conn, batch, staged=False)
        except pg_errors.UniqueViolation:
            pass
        return self._write(conn, batch, staged=True)

    def _series_ids(self, conn: psycopg.Connection, keys: list[SeriesTuple]) -> np.ndarray:
        ids = self._ids
        out = list(map(ids.get, keys))
        if None in out:
            missing = list({k: None for k, i in zip(keys, out, strict=True) if i is None})
            resolved = self.registry.resolve(conn, [SeriesKey(*k) for k in missing])
            conn.commit()  # series are harmless to keep: commit them before the batch may fail
            for key in missing:
                ids[key] = resolved[SeriesKey(*key)]
            out = list(map(ids.__getitem__, keys))
        return np.array(out, dtype=np.int32)

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

    def prepare(self, batch: PendingBatch) -> None:
        """Compute the batch's arrays, COPY data and rollups ahead (any thread; only one at a time), when
        every series id is cached; `write` then only talks to the store."""
        if not len(batch) or batch.prepared is not None:
            return
        ids = list(map(self._ids.get, batch.keys))
        if None not in ids:
            batch.prepared = self._prepare(np.array(ids, dtype=np.int32), batch)

    def _prepare(self, sid: np.ndarray, batch: PendingBatch) -> Prepared:
        ts_us = np.rint((np.asarray(batch.ts, dtype=np.float64) - PG_EPOCH_S) * 1e6).astype(np.int64)
        values = np.asarray(batch.values, dtype=np.float64)
        sid, ts_us, values, repeats, order = _drop_repeats(sid, ts_us, values)
        rollups = None
        if self._backend == "postgres":
            rollups = _rollup_params(sid, ts_us, values, order)
        return Prepared(sid, ts_us, values, repeats, order, copy_payload(sid, ts_us, values), rollups)

    def _write(self, conn: psycopg.Connection, batch: PendingBatch, *, staged: bool = True) -> WriteResult:
        n = len(batch)
        duplicates = 0
        rollup_params = None
        if n:
            prep = batch.prepared
            if prep is None:
                prep = self._prepare(self._series_ids(conn, batch.keys), batch)
            sid, ts_us, values, duplicates = prep.sid, prep.ts_us, prep.values, prep.repeats
            rollup_params = prep.rollups
            if self._backend == "postgres":
                self._ensure_partitions(conn, ts_us)
        else:
            sid, ts_us, values = np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float64)
        with conn.transaction():
            if sid.shape[0]:
                assert prep is not None  # a batch with samples was prepared above
                inserted = self._insert_samples(conn, sid, ts_us, values, staged, prep.copy_data)
                if inserted is not None:  # some rows were stored already: rollups of the others only
                    duplicates += int((~inserted).sum())
                    sid, ts_us, values, rollup_params = sid[inserted], ts_us[inserted], values[inserted], None
            # Rollups, entities' first/last seen and (without events) the NOTIFY: one statement.
            params: list[object] = []
            rollups = self._backend == "postgres" and bool(sid.shape[0])
            if rollups:
                params += rollup_params or _rollup_params(sid, ts_us, values, None)
            if batch.last_seen:
                keys = sorted(batch.last_seen)
                params += [
                    [k for k, _ in keys],
                    [i for _, i in keys],
                    [batch.first_seen[k] for k in keys],
                    [batch.last_seen[k] for k in keys],
                ]
            ts_s = ts_us / 1e6 + PG_EPOCH_S
            series = np.unique(sid)
            notify: dict[str, object] = {
                "min_ts": float(ts_s.min()) if ts_s.shape[0] else None,
                "max_ts": float(ts_s.max()) if ts_s.shape[0] else None,
                "series": series.tolist() if series.shape[0] <= _NOTIFY_MAX_SERIES else None,
                "status": bool(batch.statuses or batch.retained_statuses),
                "events": False,
            }
            notify_now = not batch.events  # else after the events, whose insert decides notify["events"]
            if notify_now:
                params += [COMMITTED_CHANNEL, orjson.dumps(notify).decode()]
            if params:
                conn.execute(_UPKEEP_SQL[(rollups, bool(batch.last_seen), notify_now)], params)
            statuses = []
            for status in batch.retained_statuses:
                conn.execute(_RETAINED_ENTITY_SQL, (status.kind, status.entity, status.ts, status.ts))
                changed = conn.execute(
                    _RETAINED_STATUS_SQL, (status.status, status.ts, status.kind, status.entity, status.status)
                ).fetchone()
                if changed is not None:
                    conn.execute(
                        "INSERT INTO status_changes (kind, entity, ts, status) VALUES (%s, %s, to_timestamp(%s), %s)"
                        " ON CONFLICT DO NOTHING",
                        (status.kind, status.entity, status.ts, status.status),
                    )
                    statuses.append(status)
            statuses += batch.statuses
            for status in batch.statuses:
                conn.execute(
                    "INSERT INTO status_changes (kind, entity, ts, status) VALUES (%s, %s, to_timestamp(%s), %s)"
                    " ON CONFLICT DO NOTHING",
                    (status.kind, status.entity, status.ts, status.status),
                )
                conn.execute(_STATUS_SQL, (status.status, status.ts, status.kind, status.entity, status.ts))
            events = []
            for event in batch.events:
                row = conn.execute(
                    "INSERT INTO events (kind, entity, ts, type, severity, message, attrs)"
                    " VALUES (%s, %s, to_timestamp(%s), %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                    (event.kind, event.entity, event.ts, event.type, event.severity, event.message, Jsonb(event.attrs)),
                ).fetchone()
                if row is not None:
                    events.append(event)
            if batch.rejections:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO dead_letters (topic, payload, reason, detail) VALUES (%s, %s, %s, %s)",
                        [(r.topic, r.payload, r.reason, r.detail) for r in batch.rejections],
                    )
            if batch.events:
                notify["events"] = bool(events)
                conn.execute("SELECT pg_notify(%s, %s)", (COMMITTED_CHANNEL, orjson.dumps(notify).decode()))
        committed = CommittedBatch(sid, ts_s, values, statuses, events, dict(batch.last_seen))
        return WriteResult(committed, int(sid.shape[0]), duplicates, list(batch.rejections))

    def _insert_samples(
        self,
        conn: psycopg.Connection,
        sid: np.ndarray,
        ts_us: np.ndarray,
        values: np.ndarray,
        staged: bool,
        data: bytes,
    ) -> np.ndarray | None:
        """Insert rows (`data`: their binary COPY). Not staged: plain COPY, None (all stored) or
        UniqueViolation. Staged: a mask of the rows newly stored (False where the series had that ts)."""
        if not staged:
            with conn.cursor() as cur, cur.copy("COPY samples (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as cp:
                cp.write(data)
            return None
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS ioc_stage"
                " (series_id integer, ts timestamptz, value double precision) ON COMMIT DELETE ROWS"
            )
            cur.execute("TRUNCATE ioc_stage")
            with cur.copy("COPY ioc_stage (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data)
            cur.execute(
                "INSERT INTO samples (series_id, ts, value) SELECT series_id, ts, value FROM ioc_stage"
                " ON CONFLICT (series_id, ts) DO NOTHING"
                " RETURNING series_id, ((extract(epoch FROM ts) - %s) * 1000000)::int8",
                (PG_EPOCH_S,),
            )
            stored = set(cur.fetchall())
        return np.fromiter(
            ((int(s), int(t)) in stored for s, t in zip(sid, ts_us, strict=True)), dtype=bool, count=sid.shape[0]
        )

    # -- permanent errors: split until the refused rows stand alone ---------------------------

    def _isolate(self, batch: PendingBatch) -> WriteResult:
        parts: list[PendingBatch] = []
        if len(batch):
            parts.append(replace(batch, statuses=[], events=[], rejections=[], retained_statuses=[]))
        parts += [PendingBatch(statuses=[s]) for s in batch.statuses]
        parts += [PendingBatch(retained_statuses=[s]) for s in batch.retained_statuses]
        parts += [PendingBatch(events=[e]) for e in batch.events]
        parts += [PendingBatch(rejections=[r]) for r in batch.rejections]
        if not len(batch) and batch.last_seen:
            parts.append(PendingBatch(first_seen=batch.first_seen, last_seen=batch.last_seen))
        results = [self._write_or_split(part) for part in parts]
        return WriteResult(
            merge_committed([r.committed for r in results]),
            sum(r.stored for r in results),
            sum(r.duplicates for r in results),
            [d for r in results for d in r.dead_letters],
        )

    def _write_or_split(self, part: PendingBatch) -> WriteResult:
        conn = self._connection()
        try:
            return self._write_deduplicated(conn, part)
        except Exception as exc:
            self._after_error(conn)
            if self._is_temporary(conn, exc):
                raise
            if len(part) > 1:
                half = len(part) // 2
                first = _slice(part, 0, half)
                second = _slice(part, half, len(part))
                a, b = self._write_or_split(first), self._write_or_split(second)
                return WriteResult(
                    merge_committed([a.committed, b.committed]),
                    a.stored + b.stored,
                    a.duplicates + b.duplicates,
                    a.dead_letters + b.dead_letters,
                )
            return self._dead_letter_refused(part, exc)

    def _dead_letter_refused(self, part: PendingBatch, exc: BaseException) -> WriteResult:
        detail = f"the store refused it: {type(exc).__name__}: {str(exc).strip()[:500]}"
        if part.rejections:
            rejection = part.rejections[0]
            log.error("dead letter %r could not be stored either: %s", rejection.reason, exc)
            return WriteResult(_empty_committed(), 0, 0, [])
        if len(part):
            kind, entity, metric, labels = part.keys[0]
            item = {"kind": kind, "entity": entity, "metric": metric, "labels": dict(labels),
                    "ts": part.ts[0], "value": part.values[0]}  # fmt: skip
            topic = f"{kind}/{entity}"
        elif part.events:
            e = part.events[0]
            item = {"kind": e.kind, "entity": e.entity, "ts": e.ts, "type": e.type, "severity": e.severity,
                    "message": e.message}  # fmt: skip
            topic = f"{e.kind}/{e.entity}"
        elif part.statuses or part.retained_statuses:
            s = (part.statuses or part.retained_statuses)[0]
            item = {"kind": s.kind, "entity": s.entity, "ts": s.ts, "status": s.status}
            topic = f"{s.kind}/{s.entity}"
        else:
            log.error("entity upkeep refused by the store: %s", exc)
            return WriteResult(_empty_committed(), 0, 0, [])
        payload = orjson.dumps(item, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
        return self._write_or_split(PendingBatch(rejections=[Rejection(topic, payload, "store_rejected", detail)]))


def _slice(batch: PendingBatch, start: int, stop: int) -> PendingBatch:
    part = PendingBatch(keys=batch.keys[start:stop], ts=batch.ts[start:stop], values=batch.values[start:stop])
    for kind, entity, _, _ in part.keys:
        key = (kind, entity)
        part.first_seen[key] = batch.first_seen.get(key, batch.last_seen.get(key, 0.0))
        part.last_seen[key] = batch.last_seen.get(key, 0.0)
    return part


def _rollup_params(sid: np.ndarray, ts_us: np.ndarray, values: np.ndarray, order: np.ndarray | None) -> list:
    """The 1 min and 1 h rollups' query parameters, as binary arrays."""
    if order is None:
        order = np.lexsort((ts_us, sid))
    params: list[object] = []
    for width in (_MINUTE_US, _HOUR_US):
        s, b, c, t, lo, hi = rollup(sid, ts_us, values, width, order)
        params += [Int4Array(s), Int8Array(b), Int8Array(c), Float8Array(t), Float8Array(lo), Float8Array(hi)]
    return params


def _drop_repeats(
    sid: np.ndarray, ts_us: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Keep the first of rows repeating a (series, ts) within the batch, in arrival order. Also returns
    the (series, ts) sort order of the rows when they are kept as they are (None when rows dropped)."""
    n = sid.shape[0]
    order = np.lexsort((ts_us, sid))
    if n < 2:
        return sid, ts_us, values, 0, order
    s, t = sid[order], ts_us[order]
    repeat = (s[1:] == s[:-1]) & (t[1:] == t[:-1])
    if not repeat.any():
        return sid, ts_us, values, 0, order
    keep = np.ones(n, dtype=bool)
    keep[order[1:][repeat]] = False
    return sid[keep], ts_us[keep], values[keep], int(n - keep.sum()), None
