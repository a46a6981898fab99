"""Keys and roles on the read side, the admin's inventory endpoints, and what needs no key."""

from __future__ import annotations

import json

import pytest
import yaml


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/entities",
        "/api/v1/entities/kiosk/kiosk-pv-01",
        "/api/v1/entities/kiosk/kiosk-pv-01/series/cpu_pct",
        "/api/v1/agencies",
        "/api/v1/agencies/so-tttt/health",
        "/api/v1/inventory",
    ],
)
def test_every_read_needs_a_key(store, client, path):
    store.load_inventory()
    missing = client.get(path)
    assert (missing.status_code, missing.json()) == (
        401,
        {"detail": "missing API key: send Authorization: Bearer <key>"},
    )
    wrong = client.get(path, headers={"Authorization": "Bearer ioc_not-a-key"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "unknown API key"})
    assert client.get(path, headers=store.key("viewer")).status_code == 200


def test_revoked_key_is_refused(store, client):
    headers = store.key("admin")
    with store.connect() as conn:
        conn.execute("UPDATE api_keys SET revoked_at = '2026-12-01T08:00:00Z'")
    refused = client.get("/api/v1/entities", headers=headers)
    assert (refused.status_code, refused.json()) == (401, {"detail": "API key revoked at 2026-12-01T08:00:00Z"})


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/status", "/status.json", "/openapi.json"])
def test_public_paths_need_no_key(client, path):
    assert client.get(path).status_code == 200


def test_openapi_lists_the_read_side(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/entities",
        "/api/v1/entities/{kind}/{entity_id}/series/{metric}",
        "/api/v1/agencies/{agency_id}/health",
        "/api/v1/inventory",
        "/status",
    ):
        assert path in paths


NEW_INVENTORY = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
entities:
  - {kind: service, id: lgsp, name: "Nền tảng tích hợp, chia sẻ dữ liệu (LGSP)", agency: so-tttt, site: dc-tinh,
     url: "https://lgsp.example.gov.vn/"}
"""


def test_only_an_admin_replaces_the_inventory(store, client):
    store.load_inventory()
    for role in ("viewer", "operator"):
        response = client.put("/api/v1/inventory", content=NEW_INVENTORY.encode(), headers=store.key(role))
        assert (response.status_code, response.json()) == (403, {"detail": "this needs a key with the admin role"})
    response = client.put(
        "/api/v1/inventory",
        content=NEW_INVENTORY.encode(),
        headers={**store.key("admin"), "Content-Type": "application/yaml"},
    )
    assert (response.status_code, response.json()) == (200, {"agencies": 1, "sites": 1, "entities": 1})
    doc = client.get("/api/v1/inventory", headers=store.key("viewer")).json()
    assert doc == yaml.safe_load(NEW_INVENTORY)
    entities = client.get("/api/v1/entities?assigned=true", headers=store.key("viewer")).json()
    assert [(e["id"], e["name"]) for e in entities] == [("lgsp", "Nền tảng tích hợp, chia sẻ dữ liệu (LGSP)")]
    with store.connect() as conn:
        audit = conn.execute("SELECT actor, action, detail FROM audit_log WHERE action = 'inventory.put'").fetchall()
    assert audit == [("test-admin", "inventory.put", {"agencies": 1, "sites": 1, "entities": 1})]


def test_inventory_as_json_round_trips(store, client):
    store.load_inventory()
    admin = store.key("admin")
    before = client.get("/api/v1/inventory", headers=admin).json()
    assert len(before["entities"]) == 6
    assert before["entities"][0]["kind"] in ("kiosk", "link", "service")
    response = client.put(
        "/api/v1/inventory",
        content=json.dumps(before, ensure_ascii=False).encode(),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert client.get("/api/v1/inventory", headers=admin).json() == before


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"entities:\n  - {kind: printer, id: p1, name: P}\n",
         "body: entities[0] (printer/p1).kind: unknown kind 'printer' (expected one of kiosk, link, service)"),
        (b"entities:\n  - {kind: kiosk, id: k1}\n  - {kind: kiosk, id: k2, name: K, site: nowhere}\n",
         "body: entities[0] (kiosk/k1).name: is required; body: entities (kiosk/k2).site: unknown site 'nowhere'"),
        (b"agencies: [\n",
         "body: line 2, column 1: not valid YAML: expected the node content, but found '<stream end>'"),
        (b"\xff\xfe", "body is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ],
)  # fmt: skip
def test_bad_inventory_is_refused_naming_entry_and_key(store, client, body, detail):
    store.load_inventory()
    admin = store.key("admin")
    before = client.get("/api/v1/inventory", headers=admin).json()
    response = client.put("/api/v1/inventory", content=body, headers=admin)
    assert response.json() == {"detail": detail}
    assert response.status_code == (400 if detail.startswith("body is not") else 422)
    assert client.get("/api/v1/inventory", headers=admin).json() == before


def test_agency_key_sees_its_part_of_the_inventory(store, client):
    store.load_inventory()
    doc = client.get("/api/v1/inventory", headers=store.key("viewer", agency="vp-ubnd")).json()
    assert doc["agencies"] == [{"id": "vp-ubnd", "name": "Văn phòng UBND tỉnh"}]
    assert sorted(e["id"] for e in doc["entities"]) == ["edoc", "kiosk-pd-01"]
