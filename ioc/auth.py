"""API keys (contract section 4): a key is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

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
