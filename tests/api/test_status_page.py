"""The public status page: Vietnamese, no key, no secrets."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def page(store, make_client):
    now = time.time()
    store.load_inventory()
    store.seen("service", "dvc-portal", now - 5)
    store.seen("service", "mot-cua", now - 5, mqtt_status="offline")
    store.seen("kiosk", "kiosk-pd-01", now - 5)
    store.seen("kiosk", "kiosk-pv-01", now - 600)
    store.seen("kiosk", "kiosk-la-99", now - 600)  # unassigned: not on the public page
    store.samples("service", "dvc-portal", "up", [(now - 3000 + i * 60, 1.0 if i % 4 else 0.0) for i in range(50)])
    return now


def test_status_json(store, make_client, page):
    body = make_client(store.dsn, clock=lambda: page).get("/status.json").json()
    services = {s["id"]: s for s in body["services"]}
    assert set(services) == {"dvc-portal", "mot-cua", "edoc"}
    # 13 of the 50 minutes since its first sample were up = 0.
    assert services["dvc-portal"].pop("uptime_24h_pct") == pytest.approx(100 * 37 / 50, abs=0.5)
    assert services["dvc-portal"] == {
        "id": "dvc-portal",
        "name": "Cổng Dịch vụ công tỉnh",
        "agency": "Sở Thông tin và Truyền thông",
        "status": "ok",
        "status_text": "Hoạt động bình thường",
    }
    assert services["mot-cua"]["status_text"] == "Ngừng hoạt động"
    assert services["edoc"]["uptime_24h_pct"] is None
    assert body["summary"] == {
        "kiosk": {"ok": 1, "down": 1},
        "link": {"unknown": 1},
        "service": {"ok": 1, "down": 1, "unknown": 1},
    }


def test_status_html_in_vietnamese_without_secrets(store, make_client, page):
    response = make_client(store.dsn, clock=lambda: page).get("/status")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.content.decode("utf-8")
    assert '<meta charset="utf-8">' in html
    assert '<html lang="vi">' in html
    for text in (
        "Tình trạng các hệ thống dịch vụ công",
        "Cổng Dịch vụ công tỉnh",
        "Hệ thống thông tin giải quyết thủ tục hành chính",
        "Hoạt động bình thường",
        "Ngừng hoạt động",
        "Sẵn sàng 24 giờ",
        " %",
        "chưa có dữ liệu",
        "Đường truyền",
    ):
        assert text in html, text
    assert "example.gov.vn" not in html  # entity attributes (URLs) stay private
    assert "ioc_" not in html
    assert "kiosk-la-99" not in html


def test_status_html_in_english(store, make_client, page):
    html = make_client(store.dsn, clock=lambda: page, language="en").get("/status").text
    assert '<html lang="en">' in html
    assert "Operational" in html and "Down" in html


def test_names_are_escaped(store, make_client):
    store.load_inventory(
        'agencies: [{id: a, name: "A"}]\nentities:\n'
        '  - {kind: service, id: s1, name: "<script>alert(1)</script> Cổng", agency: a}\n'
    )
    html = make_client(store.dsn).get("/status").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Cổng" in html
