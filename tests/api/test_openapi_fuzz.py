"""Schemathesis against the app's own /openapi.json: on the real app and a real test store, with an admin
key, every operation is fuzzed with valid and invalid requests (and every change with a bound viewer's key);
no answer is a 5xx, every status, content type and body is the one the schema declares, and a request the
schema calls valid is accepted (the schema says what the API really answers). Some 1,000 requests."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from httpx2 import Response
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from prometheus_client import CollectorRegistry
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# A request valid by the schema is also accepted, except where validity spans fields or the clock, which
# OpenAPI cannot say: from before to (and not too many points), ends_at in the future, one of a window's two
# forms, an inventory's references between entries.
NOT_CHECKED_FOR_ACCEPTANCE = {
    ("GET", "/api/v1/entities/{kind}/{entity_id}/series/{metric}"),
    ("GET", "/api/v1/agencies/{agency_id}/kpis"),
    ("POST", "/api/v1/silences"),
    ("POST", "/api/v1/maintenance-windows"),
    ("PUT", "/api/v1/inventory"),
}
# Per operation and generation mode (fewer when hypothesis runs out of distinct requests).
EXAMPLES = 20


def send(client: TestClient, case: schemathesis.Case, headers: dict[str, str]) -> Response:
    """The case through starlette's TestClient: schemathesis's own transport is built on requests, whose
    urllib3 is replaced in this environment by urllib3-future (grafana-client's niquests needs it)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), str | bytes):
        body["content"] = kwargs["data"]
    elif "data" in kwargs:
        body["data"] = kwargs["data"]
    return client.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=kwargs["headers"],
        cookies=kwargs.get("cookies") or None, **body,
    )  # fmt: skip


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every (method, path, mode) of the schema, read from an app whose pool is never opened; an operation
    without parameters or body has no invalid request to make."""
    app = create_app(
        load_settings(database_url="postgresql://unused@127.0.0.1/unused"),
        pool=make_pool("postgresql://unused@127.0.0.1/unused"),
        registry=CollectorRegistry(),
        readiness={},
    )
    return [
        (method.upper(), path, mode)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode == GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")
    ]


@pytest.fixture
def app(store):
    store.load_inventory()
    store.alert("kiosk", "kiosk-pv-01")
    store.alert("link", "wan-xa-phu-vang", state="resolved")
    now = time.time()
    store.silence({"agency": "so-tttt"}, now - 60, now + 3600)
    pool = make_pool(store.dsn, max_size=2, name="ioc-api-fuzz")
    pool.open(wait=True)
    yield create_app(
        load_settings(database_url=store.dsn),
        pool=pool,
        registry=CollectorRegistry(),
        readiness={"store": lambda: True},
    )
    pool.close()


def fuzz(app, headers, method, path, mode, *, acceptance: bool, examples: int = EXAMPLES) -> None:
    client = TestClient(app)
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    operation = schema[path][method]
    checks = [*CHECKS, positive_data_acceptance] if acceptance else CHECKS

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def answers_as_declared(case):
        case.validate_response(send(client, case, headers), checks=checks, headers=headers)

    try:
        answers_as_declared()
    except Unsatisfiable:
        # Only string parameters without constraints: every request schemathesis can make is valid.
        assert mode == GenerationMode.NEGATIVE
        pytest.skip("no request to this operation is invalid by the schema")


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "mode"), _operations(), ids=str)
def test_operation_answers_as_declared(app, store, method, path, mode):
    acceptance = mode == GenerationMode.POSITIVE and (method, path) not in NOT_CHECKED_FOR_ACCEPTANCE
    fuzz(app, store.key("admin"), method, path, mode, acceptance=acceptance)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path"), [(m, p) for m, p, mode in _operations() if m != "GET" and mode == GenerationMode.POSITIVE]
)
def test_a_change_with_a_bound_viewer_key_answers_as_declared(app, store, method, path):
    """A viewer of one agency may change nothing: 403 (or 404 for what it may not see), as declared."""
    fuzz(app, store.key("viewer", "so-tttt"), method, path, GenerationMode.POSITIVE, acceptance=False, examples=10)
