"""The status pages in a real browser (Chromium through Playwright): a 390 px phone without sideways scrolling,
a 1080p wall with the services side by side, the 90 daily bars with their tooltips.

Screenshots go to the test's folder, and also to `$IOC_TEST_SCREENSHOTS` when set (docs/screenshots).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from seed import at

from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool
from tests.support import free_port

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
HCM = ZoneInfo("Asia/Ho_Chi_Minh")

PROVINCE = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
  - {id: vp-ubnd, name: "Văn phòng UBND tỉnh"}
  - {id: cong-an, name: "Công an tỉnh", status_page: private}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh", lat: 16.4637, lon: 107.5909}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
entities:
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", agency: so-tttt, site: dc-tinh, interval_s: 300}
  - {kind: service, id: mot-cua, name: "Hệ thống thông tin giải quyết thủ tục hành chính", agency: so-tttt,
     site: dc-tinh, interval_s: 300}
  - {kind: service, id: lgsp, name: "Nền tảng tích hợp, chia sẻ dữ liệu (LGSP)", agency: so-tttt, site: dc-tinh,
     interval_s: 300}
  - {kind: service, id: edoc, name: "Quản lý văn bản điều hành", agency: vp-ubnd, site: dc-tinh, interval_s: 300}
  - {kind: service, id: hop-truc-tuyen, name: "Hội nghị truyền hình trực tuyến", agency: vp-ubnd, site: dc-tinh,
     interval_s: 300}
  - {kind: service, id: ho-so-an-ninh, name: "Hồ sơ an ninh", agency: cong-an, site: dc-tinh, interval_s: 300}
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, agency: so-tttt,
     interval_s: 300}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 300}
"""


@pytest.fixture
def server(store) -> Iterator[tuple[str, float]]:
    now = math.floor(time.time() / 300) * 300 + 10.0
    store.load_inventory(PROVINCE)
    days = 20
    points = [now - days * 86400 + i * 300 for i in range(days * 288)]
    outages = {
        "dvc-portal": [(now - 3 * 86400, now - 3 * 86400 + 3600)],
        "mot-cua": [(now - 9 * 86400, now - 9 * 86400 + 6 * 3600), (now - 86400 + 7200, now - 86400 + 7800)],
        "lgsp": [],
        "edoc": [(now - 15 * 86400, now - 15 * 86400 + 900)],
        "hop-truc-tuyen": [(now - 1200, now + 60)],
        "ho-so-an-ninh": [],
    }
    for ident, spans in outages.items():
        up = [(ts, 0.0 if any(lo <= ts < hi for lo, hi in spans) else 1.0) for ts in points]
        store.samples("service", ident, "up", up)
        store.samples(
            "service", ident, "response_ms", [(ts, 180 + 60 * math.sin(ts / 5400) + (ts % 7) * 9) for ts in points]
        )
        store.seen("service", ident, now - 10)
    store.samples("link", "wan-xa-phu-vang", "up", [(ts, 1.0) for ts in points])
    store.samples("kiosk", "kiosk-pv-01", "cpu_pct", [(ts, 20.0) for ts in points])
    store.seen("link", "wan-xa-phu-vang", now - 10)
    store.seen("kiosk", "kiosk-pv-01", now - 10)
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, agency, summary, pending_since,"
            " starts_at, ends_at) VALUES"
            " ('a', 'service_down', 'critical', 'resolved', 'service', 'dvc-portal', 'so-tttt',"
            "  'Cổng Dịch vụ công tỉnh mất kết nối', %s, %s, %s),"
            " ('b', 'service_down', 'critical', 'firing', 'service', 'hop-truc-tuyen', 'vp-ubnd',"
            "  'Hội nghị truyền hình trực tuyến không phản hồi', %s, %s, NULL)",
            (at(now - 3 * 86400), at(now - 3 * 86400), at(now - 3 * 86400 + 3600), at(now - 1200), at(now - 1200)),
        )
        local = datetime.fromtimestamp(now, HCM) + timedelta(days=2)
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, starts_at, ends_at, created_by, comment) VALUES (%s, %s, %s,"
            " 'test', 'Nâng cấp phiên bản mới')",
            (Jsonb({"entity": "mot-cua"}), local.replace(hour=22, minute=0), local.replace(hour=23, minute=30)),
        )
    pool = make_pool(store.dsn, max_size=2, name="ioc-browser-test")
    pool.open(wait=True)
    app = create_app(
        load_settings(database_url=store.dsn),
        pool=pool,
        registry=CollectorRegistry(),
        readiness={"store": lambda: True},
        clock=lambda: now,
    )
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", now
    srv.should_exit = True
    thread.join(10)
    pool.close()


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shoot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=False)
    target = os.environ.get("IOC_TEST_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / name), full_page=False)


def test_phone_390px_has_no_sideways_scroll(server, browser, tmp_path):
    url, _ = server
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(f"{url}/status/so-tttt")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cards = page.locator("section.card")
    assert cards.count() == 3
    first = cards.nth(0).bounding_box()
    second = cards.nth(1).bounding_box()
    assert first["x"] >= 0 and first["x"] + first["width"] <= 390
    assert second["y"] > first["y"]  # one column
    bars = cards.nth(0).locator(".bar")
    assert bars.count() == 90
    assert all(bars.nth(i).bounding_box()["width"] > 1 for i in (0, 45, 89))
    assert "ngừng" in bars.nth(89).get_attribute("title")
    shoot(page, "status-agency-390.png", tmp_path)
    page.goto(f"{url}/status")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "Hồ sơ an ninh" not in page.content()  # a private agency's service
    shoot(page, "status-province-390.png", tmp_path)


def test_wall_1080p_shows_services_side_by_side(server, browser, tmp_path):
    url, _ = server
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{url}/status")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1920
    cards = page.locator("section.card")
    assert cards.count() == 5
    boxes = [cards.nth(i).bounding_box() for i in range(5)]
    assert len({round(b["y"]) for b in boxes}) < 5  # several per row
    assert all(b["y"] + b["height"] <= 1080 for b in boxes)  # every service visible without scrolling
    assert page.locator(".banner.bad").count() == 1
    assert page.locator(".spark svg polyline").count() == 5
    shoot(page, "status-province-1920.png", tmp_path)
    page.goto(f"{url}/status/vp-ubnd?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Hội nghị truyền hình trực tuyến không phản hồi" in page.content()
    shoot(page, "status-agency-1920-en.png", tmp_path)
