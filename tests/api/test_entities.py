"""GET /api/v1/entities: status per contract section 4, filters, unassigned entities, agency scoping."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def province(store):
    """The test inventory with a mix of states, at a fixed `now`."""
    now = time.time()
    store.load_inventory()
    store.seen("link", "wan-xa-phu-vang", now - 120)  # silent past its 30 s heartbeat: down
    store.seen("kiosk", "kiosk-pv-01", now - 120)  # down behind the link: unreachable
    store.seen("kiosk", "kiosk-pd-01", now - 5)  # fine, but with a firing alert: degraded
    store.alert("kiosk", "kiosk-pd-01", "warning")
    store.seen("service", "dvc-portal", now - 10)  # ok
    store.seen("service", "mot-cua", now - 10, mqtt_status="offline")  # down, but silenced: maintenance
    store.silence({"entity": "mot-cua"}, now - 60, now + 3600)
    store.seen("kiosk", "kiosk-la-99", now - 3)  # heard on the wire only: unassigned
    return now


def by_ref(items):
    return {f"{e['kind']}/{e['id']}": e for e in items}


def test_lists_every_entity_with_its_status(store, make_client, province):
    client = make_client(store.dsn, clock=lambda: province)
    response = client.get("/api/v1/entities", headers=store.key("viewer"))
    assert response.status_code == 200
    entities = by_ref(response.json())
    assert {ref: e["status"] for ref, e in entities.items()} == {
        "link/wan-xa-phu-vang": "down",
        "kiosk/kiosk-pv-01": "unreachable",
        "kiosk/kiosk-pd-01": "degraded",
        "kiosk/kiosk-la-99": "ok",
        "service/dvc-portal": "ok",
        "service/mot-cua": "maintenance",
        "service/edoc": "unknown",
    }
    pv = entities["kiosk/kiosk-pv-01"]
    assert pv["name"] == "Kiosk lấy số 01"
    assert (pv["site"], pv["agency"], pv["assigned"]) == ("xa-phu-vang", "so-tttt", True)
    assert pv["last_seen"].endswith("Z")
    assert abs(time.mktime(time.strptime(pv["last_seen"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
               - (province - 120)) < 1  # fmt: skip
    assert entities["service/edoc"]["last_seen"] is None
    unassigned = entities["kiosk/kiosk-la-99"]
    assert (unassigned["assigned"], unassigned["name"], unassigned["agency"]) == (False, None, None)
    # Vietnamese survives the wire byte for byte.
    assert "Kiosk lấy số 01".encode() in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=kiosk", {"kiosk/kiosk-pv-01", "kiosk/kiosk-pd-01", "kiosk/kiosk-la-99"}),
        ("site=xa-phu-vang", {"link/wan-xa-phu-vang", "kiosk/kiosk-pv-01"}),
        ("agency=vp-ubnd", {"kiosk/kiosk-pd-01", "service/edoc"}),
        ("status=down", {"link/wan-xa-phu-vang"}),
        ("status=down,unreachable", {"link/wan-xa-phu-vang", "kiosk/kiosk-pv-01"}),
        ("assigned=false", {"kiosk/kiosk-la-99"}),
        ("kind=service&status=ok", {"service/dvc-portal"}),
        ("kind=service&agency=so-tttt", {"service/dvc-portal", "service/mot-cua"}),
    ],
)
def test_filters(store, make_client, province, query, expected):
    client = make_client(store.dsn, clock=lambda: province)
    response = client.get(f"/api/v1/entities?{query}", headers=store.key("viewer"))
    assert response.status_code == 200
    assert set(by_ref(response.json())) == expected


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("kind=printer", "query parameter 'kind': Input should be 'kiosk', 'link' or 'service'"),
        ("status=broken", "query parameter 'status': unknown status broken (expected ok, degraded, down, "
                          "unreachable, maintenance, unknown)"),
        ("assigned=perhaps", "query parameter 'assigned': Input should be a valid boolean, unable to interpret "
                             "input"),
    ],
)  # fmt: skip
def test_bad_filters_are_422_naming_the_parameter(store, client, query, detail):
    response = client.get(f"/api/v1/entities?{query}", headers=store.key("viewer"))
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_agency_key_sees_only_its_agency(store, make_client, province):
    client = make_client(store.dsn, clock=lambda: province)
    headers = store.key("viewer", agency="vp-ubnd")
    assert set(by_ref(client.get("/api/v1/entities", headers=headers).json())) == {
        "kiosk/kiosk-pd-01",
        "service/edoc",
    }
    assert client.get("/api/v1/entities?agency=so-tttt", headers=headers).json() == []
    assert client.get("/api/v1/entities/kiosk/kiosk-pd-01", headers=headers).status_code == 200
    other = client.get("/api/v1/entities/kiosk/kiosk-pv-01", headers=headers)
    assert other.status_code == 404
    assert other.json() == {"detail": "unknown entity kiosk/kiosk-pv-01"}


def test_one_entity(store, make_client, province):
    client = make_client(store.dsn, clock=lambda: province)
    body = client.get("/api/v1/entities/service/dvc-portal", headers=store.key("viewer")).json()
    assert body["status"] == "ok"
    assert body["name"] == "Cổng Dịch vụ công tỉnh"
    assert body["system"] == "dvc_portal"
    missing = client.get("/api/v1/entities/service/nope", headers=store.key("viewer"))
    assert (missing.status_code, missing.json()) == (404, {"detail": "unknown entity service/nope"})


def test_status_follows_the_clock(store, make_client):
    """The same stored facts read at two times: ok while fresh, down once the heartbeat lapses."""
    t0 = 1_800_000_000.0
    store.load_inventory()
    store.seen("kiosk", "kiosk-pd-01", t0)
    headers = store.key("viewer")
    fresh = make_client(store.dsn, clock=lambda: t0 + 30)
    stale = make_client(store.dsn, clock=lambda: t0 + 31)
    assert fresh.get("/api/v1/entities/kiosk/kiosk-pd-01", headers=headers).json()["status"] == "ok"
    assert stale.get("/api/v1/entities/kiosk/kiosk-pd-01", headers=headers).json()["status"] == "down"
