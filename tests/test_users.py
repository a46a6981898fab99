"""Console users and API keys from the command line, and the lock-out, on the real test store."""

from __future__ import annotations

import logging

import psycopg
import pytest
from seed import Store
from typer.testing import CliRunner

from ioc.cli import app
from ioc.users import LOCKOUT_FAILURES, LOCKOUT_S, UserError, create_user, list_users, verify_login


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
    assert [a[1] for a in _audit(dsn)] == ["user.create", "user.disable"]


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
    assert "1\toperator\t-\ttrực ca\t" in listed and key not in listed and listed.rstrip().endswith("-")
    assert cli.invoke(app, ["keys", "revoke", "1"]).output.strip() == "key 1 (operator, trực ca) revoked"
    assert not cli.invoke(app, ["keys", "list"]).output.rstrip().endswith("\t-")
    from ioc.auth import authenticate

    with psycopg.connect(dsn) as conn:
        assert authenticate(conn, key) is None
    result = cli.invoke(app, ["keys", "revoke", "99"])
    assert result.exit_code == 1 and "unknown key 99" in result.output
    assert ("cli", "key.revoke", "key/1") in _audit(dsn)


def test_lockout_after_repeated_failures(
    dsn: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_800_000_000.0
    with psycopg.connect(dsn) as conn:
        create_user(conn, "an", "right password", "viewer")
        caplog.set_level(logging.WARNING, logger="ioc.users")
        for _ in range(LOCKOUT_FAILURES - 1):
            failed = verify_login(conn, "an", "wrong", now)
            assert failed.user is None and not failed.locked
        # LOCKOUT_FAILURES - 1 failures so far: one more locks, and then even the right password fails.
        assert verify_login(conn, "an", "wrong", now).locked
        assert verify_login(conn, "an", "right password", now + 1).locked
        assert verify_login(conn, "an", "right password", now + LOCKOUT_S + 1).user is not None
    assert "locked out" in caplog.text
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE users SET locked_until = now() + interval '10 minutes'")
    monkeypatch.setenv("IOC_DATABASE_URL", dsn)
    assert "an\tviewer\t-\tlocked until 20" in CliRunner().invoke(app, ["users", "list"]).output
    assert ("console", "user.lockout", "user/an") in _audit(dsn)


def test_user_name_and_password_checks(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        with pytest.raises(UserError, match="no control characters"):
            create_user(conn, "a\x00b", "long enough pw", "viewer")
        with pytest.raises(UserError, match="NUL"):
            create_user(conn, "ab", "long enough\x00pw", "viewer")
        assert list_users(conn) == []
