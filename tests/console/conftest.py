"""Console fixtures: the real app on the real test store, users, and a logged-in TestClient."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from seed import Store

from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool
from ioc.users import create_user

PASSWORD = "mật khẩu thử 123"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def store(dsn: str) -> Store:
    s = Store(dsn)
    s.load_inventory()
    return s


def add_user(dsn: str, name: str, role: str, agency: str | None = None) -> None:
    with psycopg.connect(dsn) as conn:
        create_user(conn, name, PASSWORD, role, agency)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    pools = []

    def make(dsn: str, clock: Callable[[], float] = time.time, **settings: object) -> TestClient:
        pool = make_pool(dsn, max_size=2, name="ioc-console-test")
        pool.open(wait=True)
        pools.append(pool)
        app = create_app(
            load_settings(database_url=dsn, **settings), pool=pool, registry=CollectorRegistry(),
            readiness={"store": lambda: True}, clock=clock,
        )  # fmt: skip
        return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)

    yield make
    for pool in pools:
        pool.close()


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
