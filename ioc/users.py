"""Console users (contract section 10): argon2 password hashes, roles and agency binding as for API keys,
and failed logins rate-limited by client address and by user name (ioc/auth_limits.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.types.json import Jsonb

from ioc import auth_limits
from ioc.auth import ROLES, Principal
from ioc.auth_limits import Blocked, Limits

NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

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
    last_login_at: datetime | None

    @property
    def principal(self) -> Principal:
        """The same role and agency checks as an API key's; key_id 0 marks a console user."""
        return Principal(key_id=0, role=self.role, agency=self.agency, name=self.name)


_COLUMNS = "id, name, role, agency, created_at, disabled_at, last_login_at"


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
    """The user logged in, or None; `blocked` when refused (or, by this failure, now) for too many failures."""

    user: User | None
    blocked: Blocked | None = None


def verify_login(
    conn: psycopg.Connection,
    name: str,
    password: str,
    now: float,
    source: str = "",
    limits: Limits | None = None,
    trusted_device: bool = False,
) -> LoginResult:
    """Check a name and password, within the rate limits of failed logins (by the client's address, and by
    the name unless `trusted_device`: the browser holds this user's device cookie).

    A disabled, unknown or wrong-password login fails alike (no hint which); a blocked one is refused
    before the password is looked at, and told when to try again.
    """
    limits = limits or Limits.defaults()
    moment = datetime.fromtimestamp(now, UTC)
    with conn.transaction():
        # Refuse a blocked client at once; else wait for this address's and name's other attempts, and ask again.
        blocked = auth_limits.check(conn, "login", source, now, limits, name, trusted_device)
        if blocked is None:
            auth_limits.serialize(conn, "login", source, name)
            blocked = auth_limits.check(conn, "login", source, now, limits, name, trusted_device)
        if blocked is not None:
            auth_limits.log_refusal("login", source, name, blocked)
            return LoginResult(None, blocked)
        row = conn.execute(f"SELECT {_COLUMNS}, password_hash FROM users WHERE name = %s", (name,)).fetchone()
        if row is None:
            _verify(_dummy_hash(), password)
            reason = "unknown_user"
        else:
            user, stored = User(*row[:7]), row[7]
            if _verify(stored, password):
                if user.disabled_at is None:
                    conn.execute("UPDATE users SET last_login_at = %s WHERE id = %s", (moment, user.id))
                    if _hasher.check_needs_rehash(stored):
                        conn.execute(
                            "UPDATE users SET password_hash = %s WHERE id = %s", (_hasher.hash(password), user.id)
                        )
                    return LoginResult(user)
                reason = "disabled"
            else:
                reason = "wrong_password"
        blocked = auth_limits.record_failure(
            conn, "login", source, name, reason, now, limits, actor="console", target=f"user/{name}",
            count_user=not trusted_device,
        )  # fmt: skip
        return LoginResult(None, blocked)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
