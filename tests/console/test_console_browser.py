"""The console in a real browser (Playwright driving Debian's Chromium) against the real service: ingest and
alerting on a private Mosquitto and the test store, the API under uvicorn on a free port, a webhook receiver.

From the page on the phone to the ack: a kiosk's Last Will fires kiosk_down, the webhook's alert id opens
`/ui/alerts/{id}` (the link the notifier sends), the operator logs in, acknowledges with a comment, and the
API shows `acked_by`; a silence of the site mutes its next alert; an agency-bound user sees only its agency;
a viewer has no ack button and a forged post is refused.

Screenshots of each page at 1920x1080 and 390x844 go to `$IOC_SCREENSHOTS` when it is set
(`IOC_SCREENSHOTS=docs/screenshots`), otherwise to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
import uvicorn
from console_helpers import PASSWORD, add_user
from prometheus_client import CollectorRegistry
from seed import Store

from ioc.api.app import create_app
from ioc.runtime import build_services
from ioc.settings import Settings, load_settings
from ioc.store.connect import make_pool
from tests.support import Broker, free_port, mqtt_client, publish

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]  # fmt: skip
P = "ioc/v1"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1920, "height": 1080}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Debian chromium (apt-get install chromium)"),
]


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.bodies.append(orjson.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a for body in self.bodies for a in body["alerts"]]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [a for a in self.alerts() if predicate(a)]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no such webhook alert; got {self.alerts()}")


class Live:
    """Ingest and alerting as `ioc run --role ingest --role alerts` wires them, and the API under uvicorn."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool = make_pool(settings.database_url, max_size=6, name="ioc-console-live")
        self.pool.open(wait=True)
        self.services, (self.checks, _) = build_services(settings, {"ingest", "alerts"}, self.pool, CollectorRegistry())
        for service in self.services:
            service.start()
        app = create_app(settings, pool=self.pool, registry=CollectorRegistry(), readiness={"store": lambda: True})
        config = uvicorn.Config(app, host="127.0.0.1", port=settings.http_port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not (self.server.started and self.checks["broker"]()):
            assert time.monotonic() < deadline, "the API or ingest did not start"
            time.sleep(0.05)
        time.sleep(0.3)  # the SUBACK
        self.url = settings.public_url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        for service in reversed(self.services):
            service.stop()
        self.pool.close()


def die(c: mqtt.Client) -> None:
    """Power loss: no DISCONNECT, so the broker publishes the Last Will."""
    c.loop_stop()
    c.socket().close()  # type: ignore[union-attr]


@pytest.fixture
def live(dsn: str, broker: Broker, tmp_path: Path) -> Iterator[tuple[Live, Receiver, Store]]:
    store = Store(dsn)
    store.load_inventory()
    add_user(dsn, "Nguyễn Văn An", "operator")
    add_user(dsn, "Lê Thị Xem", "viewer")
    add_user(dsn, "Phạm UBND", "operator", agency="vp-ubnd")
    add_user(dsn, "Quản trị", "admin")
    port = free_port()
    receiver = Receiver()
    settings = load_settings(
        database_url=dsn, mqtt_url=broker.url, http_port=port, public_url=f"http://127.0.0.1:{port}",
        spool_dir=tmp_path / "spool", mqtt_client_id=f"ioc-console-{os.getpid()}-{time.monotonic_ns()}",
        timescaledb="off", alert_webhook_urls=receiver.url, alert_group_wait_s=0.3, alert_tick_s=0.05,
        alert_topology_hold_s=0.5,
    )  # fmt: skip
    running = Live(settings)
    yield running, receiver, store
    running.stop()
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("IOC_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page: Any, name: str) -> None:
    assert "/ui/login" in page.url
    page.get_by_label(re.compile("Tên đăng nhập|User name")).fill(name)
    page.get_by_label(re.compile("Mật khẩu|Password")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Đăng nhập|Log in")).click()
    page.wait_for_load_state()


def alert_id_of(webhook_alert: dict[str, Any]) -> int:
    """The alert's id from the link the webhook carries (`/ui/alerts/{id}`, or the API's `?id=` before it)."""
    match = re.search(r"(?:/ui/alerts/|[?&]id=)(\d+)", webhook_alert["generatorURL"])
    assert match, webhook_alert["generatorURL"]
    return int(match.group(1))


def no_overflow(page: Any) -> None:
    """Nothing wider than the window: a phone never scrolls sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > "
        "document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + "
        "Math.round(e.getBoundingClientRect().right))"
    )
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide: {wide}"


def test_from_page_to_ack_in_the_browser(live: tuple[Live, Receiver, Store], browser: Any, shots: Path) -> None:
    service, receiver, store = live
    operator_key = store.key("operator")

    # A kiosk reports for a while (an event, a bad message too), then loses power.
    kiosk = mqtt_client(service.settings.mqtt_url, "kiosk-pv-01", will=f"{P}/status/kiosk/kiosk-pv-01")
    publish(kiosk, f"{P}/status/kiosk/kiosk-pv-01", b"online", retain=True)
    now = time.time()
    history = [{"ts": now - 1800 + i * 60, "metrics": {"up": 1, "cpu_pct": 20.0 + (i % 7) * 3}} for i in range(30)]
    publish(kiosk, f"{P}/metrics/kiosk/kiosk-pv-01", orjson.dumps(history))
    event = {"ts": now - 30, "type": "door_open", "severity": "warning", "message": "Cửa tủ kiosk bị mở"}
    publish(kiosk, f"{P}/events/kiosk/kiosk-pv-01", orjson.dumps(event))
    publish(kiosk, f"{P}/metrics/kiosk/kiosk-pv-01", b'<script>alert("x")</script>\x00\xff')
    time.sleep(0.5)
    die(kiosk)
    paged = receiver.wait_for(lambda a: a["labels"]["alertname"] == "kiosk_down" and a["status"] == "firing")
    alert_id = alert_id_of(paged)
    link = f"{service.url}/ui/alerts/{alert_id}"  # what the notifier's generatorURL becomes

    # The on-call operator opens the link on the phone: the login form, then the alert itself.
    phone = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = phone.new_page()
    page.goto(link)
    assert "/ui/login?next=%2Fui%2Falerts%2F" in page.url
    page.screenshot(path=str(shots / "console-login-390.png"), full_page=True)
    log_in(page, "Nguyễn Văn An")
    assert page.url == link
    assert page.get_by_role("heading", level=1).inner_text().endswith("Kiosk lấy số 01 mất kết nối")
    no_overflow(page)
    page.get_by_label("Ghi chú (không bắt buộc)").fill("Đã báo kỹ thuật viên xã")
    page.get_by_role("button", name="Xác nhận", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Đã xác nhận cảnh báo."
    assert "Nguyễn Văn An" in page.locator("#acked-by").inner_text()
    api = page.request.get(f"{service.url}/api/v1/alerts?state=firing", headers=operator_key).json()
    (acked,) = [a for a in api if a["id"] == alert_id]
    assert (acked["acked_by"], acked["ack_comment"]) == ("Nguyễn Văn An", "Đã báo kỹ thuật viên xã")
    audit = page.request.get(f"{service.url}/api/v1/audit?action=alert.ack", headers=operator_key).json()
    assert [(a["actor"], a["target"]) for a in audit] == [("Nguyễn Văn An", f"alert/{alert_id}")]

    # Silence the whole site for 4 hours from the alert; the site's next alert sends nothing.
    page.get_by_label(re.compile("Cả điểm")).check()
    page.get_by_role("button", name="4 giờ").click()
    page.wait_for_load_state()
    assert "Tạm tắt thông báo" in page.locator(".timeline").inner_text()
    page.screenshot(path=str(shots / "console-alert-390.png"), full_page=True)
    link_probe = mqtt_client(service.settings.mqtt_url, "probe-link")
    publish(link_probe, f"{P}/status/link/wan-xa-phu-vang", b"offline", retain=True)
    other = mqtt_client(service.settings.mqtt_url, "kiosk-pd-01", will=f"{P}/status/kiosk/kiosk-pd-01")
    publish(other, f"{P}/status/kiosk/kiosk-pd-01", b"online", retain=True)
    time.sleep(0.3)
    die(other)  # another site, not silenced: its page still goes out, so the pipeline is live
    receiver.wait_for(lambda a: a["labels"].get("entity") == "kiosk-pd-01" and a["status"] == "firing")
    time.sleep(1.0)  # many ticks and group waits
    assert [a for a in receiver.alerts() if a["labels"].get("entity") == "wan-xa-phu-vang"] == []
    with psycopg.connect(store.dsn) as conn:
        (muted_id,) = conn.execute(
            "SELECT id FROM alerts WHERE entity = 'wan-xa-phu-vang' AND state = 'firing'"
        ).fetchone()
    page.goto(f"{service.url}/ui/alerts?site=xa-phu-vang")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile(f"^#{muted_id} ")))
    assert "Đã tắt thông báo" in row.inner_text()
    no_overflow(page)

    # Every page, on the phone and on a 1080p screen, in Vietnamese; the English switch works too.
    desk = browser.new_context(viewport=DESKTOP)
    outside: list[str] = []

    def offline(route: Any) -> None:
        if route.request.url.startswith(service.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    desk.route("**/*", offline)  # as in an operations centre without Internet: nothing may come from elsewhere
    wall = desk.new_page()
    wall.goto(f"{service.url}/ui/")
    log_in(wall, "Quản trị")
    admin_phone = browser.new_context(viewport=PHONE).new_page()
    admin_phone.goto(f"{service.url}/ui/")
    log_in(admin_phone, "Quản trị")
    pages = {
        "overview": "/ui/", "alerts": "/ui/alerts?state=open", "alert": f"/ui/alerts/{alert_id}",
        "entity": "/ui/entities/kiosk/kiosk-pv-01", "silences": "/ui/silences", "audit": "/ui/audit",
        "dead-letters": "/ui/dead-letters", "events": "/ui/events", "users": "/ui/users", "keys": "/ui/keys",
    }  # fmt: skip
    for name, path in pages.items():
        tabs = ((wall, 1920), (admin_phone, 390))
        for tab, _ in tabs:  # both load at once: their half-second networkidle waits overlap
            tab.goto(service.url + path)
        for tab, width in tabs:
            tab.wait_for_load_state("networkidle")
            assert tab.locator("main h1").count() == 1, (name, tab.url)
            no_overflow(tab)
            tab.screenshot(path=str(shots / f"console-{name}-{width}.png"), full_page=True)
    wall.goto(f"{service.url}/ui/dead-letters")
    payload = wall.locator("pre.payload").first.inner_text()
    assert payload.startswith('<script>alert("x")</script>\\x00\\xff')  # shown as text, never run
    wall.goto(f"{service.url}/ui/entities/kiosk/kiosk-pv-01")
    assert wall.locator(".uplot").count() >= 2  # cpu_pct and up, drawn by uPlot
    assert "Cửa tủ kiosk bị mở" in wall.locator("main").inner_text()
    wall.get_by_role("link", name="Switch to English").click()
    wall.wait_for_load_state()
    assert wall.get_by_role("heading", level=1).count() == 1 and "Log out" in wall.locator("header").inner_text()
    assert wall.locator("html").get_attribute("lang") == "en"
    wall.goto(f"{service.url}/ui/alerts/{alert_id}")
    wall.screenshot(path=str(shots / "console-alert-en-1920.png"), full_page=True)
    wall.goto(f"{service.url}/docs")
    wall.wait_for_selector(".swagger-ui .information-container", timeout=15000)
    wall.screenshot(path=str(shots / "console-docs-1920.png"))
    assert outside == []

    # The overview updates itself: a new page shows up without a reload (the page's timer, fast-forwarded).
    live_page = desk.new_page()
    live_page.clock.install()
    live_page.goto(f"{service.url}/ui/")
    assert "Thử: cổng chậm" not in live_page.locator("#live").inner_text()
    with psycopg.connect(store.dsn) as conn:
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, summary, "
            "pending_since, starts_at) VALUES ('fp-live', 'service_slow', 'warning', 'firing', 'service', "
            "'dvc-portal', 'dc-tinh', 'so-tttt', 'Thử: cổng chậm', now(), now())"
        )
    live_page.clock.fast_forward("00:31")
    live_page.get_by_text("Thử: cổng chậm").wait_for(timeout=10000)
    assert live_page.url == f"{service.url}/ui/"

    # An agency-bound user sees only its agency.
    bound = browser.new_context(viewport=PHONE).new_page()
    bound.goto(f"{service.url}/ui/alerts")
    log_in(bound, "Phạm UBND")
    listing = bound.locator("main").inner_text()
    assert "kiosk-pd-01" in listing and "kiosk-pv-01" not in listing and "wan-xa-phu-vang" not in listing
    assert bound.goto(f"{service.url}/ui/alerts/{alert_id}").status == 404
    bound.goto(f"{service.url}/ui/")
    assert "UBND xã Phú Vang" not in bound.locator("main").inner_text()

    # A viewer gets no ack button, and a forged post (no token, a wrong one) is refused.
    viewer = browser.new_context(viewport=PHONE).new_page()
    viewer.goto(link)
    log_in(viewer, "Lê Thị Xem")
    assert viewer.get_by_role("button", name="Xác nhận", exact=True).count() == 0
    # By keyboard: the first Tab reaches the skip link, Enter moves the focus to the page's content.
    viewer.keyboard.press("Tab")
    assert viewer.evaluate("document.activeElement.textContent") == "Bỏ qua, đến nội dung chính"
    assert viewer.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    viewer.keyboard.press("Enter")
    assert viewer.evaluate("document.activeElement.id") == "main"
    assert viewer.get_by_role("img", name="Biểu đồ chỉ số up").count() == 1
    assert "Bạn chỉ có quyền xem." in viewer.locator("main").inner_text()
    for form in ({}, {"csrf_token": "forged", "comment": "x"}):
        refused = viewer.request.post(f"{link}/ack", form=form)
        assert refused.status == 403 and "mã chống giả mạo" in refused.text()
    with_token = viewer.request.post(f"{link}/unack", form={"csrf_token": _csrf(viewer)})
    assert with_token.status == 403 and "Bạn không có quyền" in with_token.text()  # a viewer, token or not
    assert page.request.get(f"{service.url}/api/v1/alerts/{alert_id}", headers=operator_key).json()["acked_by"] == (
        "Nguyễn Văn An"
    )
    link_probe.disconnect()
    link_probe.loop_stop()
    for context in (phone, desk):
        context.close()


def _csrf(page: Any) -> str:
    """The session's CSRF token, as the logout form in the page's header carries it."""
    token = page.locator('header input[name="csrf_token"]').get_attribute("value")
    assert token
    return str(token)
