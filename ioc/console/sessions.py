"""Console sessions: a signed cookie holding a random token; the store keeps only the token's SHA-256,
its user, its expiry and its CSRF token (one per session, checked on every POST)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from itsdangerous import BadSignature, URLSafeSerializer

from ioc.users import User

SESSION_COOKIE = "ioc_session"
LOGIN_COOKIE = "ioc_login"  # the login form's CSRF token, before there is a session
# Set at a successful login, naming the user: this browser is exempt from the user name's limit of failed
# logins (ioc/auth_limits.py), so failures from elsewhere cannot lock the real user out of their browser.
DEVICE_COOKIE = "ioc_device"
DEVICE_DAYS = 365
SESSION_HOURS = 12
_SECRET_META_KEY = "console_secret"  # noqa: S105 - the name of the ioc_meta row, not a secret


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    token_hash: str

    def csrf_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.csrf_token.encode())


def console_secret(conn: psycopg.Connection) -> str:
    """The key that signs console cookies: made once, kept in the store, so restarts keep sessions."""
    conn.execute(
        "INSERT INTO ioc_meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (_SECRET_META_KEY, secrets.token_urlsafe(48)),
    )
    row = conn.execute("SELECT value FROM ioc_meta WHERE key = %s", (_SECRET_META_KEY,)).fetchone()
    assert row is not None
    return str(row[0])


class CookieSigner:
    def __init__(self, secret: str):
        self._session = URLSafeSerializer(secret, salt="ioc-console-session")
        self._login = URLSafeSerializer(secret, salt="ioc-console-login")
        self._device = URLSafeSerializer(secret, salt="ioc-console-device")

    def session_cookie(self, token: str) -> str:
        return self._session.dumps(token)

    def session_token(self, cookie: str | None) -> str | None:
        return _loads(self._session, cookie)

    def login_cookie(self, token: str) -> str:
        return self._login.dumps(token)

    def login_token(self, cookie: str | None) -> str | None:
        return _loads(self._login, cookie)

    def device_cookie(self, user_name: str) -> str:
        return self._device.dumps(user_name)

    def device_user(self, cookie: str | None) -> str | None:
        return _loads(self._device, cookie)


def _loads(serializer: URLSafeSerializer, cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        value = serializer.loads(cookie)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: psycopg.Connection, user: User, now: float) -> str:
    """A new session for the user; returns the token for the cookie. Expired sessions are swept."""
    token = secrets.token_urlsafe(32)
    moment = datetime.fromtimestamp(now, UTC)
    with conn.transaction():
        conn.execute("DELETE FROM user_sessions WHERE expires_at <= %s", (moment,))
        conn.execute(
            "INSERT INTO user_sessions (token_hash, user_id, csrf_token, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (_hash(token), user.id, secrets.token_urlsafe(32), moment, moment + timedelta(hours=SESSION_HOURS)),
        )
    return token


def find_session(conn: psycopg.Connection, token: str, now: float) -> Session | None:
    """The live session of an enabled user with this token, else None."""
    row = conn.execute(
        "SELECT u.id, u.name, u.role, u.agency, u.created_at, u.disabled_at, u.last_login_at, "
        "s.csrf_token FROM user_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = %s AND s.expires_at > %s AND u.disabled_at IS NULL",
        (_hash(token), datetime.fromtimestamp(now, UTC)),
    ).fetchone()
    if row is None:
        return None
    return Session(User(*row[:7]), row[7], _hash(token))


def end_session(conn: psycopg.Connection, session: Session) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM user_sessions WHERE token_hash = %s", (session.token_hash,))
