"""The write steps of one batch, in ONE transaction: samples (binary COPY; on a redelivery, a staging
table and `ON CONFLICT DO NOTHING`), the plain back end's rollups of the rows actually inserted,
entities' first/last seen, status changes, events, dead letters, a NOTIFY on `ioc_committed`, and the
(entity, day) pairs its late rows touched in `uptime_dirty` (ioc.store.uptime_marks)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import orjson
import psycopg
from psycopg.types.json import Jsonb

from ioc.model import Event, Rejection, StatusUpdate
from ioc.store.batch import COMMITTED_CHANNEL, CommittedBatch, WriteResult
from ioc.store.pending import PendingBatch
from ioc.store.pg_binary import PG_EPOCH_S
from ioc.store.prepared import Prepared
from ioc.store.rollups import TABLES, rollup_params, upsert_sql
from ioc.store.uptime_marks import LateMarks

_NOTIFY_MAX_SERIES = 500  # NOTIFY payloads must stay under 8000 bytes

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
        parts += [f"r{i} AS ({upsert_sql(table)})" for i, table in enumerate(TABLES)]
    if entities:
        parts.append(f"seen AS ({_ENTITIES_SQL})")
    head = f"WITH {', '.join(parts)} " if parts else ""
    return head + ("SELECT pg_notify(%s, %s)" if notify else "SELECT 1")


_UPKEEP_SQL = {key: _upkeep_sql(*key) for key in itertools.product((False, True), repeat=3)}

_STATUS_SQL = """
UPDATE entities AS e SET mqtt_status = %s, mqtt_status_at = to_timestamp(%s)
WHERE e.kind = %s AND e.id = %s AND (e.mqtt_status_at IS NULL OR e.mqtt_status_at <= to_timestamp(%s))
"""
_STATUS_CHANGE_SQL = """
INSERT INTO status_changes (kind, entity, ts, status) VALUES (%s, %s, to_timestamp(%s), %s) ON CONFLICT DO NOTHING
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
_EVENT_SQL = """
INSERT INTO events (kind, entity, ts, type, severity, message, attrs)
VALUES (%s, %s, to_timestamp(%s), %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id
"""
_DEAD_LETTER_SQL = "INSERT INTO dead_letters (topic, payload, reason, detail) VALUES (%s, %s, %s, %s)"


@dataclass(frozen=True)
class Stored:
    """The samples a transaction inserted: series ids, microseconds since 2000, values."""

    sid: np.ndarray
    ts_us: np.ndarray
    values: np.ndarray
    duplicates: int  # rows left out: repeated within the batch or already stored
    rollups: list[object] | None  # rollup parameters when computed ahead for exactly these rows

    @classmethod
    def empty(cls) -> Stored:
        return cls(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float64), 0, None)


def write_batch(conn: psycopg.Connection, batch: PendingBatch, prep: Prepared | None, *,
                rollups: bool, staged: bool, marks: LateMarks | None = None) -> WriteResult:  # fmt: skip
    """Everything of `batch` in one transaction; `prep` its samples (None without samples)."""
    with conn.transaction():
        stored = insert_samples(conn, prep, staged) if prep is not None and prep.sid.shape[0] else Stored.empty()
        rollups = rollups and bool(stored.sid.shape[0])
        notify = notify_payloads(stored, batch)
        # One NOTIFY rides on the upkeep statement; several, or one that must say whether events were
        # new, go after the events in a statement of their own.
        inline = notify[0] if len(notify) == 1 and not batch.events else None
        upkeep(conn, stored, batch, rollups, inline)
        if marks is not None:
            marks.mark(conn, stored.sid, stored.ts_us, [*batch.statuses, *batch.retained_statuses])
        statuses = store_retained_statuses(conn, batch.retained_statuses) + store_statuses(conn, batch.statuses)
        events = store_events(conn, batch.events)
        store_dead_letters(conn, batch.rejections)
        if inline is None:
            notify[-1]["events"] = bool(events)
            send_notify(conn, notify)
    ts_s = stored.ts_us / 1e6 + PG_EPOCH_S
    committed = CommittedBatch(stored.sid, ts_s, stored.values, statuses, events, dict(batch.last_seen))
    return WriteResult(committed, int(stored.sid.shape[0]), stored.duplicates, list(batch.rejections))


