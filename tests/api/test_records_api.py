"""GET /api/v1/audit, /dead-letters and /events: paged, newest first, scoped by the key's agency."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from seed import Store, at


def _dead_letter(store: Store, topic: str, payload: bytes, reason: str = "not_json") -> None:
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO dead_letters (topic, payload, reason, detail) VALUES (%s, %s, %s, 'bad')",
            (topic, payload, reason),
        )


def _event(store: Store, kind: str, entity: str, ts: float, message: str) -> None:
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO events (kind, entity, ts, type, severity, message, attrs) VALUES (%s, %s, %s, 'door', "
            "'warning', %s, %s)",
            (kind, entity, at(ts), message, Jsonb({"n": 1})),
        )


def test_dead_letters_paged_and_scoped(store: Store, client: TestClient) -> None:
    store.load_inventory()
    _dead_letter(store, "ioc/v1/metrics/kiosk/kiosk-pv-01", b'{"a": "Ph\xc3\xba"}\x00\xff<b>')  # so-tttt
    _dead_letter(store, "ioc/v1/metrics/kiosk/kiosk-pd-01", b"x")  # vp-ubnd
    _dead_letter(store, "garbage", b"y", reason="bad_topic")
    admin = store.key("admin")
    page1 = client.get("/api/v1/dead-letters?limit=2", headers=admin).json()
    assert [d["id"] for d in page1] == [3, 2]
    page2 = client.get(f"/api/v1/dead-letters?limit=2&before_id={page1[-1]['id']}", headers=admin).json()
    assert [d["id"] for d in page2] == [1]
    (first,) = page2
    assert first["payload"] == '{"a": "Phú"}\\x00\\xff<b>'
    assert base64.b64decode(first["payload_base64"]) == b'{"a": "Ph\xc3\xba"}\x00\xff<b>'
    assert (first["kind"], first["entity"], first["size"], first["truncated"]) == ("kiosk", "kiosk-pv-01", 18, False)
    bound = client.get("/api/v1/dead-letters", headers=store.key("viewer", "so-tttt")).json()
    assert [d["id"] for d in bound] == [1]
    assert [d["id"] for d in client.get("/api/v1/dead-letters?reason=bad_topic", headers=admin).json()] == [3]
    assert client.get("/api/v1/dead-letters?limit=0", headers=admin).status_code == 422
    assert client.get("/api/v1/dead-letters").status_code == 401


def test_events_paged_and_scoped(store: Store, client: TestClient) -> None:
    store.load_inventory()
    _event(store, "kiosk", "kiosk-pv-01", 1_800_000_000, "Cửa kiosk mở")
    _event(store, "kiosk", "kiosk-pd-01", 1_800_000_001, "Hết giấy in")
    admin = store.key("admin")
    assert [e["message"] for e in client.get("/api/v1/events", headers=admin).json()] == ["Hết giấy in", "Cửa kiosk mở"]
    bound = client.get("/api/v1/events", headers=store.key("viewer", "vp-ubnd")).json()
    assert [(e["entity"], e["ts"]) for e in bound] == [("kiosk-pd-01", "2027-01-15T08:00:01.000Z")]
    assert client.get("/api/v1/events?before_id=1", headers=admin).json() == []
    assert client.get("/api/v1/events?entity=kiosk-pv-01", headers=admin).json()[0]["attrs"] == {"n": 1}


def test_audit_paged_and_scoped(store: Store, client: TestClient) -> None:
    store.load_inventory()
    store.alert("kiosk", "kiosk-pv-01")
    with store.connect() as conn:
        conn.execute("UPDATE alerts SET agency = 'so-tttt'")
    operator = store.key("operator")  # audited as key.create
    assert client.post("/api/v1/alerts/1/ack", json={"comment": "đã gọi"}, headers=operator).status_code == 200
    bound = store.key("operator", "vp-ubnd")
    window = {"matchers": {"agency": "vp-ubnd"}, "weekdays": [7], "start_time": "22:00", "duration": "2h"}
    assert client.post("/api/v1/maintenance-windows", json=window, headers=bound).status_code == 201
    admin = store.key("admin")
    everything = client.get("/api/v1/audit", headers=admin).json()
    assert [a["action"] for a in everything] == ["key.create", "maintenance.create", "key.create", "alert.ack",
                                                  "key.create"]  # fmt: skip
    assert everything[3]["actor"] == "test-operator" and everything[3]["target"] == "alert/1"
    scoped = client.get("/api/v1/audit", headers=store.key("viewer", "so-tttt")).json()
    assert [a["action"] for a in scoped] == ["key.create", "alert.ack"]  # its own key and its alert's ack
    scoped = client.get("/api/v1/audit", headers=store.key("viewer", "vp-ubnd")).json()
    assert [a["action"] for a in scoped] == ["key.create", "maintenance.create", "key.create"]
    assert [a["id"] for a in client.get("/api/v1/audit?limit=1&before_id=4", headers=admin).json()] == [3]
    assert client.get("/api/v1/audit?action=alert.ack", headers=admin).json()[0]["detail"]["comment"] == "đã gọi"


def test_nul_characters_in_bodies_are_refused_clearly(store: Store, client: TestClient) -> None:
    store.load_inventory()
    store.alert("kiosk", "kiosk-pv-01")
    operator = store.key("operator")
    ack = client.post("/api/v1/alerts/1/ack", json={"comment": "a\u0000b"}, headers=operator)
    assert ack.status_code == 422 and ack.json() == {"detail": "body field 'comment': holds a NUL character (\\u0000)"}
    body = {"matchers": {"site": "x\u0000"}, "ends_at": "2099-01-01T00:00:00Z"}
    silence = client.post("/api/v1/silences", json=body, headers=operator)
    assert silence.json() == {"detail": "body field 'matchers.site': holds a NUL character (\\u0000)"}
    assert client.get("/api/v1/alerts/1", headers=operator).json()["acked_by"] is None
