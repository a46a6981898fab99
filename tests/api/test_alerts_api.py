"""/api/v1 alerts, ack, silences and maintenance windows on the real app and store."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

NOW = time.time()


def add_alert(dsn: str, *, entity: str, agency: str, state: str = "firing", rule: str = "kiosk_down") -> int:
    labels = {"alertname": rule, "severity": "critical", "kind": "kiosk", "entity": entity, "agency": agency}
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            """
            INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, agency, labels, annotations,
                                summary, pending_since, starts_at, ends_at)
            VALUES (%s, %s, 'critical', %s, 'kiosk', %s, %s, %s, %s, %s, now(), now(),
                    CASE WHEN %s = 'resolved' THEN now() END)
            RETURNING id
            """,
            (
                f"fp-{entity}-{state}", rule, state, entity, agency, Jsonb(labels),
                Jsonb({"summary": f"{entity} mất kết nối"}), f"Kiosk lấy số 01 – UBND xã Phú Vang ({entity})",
                state,
            ),
        ).fetchone()  # fmt: skip
    return row[0]


def audit_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT actor, action, target, detail FROM audit_log WHERE action <> 'key.create'"
        ).fetchall()


def test_list_alerts_by_state_with_contract_fields(store, client):
    store.load_inventory()
    viewer = store.key("viewer")
    firing = add_alert(store.dsn, entity="kiosk-pv-01", agency="so-tttt")
    resolved = add_alert(store.dsn, entity="kiosk-pd-01", agency="vp-ubnd", state="resolved")
    r = client.get("/api/v1/alerts", headers=viewer)
    assert r.status_code == 200
    assert [a["id"] for a in r.json()] == [firing]
    alert = r.json()[0]
    assert {"id", "rule", "severity", "state", "summary", "labels", "starts_at", "ends_at", "acked_by"} <= set(alert)
    assert alert["summary"] == "Kiosk lấy số 01 – UBND xã Phú Vang (kiosk-pv-01)"
    assert alert["labels"]["alertname"] == "kiosk_down" and alert["ends_at"] is None
    assert alert["starts_at"].endswith("Z")
    r = client.get("/api/v1/alerts?state=pending,firing,resolved", headers=viewer)
    assert sorted(a["id"] for a in r.json()) == sorted([firing, resolved])
    r = client.get("/api/v1/alerts?state=burning", headers=viewer)
    assert r.status_code == 422
    assert r.json() == {"detail": "query parameter 'state': unknown state burning (expected pending, firing, resolved)"}


def test_agency_key_sees_only_its_alerts(store, client):
    store.load_inventory()
    mine = add_alert(store.dsn, entity="kiosk-pv-01", agency="so-tttt")
    other = add_alert(store.dsn, entity="kiosk-pd-01", agency="vp-ubnd")
    key = store.key("operator", agency="so-tttt")
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=key).json()] == [mine]
    r = client.post(f"/api/v1/alerts/{other}/ack", json={"by": "an", "comment": "x"}, headers=key)
    assert r.status_code == 404 and r.json() == {"detail": f"unknown alert {other}"}


def test_ack_needs_an_operator_and_is_audited(store, client):
    store.load_inventory()
    alert_id = add_alert(store.dsn, entity="kiosk-pv-01", agency="so-tttt")
    body = {"by": "Nguyễn Văn An", "comment": "Đã cử kỹ thuật viên xuống xã Phú Vang"}
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", json=body, headers=store.key("viewer"))
    assert r.status_code == 403 and r.json() == {"detail": "this needs a key with the operator role"}
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", json=body, headers=store.key("operator"))
    assert r.status_code == 200
    assert r.json()["acked_by"] == "Nguyễn Văn An"
    assert r.json()["ack_comment"] == "Đã cử kỹ thuật viên xuống xã Phú Vang"
    assert audit_rows(store.dsn) == [
        ("test-operator", "alert.ack", f"alert/{alert_id}", {**body, "rule": "kiosk_down"}),
    ]
    assert client.post("/api/v1/alerts/999999/ack", json=body, headers=store.key("operator")).status_code == 404
    resolved = add_alert(store.dsn, entity="kiosk-pd-01", agency="vp-ubnd", state="resolved")
    r = client.post(f"/api/v1/alerts/{resolved}/ack", json=body, headers=store.key("operator"))
    assert r.status_code == 409
    assert r.json() == {"detail": f"alert {resolved} is resolved; there is nothing to acknowledge"}


def test_silences_create_list_expire_with_audit(store, client):
    store.load_inventory()
    operator = store.key("operator")
    body = {
        "matchers": {"site": "xa-phu-vang", "alertname": "kiosk_down"},
        "starts_at": "2026-01-01T00:00:00+07:00",
        "ends_at": "2099-01-01T00:00:00+07:00",
        "created_by": "Trần Thị Bình",
        "comment": "Cắt điện theo lịch ở xã Phú Vang",
    }
    r = client.post("/api/v1/silences", json=body, headers=operator)
    assert r.status_code == 201, r.text
    silence = r.json()
    assert silence["state"] == "active" and silence["created_by"] == "Trần Thị Bình"
    assert silence["starts_at"] == "2025-12-31T17:00:00.000Z"
    listed = client.get("/api/v1/silences", headers=store.key("viewer")).json()
    assert [s["id"] for s in listed] == [silence["id"]]
    r = client.delete(f"/api/v1/silences/{silence['id']}", headers=operator)
    assert r.status_code == 200 and r.json()["state"] == "expired"
    assert client.get("/api/v1/silences", headers=operator).json() == []
    assert [s["id"] for s in client.get("/api/v1/silences?state=expired", headers=operator).json()] == [silence["id"]]
    actions = [(a[1], a[2]) for a in audit_rows(store.dsn)]
    assert actions == [("silence.create", f"silence/{silence['id']}"), ("silence.expire", f"silence/{silence['id']}")]
    assert audit_rows(store.dsn)[0][3]["comment"] == "Cắt điện theo lịch ở xã Phú Vang"


def test_silence_errors_name_what_is_wrong(store, client):
    store.load_inventory()
    operator = store.key("operator")
    good = {"matchers": {"site": "x"}, "ends_at": "2099-01-01T00:00:00Z", "created_by": "a", "comment": ""}
    cases = [
        ({**good, "matchers": {}}, 422, "matchers"),
        ({**good, "ends_at": "2000-01-01T00:00:00Z"}, 422, "ends_at is in the past"),
        ({**good, "starts_at": "2099-02-01T00:00:00Z"}, 422, "ends_at must be after starts_at"),
        ({**good, "ends_at": "2099-01-01T00:00:00"}, 422, "ends_at"),
    ]
    for body, code, fragment in cases:
        r = client.post("/api/v1/silences", json=body, headers=operator)
        assert r.status_code == code, (body, r.text)
        assert fragment in r.json()["detail"], r.json()
    r = client.post("/api/v1/silences", json=good, headers=store.key("viewer"))
    assert r.status_code == 403
    r = client.post("/api/v1/silences", json=good, headers=store.key("operator", agency="so-tttt"))
    assert r.status_code == 403
    assert r.json() == {"detail": "a key bound to agency 'so-tttt' needs the matcher agency=so-tttt"}


def test_maintenance_windows_crud(store, client):
    store.load_inventory()
    operator = store.key("operator")
    body = {
        "matchers": {"site": "dc-tinh"},
        "weekdays": [7],
        "start_time": "22:00",
        "duration": "2h",
        "comment": "Bảo trì định kỳ trung tâm dữ liệu",
    }
    r = client.post("/api/v1/maintenance-windows", json=body, headers=operator)
    assert r.status_code == 201, r.text
    window = r.json()
    assert (window["weekdays"], window["start_time"], window["duration_s"]) == ([7], "22:00", 7200.0)
    assert window["created_by"] == "test-operator"
    assert [w["id"] for w in client.get("/api/v1/maintenance-windows", headers=operator).json()] == [window["id"]]
    r = client.post("/api/v1/maintenance-windows", json={**body, "weekdays": [8]}, headers=operator)
    assert r.status_code == 422 and "ISO weekdays" in r.json()["detail"]
    assert client.delete(f"/api/v1/maintenance-windows/{window['id']}", headers=operator).status_code == 204
    assert client.get("/api/v1/maintenance-windows", headers=operator).json() == []
    assert client.delete(f"/api/v1/maintenance-windows/{window['id']}", headers=operator).status_code == 404


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"starts_at": "2026-11-29T22:00:00+07:00"}, "body field 'ends_at': Field required for a one-off window"),
        (
            {"starts_at": "2026-11-29T22:00:00+07:00", "ends_at": "2026-11-29T21:00:00+07:00"},
            "body field 'ends_at': must be after starts_at",
        ),
        (
            {"starts_at": "2026-11-29T22:00:00+07:00", "ends_at": "2026-11-30T01:00:00+07:00", "weekdays": [7]},
            "body field 'weekdays': not with starts_at, ends_at (a window is recurring or one-off)",
        ),
        ({"weekdays": [7], "start_time": "22:00"}, "body field 'duration': Field required for a recurring window"),
        ({}, "body: give weekdays, start_time and duration (recurring) or starts_at and ends_at (one-off)"),
        ({"starts_at": "2026-11-29T22:00:00", "ends_at": "2026-11-30T01:00:00+07:00"}, "body field 'starts_at'"),
    ],
)
def test_maintenance_window_form_errors_name_the_field(store, client, extra, detail):
    body = {"matchers": {"entity": "dvc-portal"}, "comment": "x", **extra}
    r = client.post("/api/v1/maintenance-windows", json=body, headers=store.key("operator"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith(detail)


def test_one_off_window_in_the_past_is_accepted(store, client):
    body = {
        "matchers": {"entity": "dvc-portal"},
        "starts_at": "2026-11-29T22:00:00+07:00",
        "ends_at": "2026-11-30T01:00:00+07:00",
        "created_by": "Trần Thị Bình",
        "comment": "Nâng cấp Cổng Dịch vụ công (ghi nhận muộn)",
    }
    r = client.post("/api/v1/maintenance-windows", json=body, headers=store.key("operator"))
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["starts_at"], got["ends_at"], got["weekdays"], got["duration_s"]) == (
        "2026-11-29T15:00:00.000Z", "2026-11-29T18:00:00.000Z", None, None
    )  # fmt: skip
