"""NUL characters and oversized text in path, query and JSON body are refused with a 422 naming the field,
before any route sees them; an empty inventory is refused and stores nothing."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from ioc.api.input_limits import MAX_BODY_TEXT_CHARS, MAX_PATH_CHARS, MAX_QUERY_CHARS, NO_NUL_PATTERN


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/alerts?site=a%00b", "query parameter 'site': holds a NUL character (\\u0000)"),
        ("/api/v1/alerts?kind=kiosk&entity=%00", "query parameter 'entity': holds a NUL character (\\u0000)"),
        ("/api/v1/entities?agency=%00", "query parameter 'agency': holds a NUL character (\\u0000)"),
        ("/api/v1/silences?state=active%00", "query parameter 'state': holds a NUL character (\\u0000)"),
        ("/api/v1/events?x%00=1", "query parameter 'x\\x00': holds a NUL character (\\u0000)"),
        ("/api/v1/agencies/so%00/health", "path parameter 'agency_id': holds a NUL character (\\u0000)"),
        ("/status/so%00", "path parameter 'agency_id': holds a NUL character (\\u0000)"),
        (f"/api/v1/alerts?site={'x' * (MAX_QUERY_CHARS + 1)}",
         "query parameter 'site': longer than 1000 characters (1001)"),
        (f"/api/v1/events?{'k' * 2000}=1",
         f"query parameter '{'k' * 100}...': longer than 1000 characters (2000)"),
        (f"/api/v1/agencies/{'a' * (MAX_PATH_CHARS + 1)}/health",
         "path parameter 'agency_id': longer than 200 characters (201)"),
    ],
)  # fmt: skip
def test_nul_and_oversized_parameters_are_refused_by_name(store, client, path, detail):
    store.load_inventory()
    answer = client.get(path, headers=store.key("viewer"))
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})


def test_nul_and_oversized_body_fields_are_refused_by_name_and_nothing_is_stored(store, client):
    store.load_inventory()
    store.alert("kiosk", "kiosk-pv-01")
    operator = store.key("operator")
    cases = [
        ("/api/v1/alerts/1/ack", {"by": "ca\u0000"}, "body field 'by': holds a NUL character (\\u0000)"),
        ("/api/v1/silences", {"matchers": {"agency\u0000": "so-tttt"}, "ends_at": "2099-01-01T00:00:00Z"},
         "body field 'matchers.agency\\x00': holds a NUL character (\\u0000)"),
        ("/api/v1/alerts/1/ack", {"comment": "\ud800"},
         "body field 'comment': holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not a character"),
        ("/api/v1/maintenance-windows", {"matchers": {"agency": "so-tttt"}, "comment": "x" * (MAX_BODY_TEXT_CHARS + 1)},
         "body field 'comment': longer than 20000 characters (20001)"),
    ]  # fmt: skip
    for path, body, detail in cases:
        raw = json.dumps(body).encode()  # ASCII with \\u escapes: a lone surrogate too
        answer = client.post(path, content=raw, headers={**operator, "Content-Type": "application/json"})
        assert (answer.status_code, answer.json()) == (422, {"detail": detail})
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM silences").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM maintenance_windows").fetchone() == (0,)
        assert conn.execute("SELECT acked_by FROM alerts").fetchone() == (None,)


def test_an_unknown_body_key_is_named(store, client):
    store.load_inventory()
    store.alert("kiosk", "kiosk-pv-01")
    answer = client.post("/api/v1/alerts/1/ack", json={"coment": "typo"}, headers=store.key("operator"))
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": "body field 'coment': Extra inputs are not permitted"},
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/yaml", b""),
        ("application/yaml", b"null\n"),
        ("application/yaml", b"~"),
        ("application/json", b"null"),
        ("application/json", b"{}"),
        ("application/json", b'{"agencies": [], "sites": [], "entities": []}'),
    ],
)
def test_an_empty_or_null_inventory_is_refused_and_stores_nothing(store, client, content_type, body):
    store.load_inventory()
    with store.connect() as conn:
        before = conn.execute("SELECT count(*) FROM entities WHERE assigned").fetchone()
    answer = client.put("/api/v1/inventory", content=body, headers={**store.key("admin"), "Content-Type": content_type})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("body: top level: the inventory is empty")
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM entities WHERE assigned").fetchone() == before != (0,)
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'inventory.put'").fetchone() == (0,)


def test_the_schema_declares_the_limits_and_the_error_body(client):
    schema = client.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/alerts"]["get"]["parameters"]}
    assert {"maxLength": 1000, "pattern": NO_NUL_PATTERN}.items() <= params["site"]["anyOf"][0].items()
    responses = schema["paths"]["/api/v1/alerts/{alert_id}/ack"]["post"]["responses"]
    assert sorted(responses) == ["200", "400", "401", "403", "404", "409", "422", "429"]
    assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert schema["components"]["schemas"]["ErrorOut"]["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert list(schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]


def _sweep_cases(schema, text):
    """For every operation of the schema and each string it takes (path or query parameter, JSON body
    property): the request with a NUL there, and what the answer must name. New routes are swept too."""
    components = schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            for target in params:
                values = {p["name"]: "1" for p in params if p["in"] == "path"}
                values[target["name"]] = text(target["in"])
                url = path.format(**{k: quote(v) for k, v in values.items() if k in path})
                query = {target["name"]: text("query")} if target["in"] == "query" else {}
                yield method, url, query, None, f"{target['in']} parameter {target['name']!r}"
            ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            body_schema = components.get(ref.get("$ref", "").rsplit("/", 1)[-1], {})
            for name in body_schema.get("properties", {}):
                url = path.format(**{p["name"]: "1" for p in params if p["in"] == "path"})
                yield method, url, {}, {name: text("body")}, f"body field {name!r}"


LIMITS = {"path": MAX_PATH_CHARS, "query": MAX_QUERY_CHARS, "body": MAX_BODY_TEXT_CHARS}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (lambda where: "a\x00", lambda where: "holds a NUL character (\\u0000)"),
        (lambda where: "x" * (LIMITS[where] + 1),
         lambda where: f"longer than {LIMITS[where]} characters ({LIMITS[where] + 1})"),
    ],
    ids=["nul", "oversized"],
)  # fmt: skip
def test_every_string_of_every_operation_refuses_hostile_text_by_name(store, client, text, problem):
    """What the fuzz of issue 12 sent (a 500 each, then): a NUL, or too much, anywhere the schema takes text."""
    store.load_inventory()
    headers = store.key("admin")
    cases = list(_sweep_cases(client.get("/openapi.json").json(), text))
    assert len(cases) > 60 and "/api/v1/alerts" in {url for _, url, _, _, _ in cases}
    wrong = []
    for method, url, query, body, subject in cases:
        answer = client.request(method, url, params=query, json=body, headers=headers)
        where = subject.split(" ", 1)[0]
        expected = {"detail": f"{subject}: {problem(where)}"}
        if answer.status_code != 422 or answer.json() != expected:
            wrong.append((method, url[:80], subject, answer.status_code, answer.text[:200]))
    assert wrong == []
