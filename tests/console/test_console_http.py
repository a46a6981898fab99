"""The console over HTTP on the real app and store: login, redirects, CSRF, roles, agency scope, bad input."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from console_helpers import PASSWORD, ClientFactory, add_user, csrf_of, log_in
from psycopg.types.json import Jsonb
from seed import Store, at

from ioc.console.texts import EN, VI
from ioc.console.web import safe_next


def _alert(store: Store, entity: str = "kiosk-pv-01", site: str = "xa-phu-vang", agency: str = "so-tttt") -> int:
    with store.connect() as conn:
        row = conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, labels, summary, "
            "pending_since, starts_at) VALUES (%s, 'kiosk_down', 'critical', 'firing', 'kiosk', %s, %s, %s, %s, "
            "%s, now() - interval '5 minutes', now() - interval '4 minutes') RETURNING id",
            (f"fp-{entity}-{time.monotonic_ns()}", entity, site, agency,
             Jsonb({"alertname": "kiosk_down", "kind": "kiosk", "entity": entity, "site": site, "agency": agency}),
             f"{entity} mất kết nối"),
        ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def test_texts_have_the_same_keys() -> None:
    assert set(VI) == set(EN)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/ui/alerts/3?x=1", "/ui/alerts/3?x=1"),
        ("/ui", "/ui"),
        ("https://evil.example/ui/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/\\evil.example", "/ui/"),
        ("/ui/\r\nSet-Cookie: x", "/ui/"),
        ("/api/v1/alerts", "/ui/"),
        ("javascript:alert(1)", "/ui/"),
        (None, "/ui/"),
    ],
)
def test_safe_next(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


def test_page_without_session_redirects_to_login_and_back(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "Nguyễn Văn An", "operator")
    alert_id = _alert(store)
    client = make_client(store.dsn)
    answer = client.get(f"/ui/alerts/{alert_id}")
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/login?next=%2Fui%2Falerts%2F{alert_id}"
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and 'name="username"' in page.text and 'name="password"' in page.text
    assert f'name="next" value="/ui/alerts/{alert_id}"' in page.text
    form = {"username": "Nguyễn Văn An", "password": PASSWORD, "next": f"/ui/alerts/{alert_id}"}
    login = client.post("/ui/login", data={**form, "csrf_token": csrf_of(page.text)})
    assert login.status_code == 303 and login.headers["location"] == f"/ui/alerts/{alert_id}"
    cookie = login.headers["set-cookie"]
    assert "ioc_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # IOC_PUBLIC_URL is http here
    shown = client.get(f"/ui/alerts/{alert_id}")
    assert shown.status_code == 200 and "kiosk-pv-01 mất kết nối" in shown.text and "Xác nhận" in shown.text


def test_secure_cookie_when_public_url_is_https(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "an", "viewer")
    client = make_client(store.dsn, public_url="https://ioc.example.gov.vn")
    page = client.get("/ui/login")
    assert "Secure" in page.headers["set-cookie"]
    client.cookies.set("ioc_login", page.cookies["ioc_login"])  # httpx keeps Secure cookies off plain http
    login = client.post("/ui/login", data={"username": "an", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert login.status_code == 303 and "Secure" in login.headers["set-cookie"]


def test_login_refuses_open_redirect_wrong_password_and_forged_form(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "an", "viewer")
    client = make_client(store.dsn)
    page = client.get("/ui/login?next=https://evil.example/")
    assert 'name="next" value="/ui/"' in page.text
    token = csrf_of(page.text)
    wrong = client.post("/ui/login", data={"username": "an", "password": "sai", "csrf_token": token})
    assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu." in wrong.text
    forged = make_client(store.dsn).post("/ui/login", data={"username": "an", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403 and "Biểu mẫu đăng nhập đã hết hạn" in forged.text
    good = client.post("/ui/login", data={"username": "an", "password": PASSWORD, "next": "//evil.example/",
                                          "csrf_token": csrf_of(client.get("/ui/login").text)})  # fmt: skip
    assert good.status_code == 303 and good.headers["location"] == "/ui/"


def test_ack_by_form_is_the_users_and_audited(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "Trần Thị Bình", "operator")
    alert_id = _alert(store)
    client = log_in(make_client(store.dsn), "Trần Thị Bình")
    page = client.get(f"/ui/alerts/{alert_id}")
    done = client.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": csrf_of(page.text), "comment": "Đã gọi xã"})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/alerts/{alert_id}?done=acked_ok"
    api = client.get(f"/api/v1/alerts/{alert_id}", headers=store.key("viewer"))
    assert (api.json()["acked_by"], api.json()["ack_comment"]) == ("Trần Thị Bình", "Đã gọi xã")
    with psycopg.connect(store.dsn) as conn:
        row = conn.execute("SELECT actor, detail->>'by' FROM audit_log WHERE action = 'alert.ack'").fetchone()
    assert row == ("Trần Thị Bình", "Trần Thị Bình")
    shown = client.get(f"/ui/alerts/{alert_id}?done=acked_ok").text
    assert "Đã xác nhận cảnh báo." in shown and "Trần Thị Bình" in shown and "Bỏ xác nhận" in shown
    undone = client.post(f"/ui/alerts/{alert_id}/unack", data={"csrf_token": csrf_of(shown)})
    assert undone.status_code == 303
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=store.key("viewer")).json()["acked_by"] is None


@pytest.mark.parametrize(
    ("comment", "status", "message"),
    [
        ("x" * 2001, 422, "Ghi chú quá dài"),
        ("a\x00b", 422, "ký tự không hợp lệ (NUL)"),
    ],
)
def test_bad_comments_get_a_clear_message(
    store: Store, make_client: ClientFactory, comment: str, status: int, message: str
) -> None:
    add_user(store.dsn, "an", "operator")
    alert_id = _alert(store)
    client = log_in(make_client(store.dsn), "an")
    token = csrf_of(client.get(f"/ui/alerts/{alert_id}").text)
    answer = client.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": token, "comment": comment})
    assert answer.status_code == status and message in answer.text
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=store.key("viewer")).json()["acked_by"] is None


def test_unknown_alert_and_oversized_form(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "an", "operator")
    client = log_in(make_client(store.dsn), "an")
    token = csrf_of(client.get("/ui/").text)
    for path in ("/ui/alerts/999", "/ui/alerts/abc", "/ui/alerts/99999999999999999999999"):
        page = client.get(path)
        assert page.status_code == 404 and "Không có cảnh báo số" in page.text
    answer = client.post("/ui/alerts/999/ack", data={"csrf_token": token})
    assert answer.status_code == 404 and "Không có cảnh báo số 999" in answer.text
    huge = client.post("/ui/alerts/999/ack", data={"csrf_token": token, "comment": "x" * 100_000})
    assert huge.status_code == 413 and "Dữ liệu không hợp lệ" in huge.text


def test_forged_and_replayed_forms_are_refused(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "an", "operator")
    alert_id = _alert(store)
    client = log_in(make_client(store.dsn), "an")
    token = csrf_of(client.get(f"/ui/alerts/{alert_id}").text)
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": token[:-1]}):
        answer = client.post(f"/ui/alerts/{alert_id}/ack", data=data)
        assert answer.status_code == 403 and "mã chống giả mạo" in answer.text
    not_a_form = client.post(f"/ui/alerts/{alert_id}/ack", content=b'{"csrf_token": 1}',
                             headers={"content-type": "application/json"})  # fmt: skip
    assert not_a_form.status_code == 403
    assert client.post("/ui/logout", data={"csrf_token": token}).status_code == 303
    replayed = client.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": token})  # the old session's form
    assert replayed.status_code == 403 and "Phiên đăng nhập đã hết" in replayed.text
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=store.key("viewer")).json()["acked_by"] is None


def test_viewer_gets_no_ack_button_and_cannot_post(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "xem", "viewer")
    alert_id = _alert(store)
    client = log_in(make_client(store.dsn), "xem")
    page = client.get(f"/ui/alerts/{alert_id}")
    assert page.status_code == 200 and "Xác nhận</button>" not in page.text and "Bạn chỉ có quyền xem." in page.text
    answer = client.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 403 and "Bạn không có quyền" in answer.text
    assert client.get("/ui/users").status_code == 403


def test_agency_bound_user_sees_only_its_agency(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "ubnd", "operator", agency="vp-ubnd")
    mine = _alert(store, "kiosk-pd-01", "xa-phu-da", "vp-ubnd")
    theirs = _alert(store, "kiosk-pv-01", "xa-phu-vang", "so-tttt")
    client = log_in(make_client(store.dsn), "ubnd")
    listing = client.get("/ui/alerts").text
    assert f"/ui/alerts/{mine}" in listing and f"/ui/alerts/{theirs}" not in listing
    assert client.get(f"/ui/alerts/{theirs}").status_code == 404
    assert client.get("/ui/entities/kiosk/kiosk-pv-01").status_code == 404
    assert client.get("/ui/entities/kiosk/kiosk-pd-01").status_code == 200
    overview = client.get("/ui/").text
    assert "Kiosk tra cứu Phú Đa" in overview and "Kiosk lấy số 01" not in overview
    token = csrf_of(overview)
    assert client.post(f"/ui/alerts/{theirs}/ack", data={"csrf_token": token}).status_code == 404
    silenced = client.post(f"/ui/alerts/{mine}/silence", data={"csrf_token": token, "scope": "site", "preset": "1h"})
    assert silenced.status_code == 303
    with psycopg.connect(store.dsn) as conn:
        (matchers,) = conn.execute("SELECT matchers FROM silences").fetchone()
    assert matchers == {"site": "xa-phu-da", "agency": "vp-ubnd"}


def test_silence_presets_and_the_silences_page(store: Store, make_client: ClientFactory) -> None:
    now = 1_796_000_000.0  # 2026-11-30 07:53:20 in Ho Chi Minh City
    add_user(store.dsn, "an", "operator")
    alert_id = _alert(store)
    client = log_in(make_client(store.dsn, clock=lambda: now), "an")
    token = csrf_of(client.get(f"/ui/alerts/{alert_id}").text)
    for preset in ("1h", "tomorrow"):
        answer = client.post(f"/ui/alerts/{alert_id}/silence", data={"csrf_token": token, "scope": "entity",
                                                                      "preset": preset})  # fmt: skip
        assert answer.status_code == 303
    with psycopg.connect(store.dsn) as conn:
        rows = conn.execute("SELECT matchers, ends_at, created_by FROM silences ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [{"kind": "kiosk", "entity": "kiosk-pv-01"}] * 2
    assert [r[1] for r in rows] == [at(now + 3600), datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))]
    assert rows[0][2] == "an"
    assert "Đã tắt thông báo (silence#1)" in client.get(f"/ui/alerts/{alert_id}").text
    page = client.get("/ui/silences").text
    assert "kind=kiosk" in page and "Kết thúc ngay" in page
    made = client.post("/ui/silences", data={"csrf_token": token, "site": "xa-phu-vang", "ends_at": "2026-12-01T22:00",
                                             "comment": "Thay thiết bị mạng"})  # fmt: skip
    assert made.status_code == 303
    empty = client.post("/ui/silences", data={"csrf_token": token, "ends_at": "2026-12-01T22:00"})
    assert empty.status_code == 422 and "ít nhất một điều kiện" in empty.text
    past = client.post("/ui/silences", data={"csrf_token": token, "site": "xa-phu-vang", "ends_at": "2020-01-01T00:00"})
    assert past.status_code == 422 and "ends_at is in the past" in past.text
    window = client.post("/ui/windows", data={"csrf_token": token, "agency": "so-tttt", "weekdays": ["6", "7"],
                                              "start_time": "22:00", "duration": "2h"})  # fmt: skip
    assert window.status_code == 303
    page = client.get("/ui/silences").text
    assert "Thứ Bảy, Chủ Nhật" in page and "Thay thiết bị mạng" in page
    assert client.post("/ui/windows/1/delete", data={"csrf_token": token}).status_code == 303
    assert client.post("/ui/silences/3/end", data={"csrf_token": token}).status_code == 303
    assert client.post("/ui/silences/77/end", data={"csrf_token": token}).status_code == 404


def test_every_page_renders_in_both_languages(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "root", "admin")
    alert_id = _alert(store)
    store.samples("kiosk", "kiosk-pv-01", "cpu_pct", [(time.time() - 600 + i * 60, 20.0 + i) for i in range(10)])
    with store.connect() as conn:
        conn.execute("INSERT INTO dead_letters (topic, payload, reason) VALUES "
                     "('ioc/v1/metrics/kiosk/kiosk-pv-01', '\\x3c7363726970743e00ff'::bytea, 'not_json')")  # fmt: skip
    client = log_in(make_client(store.dsn), "root")
    pages = ["/ui/", "/ui/alerts", "/ui/alerts?state=resolved&severity=critical", f"/ui/alerts/{alert_id}",
             "/ui/entities/kiosk/kiosk-pv-01?range=24h", "/ui/silences", "/ui/audit", "/ui/dead-letters",
             "/ui/events", "/ui/users", "/ui/keys"]  # fmt: skip
    for lang, word in (("vi", "Đăng xuất"), ("en", "Log out")):
        assert client.get(f"/ui/lang/{lang}?next=/ui/").status_code == 303
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert word in page.text and page.headers["content-security-policy"].startswith("default-src 'self'")
    letters = client.get("/ui/dead-letters").text
    assert "&lt;script&gt;\\x00\\xff" in letters and "<script>\\x00" not in letters


def test_docs_are_served_offline(store: Store, make_client: ClientFactory) -> None:
    client = make_client(store.dsn)
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    assert "/ui/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert client.get("/ui/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/ui/static/vendor/swagger-ui/swagger-ui.css").status_code == 200
    assert client.get("/redoc").status_code == 404


def test_alert_page_lists_what_it_made_unreachable_and_its_timeline(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "an", "operator")
    link_alert = _alert(store, "wan-xa-phu-vang")
    with store.connect() as conn:
        conn.execute("UPDATE alerts SET kind = 'link', rule = 'link_down', last_notified_at = now() WHERE id = %s",
                     (link_alert,))  # fmt: skip
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, site, agency, pending_since, "
            "starts_at, suppressed_by) VALUES ('fp-k', 'kiosk_down', 'critical', 'firing', 'kiosk', 'kiosk-pv-01', "
            "'xa-phu-vang', 'so-tttt', now(), now(), 'link/wan-xa-phu-vang')"
        )
    client = log_in(make_client(store.dsn), "an")
    page = client.get(f"/ui/alerts/{link_alert}").text
    affected = page[page.index('id="aff-h"') : page.index('id="lab-h"')]
    assert 'href="/ui/entities/kiosk/kiosk-pv-01">Kiosk lấy số 01</a>' in affected
    timeline = page[page.index('class="timeline"') : page.index('id="chart-h"')]
    assert [k for k in ("Bắt đầu chờ xác định", "Bắt đầu báo động", "Đã gửi thông báo") if k in timeline] == [
        "Bắt đầu chờ xác định", "Bắt đầu báo động", "Đã gửi thông báo",
    ]  # fmt: skip
    assert "Quy tắc này không dựa trên một chỉ số." not in page  # link_down watches `up`
    assert "Không có số liệu của chỉ số này" in page  # ... of which there is none yet


def test_admin_manages_users_and_keys(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "root", "admin")
    client = log_in(make_client(store.dsn), "root")
    token = csrf_of(client.get("/ui/users").text)
    made = client.post("/ui/users", data={"csrf_token": token, "name": "Đỗ Văn Ca", "password": "mật khẩu ca đêm",
                                          "role": "operator", "agency": "vp-ubnd"})  # fmt: skip
    assert made.status_code == 303
    short = client.post("/ui/users", data={"csrf_token": token, "name": "x", "password": "ngắn", "role": "viewer"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    other = log_in(make_client(store.dsn), "Đỗ Văn Ca", "mật khẩu ca đêm")
    assert other.get("/ui/").status_code == 200
    with psycopg.connect(store.dsn) as conn:
        (user_id,) = conn.execute("SELECT id FROM users WHERE name = 'Đỗ Văn Ca'").fetchone()
    assert client.post(f"/ui/users/{user_id}/disable", data={"csrf_token": token}).status_code == 303
    assert other.get("/ui/").status_code == 303  # the disabled user's session ended at once
    page = client.post("/ui/keys", data={"csrf_token": token, "name": "Grafana", "role": "viewer"})
    assert page.status_code == 200 and "chỉ hiện một lần" in page.text
    key = page.text.split('<pre class="payload" tabindex="0">')[1].split("</pre>")[0]
    assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.post("/ui/keys/1/revoke", data={"csrf_token": token}).status_code == 303
    assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert key not in client.get("/ui/keys").text
    assert client.post("/ui/keys/99/revoke", data={"csrf_token": token}).status_code == 404
    with psycopg.connect(store.dsn) as conn:
        actions = [r[0] for r in conn.execute("SELECT actor || ' ' || action FROM audit_log ORDER BY id")]
    assert actions[-5:] == ["root user.create", "root user.disable", "root key.create", "root key.revoke",
                            "api auth.key_failed"]  # fmt: skip
    bad = client.post("/ui/keys", data={"csrf_token": token, "role": "viewer", "expires": "soon"})
    assert bad.status_code == 422 and "expires: &#39;soon&#39; is neither a duration" in bad.text
    shown = client.post("/ui/keys", data={"csrf_token": token, "name": "30 ngày", "role": "viewer", "expires": "30d"})
    assert shown.status_code == 200 and '<option value="90d">90 ngày</option>' in shown.text
    with psycopg.connect(store.dsn) as conn:
        row = conn.execute("SELECT extract(epoch FROM expires_at - created_at) / 86400 FROM api_keys WHERE id = 2")
        assert round(float(row.fetchone()[0])) == 30  # type: ignore[index]


def test_agency_bound_admin_stays_in_its_agency(store: Store, make_client: ClientFactory) -> None:
    add_user(store.dsn, "root-ubnd", "admin", agency="vp-ubnd")
    add_user(store.dsn, "tttt", "operator", agency="so-tttt")
    client = log_in(make_client(store.dsn), "root-ubnd")
    page = client.get("/ui/users").text
    assert "tttt</td>" not in page
    token = csrf_of(page)
    made = client.post("/ui/users", data={"csrf_token": token, "name": "ca-ubnd", "password": "mật khẩu ca đêm",
                                          "role": "viewer", "agency": "so-tttt"})  # fmt: skip
    assert made.status_code == 303
    with psycopg.connect(store.dsn) as conn:
        (agency,) = conn.execute("SELECT agency FROM users WHERE name = 'ca-ubnd'").fetchone()
        (tttt_id,) = conn.execute("SELECT id FROM users WHERE name = 'tttt'").fetchone()
    assert agency == "vp-ubnd"  # its own agency, whatever the form says
    assert client.post(f"/ui/users/{tttt_id}/disable", data={"csrf_token": token}).status_code == 404
