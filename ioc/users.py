"""Console users (contract section 10): argon2 password hashes, roles and agency binding as for API keys,
and lock-out after repeated failed logins."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.types.json import Jsonb

from ioc.auth import ROLES, Principal

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
LOCKOUT_FAILURES = 5
LOCKOUT_S = 15 * 60

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so an unknown name takes as long as a wrong password.
    Made on first use, not at import: a hash takes argon2's 64 MiB and tens of milliseconds."""
    return _hasher.hash("not a password of anyone")


class UserError(ValueError):
    """A user that cannot be created or changed; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    agency: str | None
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    last_login_at: datetime | None

    @property
    def principal(self) -> Principal:
        """The same role and agency checks as an API key's; key_id 0 marks a console user."""
        return Principal(key_id=0, role=self.role, agency=self.agency, name=self.name)


_COLUMNS = "id, name, role, agency, created_at, disabled_at, locked_until, last_login_at"


def _audit(conn: psycopg.Connection, actor: str, action: str, target: str, detail: dict[str, object]) -> None:
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
        (actor, action, target, Jsonb(detail)),
    )


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password may have at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise UserError("the password may not hold a NUL character")
    return password


def create_user(
    conn: psycopg.Connection, name: str, password: str, role: str, agency: str | None = None, actor: str = "cli"
) -> User:
    name = name.strip()
    if not NAME_RE.match(name):
        raise UserError("the user name needs 1 to 100 characters and no control characters")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    check_password(password)
    if agency is not None and conn.execute("SELECT 1 FROM agencies WHERE id = %s", (agency,)).fetchone() is None:
        raise UserError(f"unknown agency {agency!r}: load an inventory that lists it first")
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO users (name, password_hash, role, agency) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}",
            (name, _hasher.hash(password), role, agency),
        ).fetchone()
        if row is None:
            raise UserError(f"a user named {name!r} already exists")
        _audit(conn, actor, "user.create", f"user/{name}", {"role": role, "agency": agency})
    return User(*row)


def list_users(conn: psycopg.Connection, agency: str | None = None) -> list[User]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE %(agency)s::text IS NULL OR agency = %(agency)s ORDER BY name",
        {"agency": agency},
    ).fetchall()
    return [User(*r) for r in rows]


def find_user(conn: psycopg.Connection, user_id: int) -> User | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = %s", (user_id,)).fetchone()
    return User(*row) if row else None


def disable_user(conn: psycopg.Connection, name: str, actor: str = "cli") -> User:
    """Disable a user and end their sessions at once."""
    with conn.transaction():
        row = conn.execute(
            f"UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE name = %s RETURNING {_COLUMNS}",
            (name,),
        ).fetchone()
        if row is None:
            raise UserError(f"unknown user {name!r}")
        conn.execute("DELETE FROM user_sessions WHERE user_id = %s", (row[0],))
        _audit(conn, actor, "user.disable", f"user/{name}", {})
    return User(*row)


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    locked: bool = False


def verify_login(conn: psycopg.Connection, name: str, password: str, now: float, source: str = "") -> LoginResult:
    """Check a name and password; count failures, and lock the user out for a while after too many.

    A disabled, unknown or locked user fails like a wrong password (no hint which), except that a locked
    user is told to wait.
    """
    moment = datetime.fromtimestamp(now, UTC)
    with conn.transaction():
        row = conn.execute(
            f"SELECT {_COLUMNS}, password_hash, failed_logins FROM users WHERE name = %s FOR UPDATE", (name,)
        ).fetchone()
        if row is None:
            _verify(_dummy_hash(), password)
            log.warning("console login failed for unknown user %r from %s", name, source)
            return LoginResult(None)
        user = User(*row[:8])
        stored, failures = row[8], row[9]
        if user.locked_until is not None and user.locked_until > moment:
            log.warning("console login refused for locked-out user %r from %s", name, source)
            return LoginResult(None, locked=True)
        if user.disabled_at is None and _verify(stored, password):
            conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = %s WHERE id = %s",
                (moment, user.id),
            )
            if _hasher.check_needs_rehash(stored):
                conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (_hasher.hash(password), user.id))
            return LoginResult(user)
        failures += 1
        if failures >= LOCKOUT_FAILURES:
            until = moment + timedelta(seconds=LOCKOUT_S)
            conn.execute("UPDATE users SET failed_logins = 0, locked_until = %s WHERE id = %s", (until, user.id))
            _audit(conn, "console", "user.lockout", f"user/{name}", {"failures": failures, "source": source})
            log.warning("console user %r locked out for %d s after %d failed logins", name, LOCKOUT_S, failures)
            return LoginResult(None, locked=True)
        conn.execute("UPDATE users SET failed_logins = %s WHERE id = %s", (failures, user.id))
        log.warning("console login failed for user %r from %s (%d in a row)", name, source, failures)
        return LoginResult(None)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
