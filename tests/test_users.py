"""Console users and API keys from the command line, and the limit of failed logins, on the real test store."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest
from seed import Store
from typer.testing import CliRunner

from ioc.auth_limits import Limits
from ioc.cli import app
from ioc.users import UserError, create_user, list_users, verify_login


@pytest.fixture
def cli(dsn: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("IOC_DATABASE_URL", dsn)
    Store(dsn).load_inventory()
    return CliRunner()


def _audit(dsn: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute("SELECT actor, action, target FROM audit_log ORDER BY id")]


def test_users_create_list_disable(cli: CliRunner, dsn: str) -> None:
    result = cli.invoke(app, ["users", "create", "Nguyễn Văn An", "--role", "operator", "--agency", "so-tttt"],
                        input="mật khẩu đủ dài\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "user Nguyễn Văn An created (operator, agency so-tttt)" in result.output
    with psycopg.connect(dsn) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users").fetchone()
        assert stored.startswith("$argon2id$") and "mật khẩu" not in stored
        assert verify_login(conn, "Nguyễn Văn An", "mật khẩu đủ dài", 1e9).user is not None
    listed = cli.invoke(app, ["users", "list"])
    assert "Nguyễn Văn An\toperator\tso-tttt\tactive" in listed.output
    assert cli.invoke(app, ["users", "disable", "Nguyễn Văn An"]).exit_code == 0
    assert "Nguyễn Văn An\toperator\tso-tttt\tdisabled" in cli.invoke(app, ["users", "list"]).output
    with psycopg.connect(dsn) as conn:
        assert verify_login(conn, "Nguyễn Văn An", "mật khẩu đủ dài", 1e9).user is None
    assert [a[1] for a in _audit(dsn)] == ["user.create", "user.disable", "auth.login_failed"]


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["users", "create", "an", "--role", "boss"], "long enough pw", "unknown role 'boss'"),
        (["users", "create", "an", "--role", "viewer"], "short", "the password needs at least 8 characters"),
        (["users", "create", "an", "--role", "viewer", "--agency", "nope"], "long enough pw", "unknown agency 'nope'"),
        (["users", "disable", "nobody"], "", "unknown user 'nobody'"),
    ],
)
def test_users_errors(cli: CliRunner, args: list[str], password: str, message: str) -> None:
    result = cli.invoke(app, args, input=password + "\n")
    assert result.exit_code != 0 and message in result.output


def test_users_duplicate_name(cli: CliRunner) -> None:
    assert cli.invoke(app, ["users", "create", "an", "--role", "viewer"], input="long enough pw\n").exit_code == 0
    result = cli.invoke(app, ["users", "create", "an", "--role", "admin"], input="long enough pw\n")
    assert result.exit_code == 2 and "a user named 'an' already exists" in result.output


def test_keys_list_and_revoke(cli: CliRunner, dsn: str) -> None:
    key = cli.invoke(app, ["keys", "create", "--role", "operator", "--name", "trực ca"]).output.strip()
    listed = cli.invoke(app, ["keys", "list"]).output
    assert listed.splitlines()[0] == "id\trole\tagency\tname\tcreated_at\texpires_at\tstate\tlast_used_at"
    assert "1\toperator\t-\ttrực ca\t" in listed and key not in listed and listed.rstrip().endswith("-\tactive\t-")
    assert cli.invoke(app, ["keys", "revoke", "1"]).output.strip() == "key 1 (operator, trực ca) revoked"
    assert "\t-\trevoked 20" in cli.invoke(app, ["keys", "list"]).output
    from ioc.auth import KeyRefused, authenticate

    with psycopg.connect(dsn) as conn, pytest.raises(KeyRefused, match="API key revoked at 20"):
        authenticate(conn, key, time.time())
    result = cli.invoke(app, ["keys", "revoke", "99"])
    assert result.exit_code == 1 and "unknown key 99" in result.output
    assert ("cli", "key.revoke", "key/1") in _audit(dsn)


def test_keys_create_with_expiry(cli: CliRunner, dsn: str) -> None:
    before = time.time()
    assert cli.invoke(app, ["keys", "create", "--role", "viewer", "--expires", "30d"]).exit_code == 0
    assert (
        cli.invoke(app, ["keys", "create", "--role", "viewer", "--expires", "2030-01-01T07:00:00+07:00"]).exit_code == 0
    )
    with psycopg.connect(dsn) as conn:
        (first, second) = [r[0] for r in conn.execute("SELECT expires_at FROM api_keys ORDER BY id")]
    assert abs(first.timestamp() - (before + 30 * 86400)) < 60
    assert second == datetime(2030, 1, 1, tzinfo=UTC)
    assert "\t2030-01-01T00:00:00Z\tactive\t-" in cli.invoke(app, ["keys", "list"]).output
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE api_keys SET expires_at = '2026-01-01T00:00:00Z' WHERE id = 1")
    assert "\t2026-01-01T00:00:00Z\texpired\t-" in cli.invoke(app, ["keys", "list"]).output
    for expires, message in [
        ("soon", "expires: 'soon' is neither a duration such as 90m, 12h or 30d nor an RFC 3339 time"),
        ("2020-01-01T00:00:00Z", "expires: '2020-01-01T00:00:00Z' is in the past"),
        ("2030-01-01T00:00:00", "has no time zone offset"),
        ("0d", "expires: '0d' is not after now"),
    ]:
        result = cli.invoke(app, ["keys", "create", "--role", "viewer", "--expires", expires])
        assert result.exit_code == 2 and message in result.output, result.output


def test_failed_logins_limited_by_user_name(
    dsn: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Limits(per_source=100, per_user=3, window_s=600)
    now = 1_800_000_000.0
    with psycopg.connect(dsn) as conn:
        create_user(conn, "an", "right password", "viewer")
        caplog.set_level(logging.WARNING, logger="ioc.auth_limits")
        # Failures from three addresses: the third reaches the limit of the name.
        for i, source in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
            failed = verify_login(conn, "an", "wrong", now + i, source, limits)
            assert failed.user is None and (failed.blocked is not None) == (i == 2)
        refused = verify_login(conn, "an", "right password", now + 10, "10.0.0.4", limits)
        assert refused.user is None and refused.blocked is not None
        assert (refused.blocked.scope, refused.blocked.retry_after_s) == ("user", 590)  # the first failure + 600 s
        # A browser the user logged in from is not held up by the name's limit, even after a typo of its own.
        typo = verify_login(conn, "an", "right pasword", now + 10, "10.0.0.4", limits, trusted_device=True)
        assert typo.user is None and typo.blocked is None
        assert verify_login(conn, "an", "right password", now + 10, "10.0.0.4", limits, trusted_device=True).user
        # Once the first two failures are older than the window (the typo counts too), the name is let in again.
        assert verify_login(conn, "an", "right password", now + 600.5, "10.0.0.4", limits).blocked is not None
        assert verify_login(conn, "an", "right password", now + 601.5, "10.0.0.4", limits).user is not None
    assert "auth_failure kind=login source=10.0.0.1 subject='an' reason=wrong_password" in caplog.text
    assert "auth_blocked kind=login scope=user source=10.0.0.3" in caplog.text
    assert "auth_refused kind=login scope=user source=10.0.0.4" in caplog.text
    failed, blocked = ("console", "auth.login_failed", "user/an"), ("console", "auth.blocked", "user/an")
    assert [a for a in _audit(dsn) if a[1].startswith("auth.")] == [failed] * 3 + [blocked, failed]


def test_users_list_shows_a_limited_name(cli: CliRunner, dsn: str) -> None:
    assert cli.invoke(app, ["users", "create", "an", "--role", "viewer"], input="long enough pw\n").exit_code == 0
    with psycopg.connect(dsn) as conn:
        for _ in range(5):  # IOC_AUTH_USER_FAIL_LIMIT's default
            verify_login(conn, "an", "wrong", time.time(), "10.0.0.1")
    assert "an\tviewer\t-\tlogin limited until 20" in cli.invoke(app, ["users", "list"]).output


def test_user_name_and_password_checks(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        with pytest.raises(UserError, match="no control characters"):
            create_user(conn, "a\x00b", "long enough pw", "viewer")
        with pytest.raises(UserError, match="NUL"):
            create_user(conn, "ab", "long enough\x00pw", "viewer")
        assert list_users(conn) == []


def test_concurrent_guesses_get_no_more_tries_than_serial_ones(dsn: str) -> None:
    limits = Limits(per_source=100, per_user=3, window_s=600)
    with psycopg.connect(dsn) as conn:
        create_user(conn, "an", "right password", "viewer")

    def guess(i: int) -> bool:
        with psycopg.connect(dsn) as conn:  # each guess its own connection, as in separate API processes
            return verify_login(conn, "an", f"guess {i}", 1_800_000_000.0, f"10.0.1.{i}", limits).blocked is not None

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(guess, range(8)))
    with psycopg.connect(dsn) as conn:
        (tried,) = conn.execute("SELECT count(*) FROM auth_failures WHERE subject = 'an'").fetchone()  # type: ignore[misc]
    assert tried == 3  # the name's limit, however the 8 interleave
