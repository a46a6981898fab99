"""API keys (contract section 4): a key is shown once; only its SHA-256 is stored. A key may expire, and
is refused from the first request after its revocation is committed (every request reads the store: there
is no cache to go stale, in this process or another)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

ROLES = ("viewer", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "ioc_"
# A key's last use is written at most this often (a write on every request would serialize a busy key).
LAST_USED_EVERY_S = 60
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's role, and the agency it is bound to, if any."""

    key_id: int
    role: str
    agency: str | None
    name: str

    def can(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def actor(self) -> str:
        return self.name or f"key#{self.key_id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_expiry(value: str, now: datetime) -> datetime:
    """`--expires`: a duration from now (`90m`, `12h`, `30d`) or an RFC 3339 time with an offset."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds <= 0:
            raise ValueError(f"expires: {value!r} is not after now")
        return now + timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expires: {value!r} is neither a duration such as 90m, 12h or 30d nor an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"expires: {value!r} has no time zone offset (add Z or +07:00)")
    if moment <= now:
        raise ValueError(f"expires: {value!r} is in the past")
    return moment


def create_key(
    conn: psycopg.Connection,
    role: str,
    agency: str | None = None,
    name: str = "",
    expires_at: datetime | None = None,
    actor: str = "cli",
) -> str:
    """Store a new key's hash and return the key itself."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if agency is not None and conn.execute("SELECT 1 FROM agencies WHERE id = %s", (agency,)).fetchone() is None:
        raise ValueError(f"unknown agency {agency!r}: load an inventory that lists it first")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO api_keys (key_hash, role, agency, name, expires_at) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (hash_key(key), role, agency, name, expires_at),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, 'key.create', %s, "
            "jsonb_build_object('role', %s::text, 'agency', %s::text, 'name', %s::text, 'expires_at', %s::text))",
            (actor, f"key/{row[0]}", role, agency, name, expires_at.isoformat() if expires_at else None),
        )
    return key


class KeyRefused(Exception):
    """A key that does not admit: `reason` is `unknown`, `revoked` or `expired`; `subject` names it in logs
    (`key/ID` for a stored key, else the first characters of what was sent)."""

    def __init__(self, reason: str, subject: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.subject = subject
        self.detail = detail


def key_hint(key: str) -> str:
    """What a log may show of a key that is not ours: its first 8 printable characters."""
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in key[:8])


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def authenticate(conn: psycopg.Connection, key: str, now: float) -> Principal:
    """The key's principal, or KeyRefused. An expired or revoked key is told so (only its holder can ask:
    the answer needs the whole key); any other gets `unknown API key`."""
    row = conn.execute(
        "SELECT id, role, agency, name, expires_at, revoked_at, last_used_at FROM api_keys WHERE key_hash = %s",
        (hash_key(key),),
    ).fetchone()
    if row is None:
        raise KeyRefused("unknown", key_hint(key), "unknown API key")
    key_id, role, agency, name, expires_at, revoked_at, last_used_at = row
    moment = datetime.fromtimestamp(now, UTC)
    if revoked_at is not None:
        raise KeyRefused("revoked", f"key/{key_id}", f"API key revoked at {_rfc3339(revoked_at)}")
    if expires_at is not None and expires_at <= moment:
        raise KeyRefused("expired", f"key/{key_id}", f"API key expired at {_rfc3339(expires_at)}")
    if last_used_at is None or (moment - last_used_at).total_seconds() >= LAST_USED_EVERY_S:
        # SKIP LOCKED: a concurrent request of the same key that is writing it already is not waited for.
        conn.execute(
            "UPDATE api_keys SET last_used_at = %s WHERE id = "
            "(SELECT id FROM api_keys WHERE id = %s FOR UPDATE SKIP LOCKED)",
            (moment, key_id),
        )
    return Principal(key_id, role, agency, name)


@dataclass(frozen=True)
class KeyInfo:
    """What is known of a key besides the key itself (which is never stored)."""

    id: int
    role: str
    agency: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        """`active`, `expired` or `revoked`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def list_keys(conn: psycopg.Connection, agency: str | None = None) -> list[KeyInfo]:
    rows = conn.execute(
        "SELECT id, role, agency, name, created_at, revoked_at, expires_at, last_used_at FROM api_keys "
        "WHERE %(agency)s::text IS NULL OR agency = %(agency)s ORDER BY id",
        {"agency": agency},
    ).fetchall()
    return [KeyInfo(*r) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: int, actor: str = "cli") -> KeyInfo:
    """Revoke a key at once (it stays listed, revoked); revoking twice keeps the first time."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s "
            "RETURNING id, role, agency, name, created_at, revoked_at, expires_at, last_used_at",
            (key_id,),
        ).fetchone()
        if row is None:
            raise ValueError(f"unknown key {key_id}")
        conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, 'key.revoke', %s, "
            "jsonb_build_object('role', %s::text, 'agency', %s::text, 'name', %s::text))",
            (actor, f"key/{key_id}", row[1], row[2], row[3]),
        )
    return KeyInfo(*row)
