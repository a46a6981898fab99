"""Failed console logins rate-limited on the real app and store: a brute force on one user is refused (429,
Retry-After) while the real user still gets in from their browser; a spray from one address is refused
while other addresses are not; every failure is logged and audited."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
import pytest
from console_helpers import PASSWORD, add_user, csrf_of, log_in
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from seed import Store

from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(store: Store, clock: Clock) -> Iterator[FastAPI]:
    pool = make_pool(store.dsn, max_size=2, name="ioc-login-limits-test")
    pool.open(wait=True)
    settings = load_settings(database_url=store.dsn, auth_fail_limit=8, auth_user_fail_limit=4, auth_fail_window_s=600)
    yield create_app(settings, pool=pool, registry=CollectorRegistry(), readiness={"store": lambda: True}, clock=clock)
    pool.close()


def _browser(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False, client=(address, 50000))


def _try(client: TestClient, name: str, password: str) -> TestClient:
    page = client.get("/ui/login")
    return client.post("/ui/login", data={"username": name, "password": password, "csrf_token": csrf_of(page.text)})


def _audit(store: Store) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(store.dsn) as conn:
        rows = conn.execute(
            "SELECT action, target, detail->>'source', detail->>'reason' FROM audit_log "
            "WHERE action LIKE 'auth.%' ORDER BY id"
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_brute_force_on_a_user_is_refused_but_the_user_gets_in_from_their_browser(
    store: Store, app: FastAPI, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ioc.auth_limits")
    add_user(store.dsn, "an", "operator")
    users_browser = log_in(_browser(app, "192.0.2.10"), "an")  # an logged in here before: it holds the device cookie
    users_browser.post("/ui/logout", data={"csrf_token": csrf_of(users_browser.get("/ui/").text)})
    attacker = _browser(app, "203.0.113.66")
    for i in range(4):  # IOC_AUTH_USER_FAIL_LIMIT
        clock.now = T0 + i
        answer = _try(attacker, "an", f"guess {i}")
        assert answer.status_code == (429 if i == 3 else 401)
    clock.now = T0 + 100
    refused = _try(attacker, "an", PASSWORD)  # even the right password: it is not looked at
    assert refused.status_code == 429 and refused.headers["retry-after"] == "500"  # the first failure + 600 s
    assert "Đăng nhập sai quá nhiều lần" in refused.text and "Hãy thử lại sau 9 phút." in refused.text
    # A second attacker address, without the user's device cookie, is refused the name too.
    assert _try(_browser(app, "198.51.100.5"), "an", PASSWORD).status_code == 429
    # The user, from their own browser on another address, gets in.
    assert _try(users_browser, "an", PASSWORD).status_code == 303
    # Another user from the attacker's address is not held up: its address is below IOC_AUTH_FAIL_LIMIT.
    add_user(store.dsn, "binh", "viewer")
    assert _try(_browser(app, "203.0.113.66"), "binh", PASSWORD).status_code == 303
    assert _audit(store) == [
        *[("auth.login_failed", "user/an", "203.0.113.66", "wrong_password")] * 4,
        ("auth.blocked", "user/an", "203.0.113.66", "wrong_password"),
    ]
    assert caplog.text.count("auth_failure kind=login source=203.0.113.66 subject='an' reason=wrong_password") == 4
    assert "auth_refused kind=login scope=user source=203.0.113.66 subject='an' retry_after_s=500" in caplog.text
    assert "auth_refused kind=login scope=user source=198.51.100.5" in caplog.text
    # Once the failures are older than the window, anyone may try again.
    clock.now = T0 + 600
    assert _try(_browser(app, "198.51.100.5"), "an", PASSWORD).status_code == 303


def test_a_spray_from_one_address_is_refused_there_only(store: Store, app: FastAPI, clock: Clock) -> None:
    add_user(store.dsn, "an", "operator")
    sprayer = _browser(app, "203.0.113.66")
    for i in range(8):  # IOC_AUTH_FAIL_LIMIT, each name tried once (some unknown)
        assert _try(sprayer, f"user{i}", "mật khẩu đoán").status_code == (429 if i == 7 else 401)
    limited = _try(sprayer, "an", PASSWORD)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "600"
    assert _try(_browser(app, "192.0.2.10"), "an", PASSWORD).status_code == 303
    reasons = [r for r in _audit(store) if r[0] == "auth.login_failed"]
    assert reasons == [("auth.login_failed", f"user/user{i}", "203.0.113.66", "unknown_user") for i in range(8)]
    with psycopg.connect(store.dsn) as conn:
        (scope,) = conn.execute("SELECT detail->>'scope' FROM audit_log WHERE action = 'auth.blocked'").fetchone()
    assert scope == "source"


def test_a_disabled_user_fails_like_a_wrong_password(store: Store, app: FastAPI) -> None:
    add_user(store.dsn, "an", "operator")
    with psycopg.connect(store.dsn) as conn:
        conn.execute("UPDATE users SET disabled_at = now()")
    answer = _try(_browser(app, "192.0.2.10"), "an", PASSWORD)
    assert answer.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu." in answer.text
    assert _audit(store) == [("auth.login_failed", "user/an", "192.0.2.10", "disabled")]


def test_the_device_cookie_is_signed_and_names_the_user(store: Store, app: FastAPI, clock: Clock) -> None:
    add_user(store.dsn, "an", "operator")
    browser = log_in(_browser(app, "192.0.2.10"), "an")
    cookie = browser.cookies["ioc_device"]
    for i in range(4):
        _try(_browser(app, "203.0.113.66"), "an", f"guess {i}")
    forged = _browser(app, "198.51.100.5")
    forged.cookies.set("ioc_device", cookie[:-2] + "xx")
    assert _try(forged, "an", PASSWORD).status_code == 429
    add_user(store.dsn, "binh", "viewer")
    other_users = _browser(app, "198.51.100.5")
    other_users.cookies.set("ioc_device", log_in(_browser(app, "198.51.100.5"), "binh").cookies["ioc_device"])
    assert _try(other_users, "an", PASSWORD).status_code == 429  # a device cookie, but of another user
    stolen_elsewhere = _browser(app, "198.51.100.7")
    stolen_elsewhere.cookies.set("ioc_device", cookie)
    assert _try(stolen_elsewhere, "an", PASSWORD).status_code == 303
