"""API test fixtures: the real app on the real test store, keys, and a way to put data in with SQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from seed import Store

from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool


@pytest.fixture
def store(dsn: str) -> Store:
    return Store(dsn)


@pytest.fixture
def any_store(any_dsn: str) -> Store:
    return Store(any_dsn)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Builds TestClients on the real app; each gets its own pool, closed after the test."""
    pools = []

    def make(dsn: str, clock: Callable[[], float] = time.time, **settings: object) -> TestClient:
        pool = make_pool(dsn, max_size=2, name="ioc-api-test")
        pool.open(wait=True)
        pools.append(pool)
        app = create_app(
            load_settings(database_url=dsn, **settings),
            pool=pool,
            registry=CollectorRegistry(),
            readiness={"store": lambda: True},
            clock=clock,
        )
        return TestClient(app)

    yield make
    for pool in pools:
        pool.close()


@pytest.fixture
def client(store: Store, make_client: ClientFactory) -> TestClient:
    return make_client(store.dsn)
