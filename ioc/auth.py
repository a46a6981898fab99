"""API keys (contract section 4): a key is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

ROLES = ("viewer", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "ioc_"


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


def create_key(conn: psycopg.Connection, role: str, agency: str | None = None, name: str = "") -> str:
    """Store a new key's hash and return the key itself."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if agency is not None and conn.execute("SELECT 1 FROM agencies WHERE id = %s", (agency,)).fetchone() is None:
        raise ValueError(f"unknown agency {agency!r}: load an inventory that lists it first")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute(
            "INSERT INTO api_keys (key_hash, role, agency, name) VALUES (%s, %s, %s, %s)",
            (hash_key(key), role, agency, name),
        )
        conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES ('cli', 'key.create', %s, "
            "jsonb_build_object('role', %s::text, 'agency', %s::text))",
            (name, role, agency),
        )
    return key


def authenticate(conn: psycopg.Connection, key: str) -> Principal | None:
    row = conn.execute(
        "SELECT id, role, agency, name FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
        (hash_key(key),),
    ).fetchone()
    return Principal(*row) if row else None


@dataclass(frozen=True)
class KeyInfo:
    """What is known of a key besides the key itself (which is never stored)."""

    id: int
    role: str
    agency: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None


def list_keys(conn: psycopg.Connection, agency: str | None = None) -> list[KeyInfo]:
    rows = conn.execute(
        "SELECT id, role, agency, name, created_at, revoked_at FROM api_keys "
        "WHERE %(agency)s::text IS NULL OR agency = %(agency)s ORDER BY id",
        {"agency": agency},
    ).fetchall()
    return [KeyInfo(*r) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: int, actor: str = "cli") -> KeyInfo:
    """Revoke a key at once (it stays listed, revoked); revoking twice keeps the first time."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s "
            "RETURNING id, role, agency, name, created_at, revoked_at",
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
