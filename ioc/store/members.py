"""Ingest members in the store (table `ingest_members`, contract section 11): who holds a session on the
shared subscription, when it was last seen, and the advisory lock that says "this member's session is
in use".

A member is named by its MQTT client id: the persistent session is what a member IS to the broker.
While a member runs it holds a session-level PostgreSQL advisory lock keyed on its client id, on a
connection of its own; whoever drains a member's session (`ioc ingest drain`, or another member that
found it gone) must take the same lock first. A kill -9 or a lost host ends the member's connection and
so frees the lock; a member that starts waits for its lock, so it never connects while its session is
being drained.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from ioc.store.connect import connect

# pg_advisory_lock(int, int): the first key names what the lock is for, the second the member.
LOCK_CLASS = 0x10C1A730
STATES = ("live", "kept", "left", "draining", "drained")


@dataclass(frozen=True, slots=True)
class Member:
    client_id: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    state: str
    connected: bool
    backlog: int
    drained_by: str | None
    drained_messages: int
    ended_at: datetime | None
    seen_s_ago: float
    subscription: str | None = None  # what its session holds: shared, plain (None: not recorded)

    def as_json(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "seen_s_ago": round(self.seen_s_ago, 1),
            "state": self.state,
            "connected": self.connected,
            "backlog": self.backlog,
            "drained_by": self.drained_by,
            "drained_messages": self.drained_messages,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "subscription": self.subscription or "shared",
        }


_SELECT = """
SELECT client_id, host, pid, started_at, last_seen, state, connected, backlog, drained_by, drained_messages, ended_at,
       extract(epoch FROM now() - last_seen)::float8 AS seen_s_ago, subscription
FROM ingest_members
"""


def list_members(conn: psycopg.Connection) -> list[Member]:
    with conn.cursor(row_factory=class_row(Member)) as cur:
        return cur.execute(_SELECT + " ORDER BY client_id").fetchall()


def get_member(conn: psycopg.Connection, client_id: str) -> Member | None:
    with conn.cursor(row_factory=class_row(Member)) as cur:
        return cur.execute(_SELECT + " WHERE client_id = %s", (client_id,)).fetchone()


def stale_members(conn: psycopg.Connection, gone_s: float, exclude: str) -> list[str]:
    """Members whose session may still hold a share (live or kept) and that were not seen for gone_s."""
    rows = conn.execute(
        "SELECT client_id FROM ingest_members WHERE state IN ('live', 'kept') AND client_id <> %s"
        " AND last_seen < now() - make_interval(secs => %s) ORDER BY last_seen",
        (exclude, gone_s),
    ).fetchall()
    return [r[0] for r in rows]


def other_live_members(conn: psycopg.Connection, client_id: str, fresh_s: float) -> int:
    """Members other than this one that run and were connected to the broker within fresh_s."""
    row = conn.execute(
        "SELECT count(*) FROM ingest_members WHERE state = 'live' AND connected AND client_id <> %s"
        " AND last_seen >= now() - make_interval(secs => %s)",
        (client_id, fresh_s),
    ).fetchone()
    return int(row[0]) if row else 0


def other_members_running(conn: psycopg.Connection, client_id: str, fresh_s: float) -> list[str]:
    """Members other than this one that run (live, seen within fresh_s), connected to the broker or not
    yet (one that waits to join counts)."""
    rows = conn.execute(
        "SELECT client_id FROM ingest_members WHERE state = 'live' AND client_id <> %s"
        " AND last_seen >= now() - make_interval(secs => %s) ORDER BY client_id",
        (client_id, fresh_s),
    ).fetchall()
    return [r[0] for r in rows]


def open_sessions(conn: psycopg.Connection, client_id: str) -> list[Member]:
    """The other members whose session may still exist at the broker (live, kept or being drained)."""
    with conn.cursor(row_factory=class_row(Member)) as cur:
        return cur.execute(
            _SELECT + " WHERE state IN ('live', 'kept', 'draining') AND client_id <> %s ORDER BY client_id",
            (client_id,),
        ).fetchall()


def set_subscription(conn: psycopg.Connection, client_id: str, subscription: str) -> None:
    assert subscription in ("shared", "plain")
    conn.execute("UPDATE ingest_members SET subscription = %s WHERE client_id = %s", (subscription, client_id))


def set_state(conn: psycopg.Connection, client_id: str, state: str, **fields: object) -> None:
    assert state in STATES
    sets = ["state = %(state)s"]
    if state in ("left", "drained", "kept"):
        sets.append("ended_at = now()")
    if state != "live":
        sets.append("connected = false")
    if state in ("left", "drained"):
        sets.append("backlog = 0")
    for name in fields:
        assert name in ("drained_by", "drained_messages")
        sets.append(f"{name} = %({name})s")
    conn.execute(
        f"UPDATE ingest_members SET {', '.join(sets)} WHERE client_id = %(client_id)s",
        {"state": state, "client_id": client_id, **fields},
    )


def insert_absent(conn: psycopg.Connection, client_id: str) -> None:
    """A row for a client id that never registered (a session left by a version without the registry)."""
    conn.execute(
        "INSERT INTO ingest_members (client_id, host, pid, started_at, last_seen, state)"
        " VALUES (%s, '', 0, now(), now(), 'kept') ON CONFLICT (client_id) DO NOTHING",
        (client_id,),
    )


class MemberLock:
    """The advisory lock on one member's session, on a connection of its own (autocommit)."""

    def __init__(self, database_url: str, client_id: str, *, application_name: str = "ioc-ingest-member"):
        self.client_id = client_id
        self._dsn = database_url
        self._app = application_name
        self.conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.close()
            self.conn = connect(self._dsn, autocommit=True, application_name=self._app)
        return self.conn

    def try_acquire(self) -> bool:
        """Take the lock if free (True), or find it held by another session (False)."""
        row = (
            self._connection()
            .execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, self.client_id))
            .fetchone()
        )
        return bool(row and row[0])

    def held(self) -> bool:
        """Whether this connection still holds it (False after the connection was lost)."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            return False
        row = self.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " AND classid = %s::oid AND objid = hashtext(%s)::oid AND granted",
            (LOCK_CLASS, self.client_id),
        ).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        """Closing the connection frees the lock."""
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None


def register(conn: psycopg.Connection, client_id: str, pid: int) -> None:
    conn.execute(
        "INSERT INTO ingest_members (client_id, host, pid, started_at, last_seen, state)"
        " VALUES (%s, %s, %s, now(), now(), 'live')"
        " ON CONFLICT (client_id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,"
        " started_at = now(), last_seen = now(), state = 'live', connected = false, backlog = 0, drained_by = NULL,"
        " drained_messages = 0, ended_at = NULL",
        (client_id, socket.gethostname(), pid),
    )


def heartbeat(conn: psycopg.Connection, client_id: str, backlog: int, connected: bool = True) -> None:
    conn.execute(
        "UPDATE ingest_members SET last_seen = now(), backlog = %s, connected = %s, state = 'live'"
        " WHERE client_id = %s",
        (max(backlog, 0), connected, client_id),
    )
