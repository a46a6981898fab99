"""The ingest members page in Debian's Chromium at 1920x1080 and 390x844, with a real running member (an
IngestMember on a private Mosquitto) beside a crashed one and a drained one. Screenshots go to
`$IOC_SCREENSHOTS` when set (`IOC_SCREENSHOTS=docs/screenshots`), otherwise to the test's folder."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from console_helpers import PASSWORD, add_user
from prometheus_client import CollectorRegistry
from seed import Store
from test_console_members import seed_members

from collectors.ingest import IngestService
from collectors.ingest.membership import IngestMember
from ioc.api.app import create_app
from ioc.settings import load_settings
from ioc.store.connect import make_pool
from tests.support import Broker, free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Debian chromium")


def test_members_page_in_the_browser(dsn: str, broker: Broker, tmp_path: Path) -> None:
    store = Store(dsn)
    store.load_inventory()
    add_user(dsn, "Nguyễn Văn An", "operator")
    seed_members(dsn)
    port = free_port()
    settings = load_settings(
        database_url=dsn, mqtt_url=broker.url, http_port=port, spool_dir=tmp_path / "spool",
        mqtt_client_id="ioc-ingest-2", timescaledb="off",
    )  # fmt: skip
    member = IngestMember(settings, IngestService(settings, registry=CollectorRegistry()))
    member.start()
    pool = make_pool(dsn, max_size=2, name="ioc-console-members")
    pool.open(wait=True)
    app = create_app(settings, pool=pool, registry=CollectorRegistry(), readiness={"store": lambda: True})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    shots = Path(os.environ.get("IOC_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        while not server.started:
            time.sleep(0.05)
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for width, height in ((1920, 1080), (390, 844)):
                page = browser.new_context(viewport={"width": width, "height": height}).new_page()
                page.goto(f"http://127.0.0.1:{port}/ui/ingest-members")
                page.get_by_label(re.compile("Tên đăng nhập")).fill("Nguyễn Văn An")
                page.get_by_label(re.compile("Mật khẩu")).fill(PASSWORD)
                page.get_by_role("button", name=re.compile("Đăng nhập")).click()
                page.wait_for_load_state("networkidle")
                assert page.get_by_role("heading", level=1).inner_text() == "Tiến trình thu nhận"
                text = page.locator("main").inner_text()
                assert "ioc-ingest-2" in text and "ioc-ingest-old" in text
                assert re.search(r"2\s+đang chạy", text), text  # ioc-ingest and the real ioc-ingest-2
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"{width}: the page is {scroll} px wide"
                page.screenshot(path=str(shots / f"console-ingest-members-{width}.png"), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
        member.stop()
        pool.close()
