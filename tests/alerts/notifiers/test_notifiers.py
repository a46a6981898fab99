"""Every channel against a real local peer: HTTP receivers, a real Alertmanager, an aiosmtpd server.
Vietnamese names must arrive intact on each."""

from __future__ import annotations

import email
import email.policy
import time

import pytest
from alert_helpers import PHU_VANG_KIOSK, Receiver

from alerts.alert import FIRING, RESOLVED, Alert, alert_labels, fingerprint
from alerts.grouping import AlertSnapshot, Notification
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.notifiers.base import PermanentError, TemporaryError, send_with_retries
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.telegram import TelegramNotifier
from alerts.notifiers.webhook import WebhookNotifier
from ioc.settings import load_settings
from tests.conftest import free_port

T0 = 1_800_000_000.0
SUMMARY = f"{PHU_VANG_KIOSK} mất kết nối"


def make_alert(state: str = FIRING) -> Alert:
    labels = alert_labels(
        rule="kiosk_down", severity="critical", kind="kiosk", entity="kiosk-pv-01", site="xa-phu-vang",
        agency="so-tttt",
    )  # fmt: skip
    return Alert(
        fingerprint=fingerprint(labels), rule="kiosk_down", severity="critical", kind="kiosk", entity="kiosk-pv-01",
        labels=labels, state=state, site="xa-phu-vang", agency="so-tttt", summary=SUMMARY,
        annotations={"summary": SUMMARY, "site_name": "UBND xã Phú Vang", "reason": "offline"},
        pending_since=T0, starts_at=T0, ends_at=T0 + 600 if state == RESOLVED else None, id=42,
    )  # fmt: skip


def notification(state: str = FIRING) -> Notification:
    status = "resolved" if state == RESOLVED else "firing"
    return Notification(
        '{}:{site="xa-phu-vang"}', {"site": "xa-phu-vang"}, (AlertSnapshot.of(make_alert(state), status),)
    )


