"""Console test helpers: users, CSRF tokens out of pages, and logging in with a TestClient."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
from fastapi.testclient import TestClient

from ioc.users import create_user

PASSWORD = "mật khẩu thử 123"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

ClientFactory = Callable[..., TestClient]


def add_user(dsn: str, name: str, role: str, agency: str | None = None) -> None:
    with psycopg.connect(dsn) as conn:
        create_user(conn, name, PASSWORD, role, agency)


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD, next_path: str = "/ui/") -> TestClient:
    page = client.get("/ui/login", params={"next": next_path})
    answer = client.post(
        "/ui/login", data={"username": name, "password": password, "next": next_path, "csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 303, answer.text
    return client
