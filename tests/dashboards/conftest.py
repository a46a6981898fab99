"""Dashboard test fixtures: a store on each back end to run every panel's SQL against."""

from __future__ import annotations

import pytest
from seed import Store


@pytest.fixture
def any_store(any_dsn: str) -> Store:
    return Store(any_dsn)