def insert_samples(conn: psycopg.Connection, prep: Prepared, staged: bool) -> Stored:
    """Not staged: plain COPY, all rows stored or UniqueViolation. Staged: rows already stored are left out."""
    if not staged:
        with conn.cursor() as cur, cur.copy("COPY samples (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(prep.copy_data)
        return Stored(prep.sid, prep.ts_us, prep.values, prep.repeats, prep.rollups)
    inserted = _insert_staged(conn, prep)
    return Stored(prep.sid[inserted], prep.ts_us[inserted], prep.values[inserted],
                  prep.repeats + int((~inserted).sum()), None)  # fmt: skip


def _insert_staged(conn: psycopg.Connection, prep: Prepared) -> np.ndarray:
    """A mask of the rows newly stored (False where the series had that ts)."""
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ioc_stage"
            " (series_id integer, ts timestamptz, value double precision) ON COMMIT DELETE ROWS"
        )
        cur.execute("TRUNCATE ioc_stage")
        with cur.copy("COPY ioc_stage (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(prep.copy_data)
        cur.execute(
            "INSERT INTO samples (series_id, ts, value) SELECT series_id, ts, value FROM ioc_stage"
            " ON CONFLICT (series_id, ts) DO NOTHING"
            " RETURNING series_id, ((extract(epoch FROM ts) - %s) * 1000000)::int8",
            (PG_EPOCH_S,),
        )
        stored = set(cur.fetchall())
    sid, ts_us = prep.sid, prep.ts_us
    return np.fromiter(
        ((int(s), int(t)) in stored for s, t in zip(sid, ts_us, strict=True)), dtype=bool, count=sid.shape[0]
    )


def notify_payloads(stored: Stored, batch: PendingBatch) -> list[dict[str, object]]:
    """The `ioc_committed` payloads of a batch (see ioc.store.batch), "events" still False: one per
    `_NOTIFY_MAX_SERIES` series, each with the time range of its own series, so that a reader in another
    process reads the batch back through the (series_id, ts) index, however many series the batch has
    or however far back its timestamps reach (a backfill)."""
    status = bool(batch.statuses or batch.retained_statuses)
    if not stored.sid.shape[0]:
        return [{"min_ts": None, "max_ts": None, "series": [], "status": status, "events": False}]
    ts_s = stored.ts_us / 1e6 + PG_EPOCH_S
    order = np.argsort(stored.sid, kind="stable")
    sid, ts_s = stored.sid[order], ts_s[order]
    series, starts = np.unique(sid, return_index=True)
    payloads: list[dict[str, object]] = []
    for first in range(0, series.shape[0], _NOTIFY_MAX_SERIES):
        last = min(first + _NOTIFY_MAX_SERIES, series.shape[0])
        lo, hi = starts[first], (starts[last] if last < series.shape[0] else sid.shape[0])
        chunk = ts_s[lo:hi]
        payloads.append({
            "min_ts": float(chunk.min()), "max_ts": float(chunk.max()),
            "series": series[first:last].tolist(), "status": status and not payloads, "events": False,
        })  # fmt: skip
    return payloads


def upkeep(conn: psycopg.Connection, stored: Stored, batch: PendingBatch, rollups: bool,
           notify: dict[str, object] | None) -> None:  # fmt: skip
    """Rollups (when `rollups`), entities' first/last seen and the NOTIFY (unless None): one statement."""
    params: list[object] = []
    if rollups:
        params += stored.rollups or rollup_params(stored.sid, stored.ts_us, stored.values, None)
    if batch.last_seen:
        keys = sorted(batch.last_seen)
        params += [
            [k for k, _ in keys],
            [i for _, i in keys],
            [batch.first_seen[k] for k in keys],
            [batch.last_seen[k] for k in keys],
        ]
    if notify is not None:
        params += [COMMITTED_CHANNEL, orjson.dumps(notify).decode()]
    if params:
        conn.execute(_UPKEEP_SQL[(rollups, bool(batch.last_seen), notify is not None)], params)


def store_retained_statuses(conn: psycopg.Connection, statuses: list[StatusUpdate]) -> list[StatusUpdate]:
    """The retained statuses that differ from the stored ones, stored; returns those."""
    changed = []
    for s in statuses:
        conn.execute(_RETAINED_ENTITY_SQL, (s.kind, s.entity, s.ts, s.ts))
        if conn.execute(_RETAINED_STATUS_SQL, (s.status, s.ts, s.kind, s.entity, s.status)).fetchone() is not None:
            conn.execute(_STATUS_CHANGE_SQL, (s.kind, s.entity, s.ts, s.status))
            changed.append(s)
    return changed


def store_statuses(conn: psycopg.Connection, statuses: list[StatusUpdate]) -> list[StatusUpdate]:
    """Status changes recorded, and the entity's status set unless a later one is stored; returns them all."""
    for s in statuses:
        conn.execute(_STATUS_CHANGE_SQL, (s.kind, s.entity, s.ts, s.status))
        conn.execute(_STATUS_SQL, (s.status, s.ts, s.kind, s.entity, s.ts))
    return list(statuses)


def store_events(conn: psycopg.Connection, events: list[Event]) -> list[Event]:
    """The events not stored before, stored; returns those."""
    new = []
    for e in events:
        row = conn.execute(
            _EVENT_SQL, (e.kind, e.entity, e.ts, e.type, e.severity, e.message, Jsonb(e.attrs))
        ).fetchone()
        if row is not None:
            new.append(e)
    return new


def store_dead_letters(conn: psycopg.Connection, rejections: list[Rejection]) -> None:
    if rejections:
        with conn.cursor() as cur:
            cur.executemany(_DEAD_LETTER_SQL, [(r.topic, r.payload, r.reason, r.detail) for r in rejections])


def send_notify(conn: psycopg.Connection, payloads: list[dict[str, object]]) -> None:
    """Several NOTIFYs in one round trip, delivered in this order."""
    texts = [orjson.dumps(p).decode() for p in payloads]
    conn.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) WITH ORDINALITY AS u(p, n) ORDER BY n",
                 (COMMITTED_CHANNEL, texts))  # fmt: skip
