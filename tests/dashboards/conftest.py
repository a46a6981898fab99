"""Dashboard test fixtures: a store on each back end, and the sample province in it."""

from __future__ import annotations

import pytest
from dash_province import Province, seed_province
from seed import Store


@pytest.fixture
def any_store(any_dsn: str) -> Store:
    return Store(any_dsn)


@pytest.fixture
def province(any_store: Store) -> Province:
    return Province(any_store, seed_province(any_store))
