"""The SLA report's HTML in a real browser (Chromium through Playwright): printed to A4 it keeps every column
inside the page, on a 390 px phone nothing scrolls sideways, on a 1080p screen it reads as a document.

Screenshots go to the test's folder, and also to `$IOC_TEST_SCREENSHOTS` when set (docs/screenshots).
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from seed import INVENTORY, Store

from ioc.reports.sla import build, month_bounds, to_html
from ioc.store.queries import agency_names

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
TZ = "Asia/Ho_Chi_Minh"
A4_PT = (595.0, 842.0)  # 210 x 297 mm in PDF points


@pytest.fixture
def report_html(dsn) -> str:
    store = Store(dsn)
    store.load_inventory(INVENTORY)
    now = time.time()
    month = datetime.fromtimestamp(now, ZoneInfo(TZ)).strftime("%Y-%m")
    _, start, _ = month_bounds(month, TZ)
    if now - start < 6 * 3600:
        pytest.skip("too early in the month for six hours of history")
    points = [start + i * 300 for i in range(int((now - start) // 300))]
    outage = start + 3600
    store.samples("service", "dvc-portal", "up", [(t, 0.0 if outage <= t < outage + 5400 else 1.0) for t in points])
    store.samples("service", "edoc", "up", [(t, 1.0) for t in points])
    store.samples("link", "wan-xa-phu-vang", "up", [(t, 1.0) for t in points])
    store.samples("service", "mot-cua", "dossiers_received_total", [(t, float(i)) for i, t in enumerate(points)])
    store.samples("service", "mot-cua", "dossiers_online_total", [(t, float(i // 2)) for i, t in enumerate(points)])
    with store.connect() as conn:
        report = build(conn, month, agency=None, timezone=TZ, now=now)
        return to_html(report, TZ, agency_names(conn))


def _save(page, name: str, tmp_path: Path) -> None:
    extra = os.environ.get("IOC_TEST_SCREENSHOTS")
    for folder in [tmp_path, *([Path(extra)] if extra else [])]:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=True)


def test_the_report_prints_on_a4_and_reads_on_a_phone(report_html, tmp_path):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.set_content(report_html, wait_until="load")
            _save(page, "sla-report-1920.png", tmp_path)
            pdf = page.pdf(format="A4", print_background=True)
            sizes = [tuple(float(v) for v in m) for m in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)]
            assert sizes and all(abs(w - A4_PT[0]) < 1 and abs(h - A4_PT[1]) < 1 for w, h in sizes)
            (tmp_path / "sla-report.pdf").write_bytes(pdf)
            # The printed page: A4 at 96 dpi less the 12 mm margins, with the print styles.
            page.emulate_media(media="print")
            page.set_viewport_size({"width": 703, "height": 1030})
            assert page.evaluate("document.documentElement.scrollWidth") <= 703
            _save(page, "sla-report-a4.png", tmp_path)
            page.emulate_media(media="screen")
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            _save(page, "sla-report-390.png", tmp_path)
        finally:
            browser.close()
