"""Rate limits on failed authentication (contract sections 4 and 10), kept in the store so that every API
process counts the same failures.

A failure is one row of `auth_failures`: its kind (`login` or `key`), the client's address, the subject
tried (a user name, or a key's id or first characters) and the reason. A client address with
`IOC_AUTH_FAIL_LIMIT` failures of one kind within `IOC_AUTH_FAIL_WINDOW_S` is refused (429) before its
credential is even looked at, until enough of them are older than the window; a user name with
`IOC_AUTH_USER_FAIL_LIMIT` failed logins within the window likewise, except to a browser that holds the
device cookie of an earlier login of that user (so an attacker spread over many addresses cannot lock the
real user out). Every failure is logged as one `auth_failure key=value ...` line and audited; reaching a
limit is audited once more as `auth.blocked`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from ioc.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("login", "key")


@dataclass(frozen=True)
class Limits:
    per_source: int
    per_user: int
    window_s: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.auth_fail_limit, settings.auth_user_fail_limit, settings.auth_fail_window_s)

    @classmethod
    def defaults(cls) -> Limits:
        field = Settings.model_fields
        return cls(field["auth_fail_limit"].default, field["auth_user_fail_limit"].default,
                   field["auth_fail_window_s"].default)  # fmt: skip


@dataclass(frozen=True)
class Blocked:
    """A refusal: by client address (`source`) or by user name (`user`), for `retry_after_s` more seconds."""

    scope: str
    retry_after_s: int


def _moment(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def _blocked_until(
    conn: psycopg.Connection, kind: str, column: str, value: str, limit: int, now: float, window_s: float
) -> datetime | None:
    """With at least `limit` failures in the window, the time the limit-th newest leaves it (the block's end)."""
    since = _moment(now) - timedelta(seconds=window_s)
    row = conn.execute(
        f"SELECT at FROM auth_failures WHERE kind = %s AND {column} = %s AND at > %s "  # column: ours, not input
        "ORDER BY at DESC OFFSET %s LIMIT 1",
        (kind, value, since, limit - 1),
    ).fetchone()
    return row[0] + timedelta(seconds=window_s) if row else None


def check(
    conn: psycopg.Connection,
    kind: str,
    source: str,
    now: float,
    limits: Limits,
    user: str | None = None,
    trusted_device: bool = False,
) -> Blocked | None:
    """Whether this attempt is refused before its credential is looked at."""
    checks = [("source", "source", source, limits.per_source)]
    if user is not None and not trusted_device:
        checks.append(("user", "subject", user, limits.per_user))
    for scope, column, value, limit in checks:
        until = _blocked_until(conn, kind, column, value, limit, now, limits.window_s)
        if until is not None:
            return Blocked(scope, max(1, math.ceil((until - _moment(now)).total_seconds())))
    return None


def user_blocked_until(conn: psycopg.Connection, user: str, now: float, limits: Limits) -> datetime | None:
    """Until when logins as this user are refused to browsers it has not logged in from (for `ioc users list`)."""
    return _blocked_until(conn, "login", "subject", user, limits.per_user, now, limits.window_s)


def serialize(conn: psycopg.Connection, kind: str, source: str, user: str | None = None) -> None:
    """Take the transaction-long locks of this address (and user name), so that concurrent attempts of one
    attacker are counted one after the other and cannot all pass the check before any failure is written.
    The user's lock comes first, always, so two attempts never wait for each other's."""
    if user is not None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"auth:{kind}:user:{user}",))
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"auth:{kind}:source:{source}",))


def record_failure(
    conn: psycopg.Connection,
    kind: str,
    source: str,
    subject: str,
    reason: str,
    now: float,
    limits: Limits,
    actor: str,
    target: str,
    count_user: bool = False,
) -> Blocked | None:
    """Write one failure (row, log line, audit record); returns the block it starts, if it reaches a limit
    (that of the user name too with `count_user`: a login not from the name's own browser)."""
    moment = _moment(now)
    conn.execute("DELETE FROM auth_failures WHERE at <= %s", (moment - timedelta(seconds=limits.window_s),))
    conn.execute(
        "INSERT INTO auth_failures (at, kind, source, subject, reason) VALUES (%s, %s, %s, %s, %s)",
        (moment, kind, source, subject, reason),
    )
    detail: dict[str, object] = {"source": source, "reason": reason, "subject": subject}
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
        (actor, f"auth.{kind}_failed", target, Jsonb(detail)),
    )
    log.warning("auth_failure kind=%s source=%s subject=%r reason=%s", kind, source, subject, reason)
    blocked = check(conn, kind, source, now, limits, subject if count_user else None)
    if blocked is not None:
        conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, 'auth.blocked', %s, %s)",
            (actor, target, Jsonb({**detail, "scope": blocked.scope, "retry_after_s": blocked.retry_after_s})),
        )
        log.warning(
            "auth_blocked kind=%s scope=%s source=%s subject=%r retry_after_s=%d",
            kind, blocked.scope, source, subject, blocked.retry_after_s,
        )  # fmt: skip
    return blocked


def log_refusal(kind: str, source: str, subject: str, blocked: Blocked) -> None:
    """An attempt refused while blocked: logged (not stored, so a flood of them writes nothing)."""
    log.warning(
        "auth_refused kind=%s scope=%s source=%s subject=%r retry_after_s=%d",
        kind, blocked.scope, source, subject, blocked.retry_after_s,
    )  # fmt: skip
