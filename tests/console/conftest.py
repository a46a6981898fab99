"""Console fixtures: the real app on the real test store with the sample inventory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from console_helpers import ClientFactory
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from seed import Store

from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool


@pytest.fixture
def store(dsn: str) -> Store:
    s = Store(dsn)
    s.load_inventory()
    return s


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
