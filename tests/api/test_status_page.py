"""The public status pages (contract section 9): JSON shape, private agencies, Vietnamese first, escaping,
the Atom feed and badges. No key."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb
from seed import INVENTORY, at

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
PRIVATE = INVENTORY.replace(
    '{id: vp-ubnd, name: "Văn phòng UBND tỉnh"}', '{id: vp-ubnd, name: "Văn phòng UBND tỉnh", status_page: private}'
)


@pytest.fixture
def page(store):
    now = math.floor(time.time() / 60) * 60 + 30.0
    store.load_inventory(PRIVATE)
    store.seen("service", "dvc-portal", now - 5)
    store.seen("service", "mot-cua", now - 5, mqtt_status="offline")
    store.seen("service", "edoc", now - 5)
    store.seen("kiosk", "kiosk-pd-01", now - 5)
    store.seen("kiosk", "kiosk-pv-01", now - 600)
    # dvc-portal: every minute for two days; down 30 minutes yesterday (local), response times all along.
    yesterday = datetime.fromtimestamp(now, HCM).date() - timedelta(days=1)
    outage = datetime(yesterday.year, yesterday.month, yesterday.day, 9, 0, tzinfo=HCM).timestamp()
    points = [now - 2 * 86400 + i * 60 for i in range(2 * 1440)]
    store.samples("service", "dvc-portal", "up", [(ts, 0.0 if outage <= ts < outage + 1800 else 1.0) for ts in points])
    store.samples("service", "dvc-portal", "response_ms", [(ts, 200.0 + (ts // 3600) % 7 * 10) for ts in points])
    store.samples("service", "edoc", "up", [(ts, 1.0) for ts in points])
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, agency, summary, pending_since,"
            " starts_at, ends_at) VALUES ('f1', 'service_down', 'critical', 'resolved', 'service', 'dvc-portal',"
            " 'so-tttt', 'Cổng Dịch vụ công tỉnh mất kết nối', %s, %s, %s),"
            " ('f2', 'service_down', 'critical', 'firing', 'service', 'edoc', 'vp-ubnd', 'eDoc mất kết nối', %s, %s,"
            " NULL)",
            (at(outage), at(outage), at(outage + 1800), at(now - 60), at(now - 60)),
        )
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, starts_at, ends_at, created_by, comment) VALUES"
            " (%s, %s, %s, 'test', 'Bảo trì <định kỳ>'), (%s, %s, %s, 'test', 'Đã xong')",
            (Jsonb({"entity": "dvc-portal"}), at(now + 86400), at(now + 90000),
             Jsonb({"entity": "dvc-portal"}), at(now - 3 * 86400 - 3600), at(now - 3 * 86400)),
        )  # fmt: skip
    return now, yesterday


def test_agency_json_has_the_contract_shape(store, make_client, page):
    now, yesterday = page
    body = make_client(store.dsn, clock=lambda: now).get("/status/so-tttt.json").json()
    assert set(body) == {"agency", "updated_at", "services", "incidents", "maintenance"}
    assert body["agency"] == "so-tttt"
    services = {s["id"]: s for s in body["services"]}
    assert set(services) == {"dvc-portal", "mot-cua"}
    portal = services["dvc-portal"]
    assert set(portal) == {"id", "name", "status", "uptime_pct", "days"}
    assert (portal["name"], portal["status"]) == ("Cổng Dịch vụ công tỉnh", "ok")
    assert set(portal["uptime_pct"]) == {"24h", "7d", "30d", "90d"}
    days = portal["days"]
    assert len(days) == 90
    today = datetime.fromtimestamp(now, HCM).date()
    assert days[-1]["date"] == today.isoformat() and days[0]["date"] == (today - timedelta(days=89)).isoformat()
    assert all(set(d) == {"date", "uptime_pct", "down_s", "maintenance_s"} for d in days)
    assert days[0] == {"date": days[0]["date"], "uptime_pct": None, "down_s": 0, "maintenance_s": 0}
    (yday,) = [d for d in days if d["date"] == yesterday.isoformat()]
    assert yday["uptime_pct"] == pytest.approx(100 * (1 - 1800 / 86400), abs=0.01)
    assert yday["down_s"] == pytest.approx(1800, abs=1)
    assert services["mot-cua"]["status"] == "down"
    assert body["incidents"] == [
        {
            "id": 1,
            "title": "Cổng Dịch vụ công tỉnh mất kết nối",
            "services": ["dvc-portal"],
            "started_at": pytest.approx(body["incidents"][0]["started_at"]),
            "ended_at": body["incidents"][0]["ended_at"],
            "duration_s": 1800,
        }
    ]
    # Only the coming window; the past one is over.
    assert [(m["services"], m["comment"]) for m in body["maintenance"]] == [(["dvc-portal"], "Bảo trì <định kỳ>")]


def test_province_json_leaves_private_agencies_out(store, make_client, page):
    now, _ = page
    client = make_client(store.dsn, clock=lambda: now)
    body = client.get("/status.json").json()
    assert body["agency"] is None
    assert {s["id"] for s in body["services"]} == {"dvc-portal", "mot-cua"}  # edoc's agency is private
    assert [i["services"] for i in body["incidents"]] == [["dvc-portal"]]
    assert client.get("/status/vp-ubnd.json").status_code == 404
    assert client.get("/status/vp-ubnd").status_code == 404
    assert client.get("/status/badge/service/edoc.svg").status_code == 404
    assert client.get("/status/khong-co.json").json() == {"detail": "unknown agency khong-co"}


def test_html_is_vietnamese_first_escaped_and_english_on_request(store, make_client, page):
    now, _ = page
    client = make_client(store.dsn, clock=lambda: now)
    response = client.get("/status/so-tttt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert '<html lang="vi">' in html
    for text in ("Cổng Dịch vụ công tỉnh", "Ngừng hoạt động", "Sự cố trong 90 ngày qua", "kéo dài 30 phút", "<svg"):
        assert text in html, text
    assert html.count('class="bar ') == 2 * 90
    assert "Bảo trì &lt;định kỳ&gt;" in html and "<định kỳ>" not in html
    assert "example.gov.vn" not in html  # entity attributes (URLs) stay private
    english = client.get("/status/so-tttt?lang=en").text
    assert '<html lang="en">' in english and "Operational" in english and "lasted 30 min" in english
    bad = client.get("/status?lang=fr")
    assert (bad.status_code, bad.json()) == (
        422,
        {"detail": "query parameter 'lang': unknown language 'fr' (expected vi or en)"},
    )
    province = client.get("/status").text
    assert "Văn phòng UBND tỉnh" not in province and "/status/so-tttt?lang=vi" in province


def test_names_are_escaped(store, make_client):
    store.load_inventory(
        'agencies: [{id: a, name: "A"}]\nentities:\n'
        '  - {kind: service, id: s1, name: "<script>alert(1)</script> Cổng", agency: a}\n'
    )
    html = make_client(store.dsn).get("/status").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Cổng" in html


def test_atom_feed_lists_incidents_and_maintenance(store, make_client, page):
    now, _ = page
    response = make_client(store.dsn, clock=lambda: now).get("/status/so-tttt/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ElementTree.fromstring(response.content)
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert titles == ["Bảo trì đang diễn ra và sắp tới: Cổng Dịch vụ công tỉnh", "Cổng Dịch vụ công tỉnh mất kết nối"]


def test_badge(store, make_client, page):
    now, _ = page
    client = make_client(store.dsn, clock=lambda: now)
    response = client.get("/status/badge/service/dvc-portal.svg?period=24h")
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    with psycopg.connect(store.dsn) as conn:
        from ioc.store.uptime import uptimes

        want = uptimes(conn, ["service/dvc-portal"], now, periods=("24h",))["service/dvc-portal"].uptime_pct["24h"]
    assert f"uptime 24h: {want:.2f}%" in response.text
    ElementTree.fromstring(response.content)
    bad = client.get("/status/badge/service/dvc-portal.svg?period=1y")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("query parameter 'period'")
    assert client.get("/status/badge/service/nope.svg").status_code == 404


def test_a_status_document_is_computed_at_most_once_per_30_s(store, make_client, page):
    now, _ = page
    clock = [now]
    client = make_client(store.dsn, clock=lambda: clock[0])
    first = client.get("/status/so-tttt.json").json()["updated_at"]
    clock[0] = now + 10
    assert client.get("/status/so-tttt.json").json()["updated_at"] == first
    clock[0] = now + 31
    assert client.get("/status/so-tttt.json").json()["updated_at"] != first