def test_webhook_payload_is_alertmanager_v4(receiver: Receiver):
    hook = WebhookNotifier(receiver.url + "/hook", external_url="http://ioc.example/")
    hook.send(notification())
    (body,) = receiver.bodies()
    assert set(body) >= {
        "version", "groupKey", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations",
        "externalURL", "alerts",
    }  # fmt: skip
    assert (body["version"], body["status"], body["receiver"]) == ("4", "firing", "ioc")
    assert body["groupKey"] == '{}:{site="xa-phu-vang"}'
    assert body["commonAnnotations"]["summary"] == SUMMARY
    (alert,) = body["alerts"]
    assert set(alert) >= {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"}
    assert alert["startsAt"] == "2027-01-15T08:00:00Z" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    hook.send(notification(RESOLVED))
    hook.close()
    resolved = receiver.bodies()[1]
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["endsAt"] == "2027-01-15T08:10:00Z"


def test_webhook_retries_5xx_with_backoff_and_gives_up_on_4xx(receiver: Receiver):
    hook = WebhookNotifier(receiver.url + "/hook", external_url="http://ioc/")
    receiver.answers = [503, 500]
    sleeps: list[float] = []
    retried: list[Exception] = []
    send_with_retries(lambda: hook.send(notification()), base_s=0.5, sleep=sleeps.append, on_retry=retried.append)
    assert len(receiver.bodies()) == 1 and sleeps == [0.5, 1.0]
    assert "answered 503" in str(retried[0])
    receiver.answers = [400]
    with pytest.raises(PermanentError, match="answered 400"):
        send_with_retries(lambda: hook.send(notification()), sleep=sleeps.append)
    receiver.answers = [502] * 5
    with pytest.raises(TemporaryError, match="answered 502"):
        send_with_retries(lambda: hook.send(notification()), attempts=5, sleep=sleeps.append)
    hook.close()


def test_webhook_timeouts_are_temporary():
    port = free_port()  # nobody listens: connection refused
    hook = WebhookNotifier(f"http://127.0.0.1:{port}/hook", external_url="http://ioc/", timeout_s=0.5)
    with pytest.raises(TemporaryError, match="ConnectError"):
        hook.send(notification())
    hook.close()


def test_telegram_send_message_keeps_diacritics(receiver: Receiver):
    bot = TelegramNotifier(
        api_url=receiver.url, token="123:ABC", chat_ids=["-1001", "42"], language="vi",
        timezone="Asia/Ho_Chi_Minh", external_url="http://ioc.example",
    )  # fmt: skip
    bot.send(notification())
    assert [path for path, _ in receiver.requests] == ["/bot123:ABC/sendMessage"] * 2
    body = receiver.bodies()[0]
    assert body["chat_id"] == "-1001"
    assert body["text"].startswith(f"[CẢNH BÁO] {SUMMARY}\n")
    assert "nghiêm trọng" in body["text"]
    bot.send(notification(RESOLVED))
    assert receiver.bodies()[2]["text"].startswith(f"[ĐÃ KHẮC PHỤC] {SUMMARY}")
    bot.close()


def test_email_subject_and_body_are_utf8(smtp):
    port, inbox = smtp
    mailer = EmailNotifier(
        host="127.0.0.1", port=port, sender="ioc@tinh.gov.vn", recipients=["truc-ban@tinh.gov.vn"], language="vi",
        timezone="Asia/Ho_Chi_Minh", external_url="http://ioc.example",
    )  # fmt: skip
    mailer.send(notification())
    ((sender, rcpts, raw),) = inbox.messages
    assert (sender, rcpts) == ("ioc@tinh.gov.vn", ["truc-ban@tinh.gov.vn"])
    assert b"=?utf-8?" in raw  # RFC 2047 encoded subject, 7-bit safe on the wire
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == f"[CẢNH BÁO] {SUMMARY}"
    body = msg.get_body().get_content()
    assert SUMMARY in body and "15:00:00 15/01/2027" in body  # local time, UTC+7


def test_email_to_a_dead_server_is_temporary():
    mailer = EmailNotifier(
        host="127.0.0.1", port=free_port(), sender="a@b", recipients=["c@d"], language="en",
        timezone="UTC", external_url="http://x", timeout_s=1,
    )  # fmt: skip
    with pytest.raises(TemporaryError, match=r"SMTP 127\.0\.0\.1"):
        mailer.send(notification())


def test_a_real_alertmanager_receives_firing_and_resolved(alertmanager: str, receiver: Receiver):
    forwarder = AlertmanagerNotifier(alertmanager, external_url="http://ioc.example")
    now = time.time()
    alert = make_alert()
    alert.starts_at = now
    forwarder.send(Notification("g", {}, (AlertSnapshot.of(alert, "firing"),)))
    (body,) = receiver.wait_for(1, timeout=15)
    assert body["status"] == "firing"
    (got,) = body["alerts"]
    assert got["labels"]["entity"] == "kiosk-pv-01" and got["labels"]["alertname"] == "kiosk_down"
    assert got["annotations"]["summary"] == SUMMARY
    alert.state, alert.ends_at = RESOLVED, time.time()
    forwarder.send(Notification("g", {}, (AlertSnapshot.of(alert, "resolved"),)))
    bodies = receiver.wait_for(2, timeout=15)
    assert bodies[-1]["status"] == "resolved"
    forwarder.close()


def test_build_notifiers_from_settings(receiver: Receiver):
    from alerts.service import build_notifiers

    settings = load_settings(
        alert_webhook_urls=f"{receiver.url}/a,{receiver.url}/b", alertmanager_url="http://127.0.0.1:9093",
        smtp_host="127.0.0.1", smtp_to="a@b.vn", telegram_bot_token="t", telegram_chat_ids="1",
    )  # fmt: skip
    notifiers = build_notifiers(settings)
    assert [n.name for n in notifiers] == [
        f"webhook:{receiver.url}/a", f"webhook:{receiver.url}/b", "alertmanager", "email", "telegram",
    ]  # fmt: skip
    for notifier in notifiers:
        notifier.close()


def test_webhook_max_alerts_truncates_as_alertmanager_does(receiver: Receiver):
    alerts = []
    for i in range(5):
        alert = make_alert()
        alert.fingerprint, alert.id = f"{i:016x}", 100 + i
        alerts.append(AlertSnapshot.of(alert, "firing"))
    hook = WebhookNotifier(receiver.url + "/hook", external_url="https://ioc.example", max_alerts=2)
    hook.send(Notification('{}:{site="xa-phu-vang"}', {"site": "xa-phu-vang"}, tuple(alerts)))
    hook.close()
    (body,) = receiver.bodies()
    assert body["truncatedAlerts"] == 3
    assert [a["generatorURL"] for a in body["alerts"]] == [
        "https://ioc.example/ui/alerts/100", "https://ioc.example/ui/alerts/101",
    ]  # fmt: skip
