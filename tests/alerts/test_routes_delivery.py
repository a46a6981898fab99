"""A sample route tree through the alert service on the real store: each route reaches exactly its
receivers, resolved messages included where the receiver wants them. Real peers where one runs here
(an Alertmanager, an aiosmtpd server, a webhook receiver), stand-ins for Telegram, Zalo and the SMS
gateways that check every request as the provider documents it."""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path

import psycopg
import pytest
from alert_helpers import PHU_VANG_KIOSK, Batches, Receiver, load_inventory, wait_until, write_rules
from prometheus_client import CollectorRegistry
from standins import ESms, SpeedSms, Telegram, Zalo

from alerts.rules import load_rules
from alerts.service import AlertService
from ioc.model import StatusUpdate
from ioc.settings import load_settings

PUBLIC = "https://ioc.thuathienhue.gov.vn"
RULES = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
  - name: kiosk_hot
    kind: kiosk
    type: threshold
    metric: temp_c
    op: ">"
    threshold: 75
    clear: 65
    severity: warning
    summary: {vi: "{name}: nhiệt độ cao ({value:.0f}°C)", en: "{name}: hot"}
  - name: service_errors
    kind: service
    type: threshold
    metric: error_rate_pct
    op: ">"
    threshold: 5
    clear: 2
    severity: warning
    summary: {vi: "{name}: tỷ lệ lỗi {value:.1f}%", en: "{name}: {value:.1f}% errors"}
"""


def routes_yaml(d: dict[str, object]) -> str:
    return f"""
route:
  receiver: truc-ca
  group_by: [site]
  group_wait: 200ms
  group_interval: 200ms
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"', 'agency="so-tttt"']
      receiver: zalo-so-tttt
      continue: true
    - matchers: ['kind=~"kiosk|link"', 'severity="critical"']
      receiver: sms-ky-thuat
    - matchers: ['kind="service"']
      receiver: dich-vu
      group_by: [alertname]
receivers:
  - name: truc-ca
    webhook_configs: [{{url: "{d["hook"]}/truc-ca", send_resolved: true}}]
  - name: zalo-so-tttt
    zalo_configs: [{{oa_access_token_file: {d["dir"]}/zalo-token, refresh_token_file: {d["dir"]}/zalo-refresh,
                    app_id: "1234567890", secret_key_file: {d["dir"]}/zalo-secret, user_ids: ["8123456789"],
                    api_url: "{d["zalo"]}", oauth_url: "{d["zalo"]}"}}]
  - name: sms-ky-thuat
    sms_configs:
      - {{preset: esms, url: "{d["esms"]}", phones: ["0912345678"], brandname: SOTTTT,
         api_key_file: {d["dir"]}/esms-key, secret_key_file: {d["dir"]}/esms-secret}}
      - {{preset: speedsms, url: "{d["speedsms"]}", phones: ["0987654321"], access_token_file: {d["dir"]}/speedsms}}
  - name: dich-vu
    alertmanager_configs: [{{url: "{d["alertmanager"]}"}}]
    email_configs: [{{to: "truc-ca@stttt.gov.vn", from: "ioc@stttt.gov.vn", smarthost: "127.0.0.1:{d["smtp"]}",
                     require_tls: false}}]
    telegram_configs: [{{bot_token_file: {d["dir"]}/telegram-token, chat_id: -1001, api_url: "{d["telegram"]}"}}]
"""


def test_each_route_of_a_sample_tree_reaches_exactly_its_receivers(
    dsn, pool, receiver: Receiver, alertmanager: str, smtp, tmp_path: Path
):
    smtp_port, inbox = smtp
    secrets = {"zalo-token": "access-0", "zalo-refresh": "refresh-0", "zalo-secret": "bi-mat",
               "esms-key": "EK", "esms-secret": "ES", "speedsms": "ST", "telegram-token": "123:ABC"}  # fmt: skip
    for name, value in secrets.items():
        (tmp_path / name).write_text(value + "\n", encoding="utf-8")
    zalo = Zalo(access_token="access-0", refresh_token="refresh-0", secret_key="bi-mat", app_id="1234567890")
    esms, speedsms = ESms(api_key="EK", secret_key="ES"), SpeedSms(access_token="ST")
    telegram = Telegram(token="123:ABC")
    routes = tmp_path / "routes.yaml"
    routes.write_text(routes_yaml({
        "dir": tmp_path, "hook": receiver.url, "zalo": zalo.url, "esms": esms.url, "speedsms": speedsms.url,
        "alertmanager": alertmanager, "smtp": smtp_port, "telegram": telegram.url,
    }), encoding="utf-8")  # fmt: skip
    load_inventory(dsn, kiosks=2)
    settings = load_settings(
        database_url=dsn, alert_routes_file=routes, rules_dir=write_rules(tmp_path / "rules", RULES),
        public_url=PUBLIC, alert_tick_s=0.05, alert_topology_hold_s=0.1,
    )  # fmt: skip
    rules = load_rules(settings.rules_dir)
    rules = [r for r in rules if r.name in ("kiosk_down", "kiosk_hot", "service_errors")]
    service = AlertService(settings, pool=pool, registry=CollectorRegistry(), rules=rules, retry_base_s=0.01)
    service.start()
    batches = Batches(dsn)
    try:
        now = time.time()
        service.on_committed(batches.samples(
            [("kiosk", "kiosk-pv-02", "temp_c", now, 82.0), ("service", "dvc-portal", "error_rate_pct", now, 9.5)],
            [StatusUpdate("kiosk", "kiosk-pv-01", now, "offline")],
        ))  # fmt: skip
        hook_bodies = lambda: [b for p, b in receiver.requests if p == "/truc-ca"]  # noqa: E731
        am_bodies = lambda: [b for p, b in receiver.requests if p == "/from-am"]  # noqa: E731
        everyone = (hook_bodies, zalo.messages, esms.messages, speedsms.messages, am_bodies, telegram.messages)
        wait_until(lambda: all(f() for f in everyone) and inbox.messages, timeout=20, what="every receiver")

        # The root's receiver: only what no child route takes (the warning of a kiosk).
        (hook,) = hook_bodies()
        assert hook["receiver"] == "truc-ca" and hook["groupKey"] == '{}:{site="xa-phu-vang"}'
        assert [(a["labels"]["alertname"], a["labels"]["entity"]) for a in hook["alerts"]] == [
            ("kiosk_hot", "kiosk-pv-02")
        ]
        assert hook["alerts"][0]["generatorURL"].startswith(f"{PUBLIC}/ui/alerts/")
        # The critical kiosk: Zalo (continue: true) and SMS, nobody else.
        ((user, text),) = zalo.messages()
        assert user == "8123456789" and text.startswith(f"[CẢNH BÁO] {PHU_VANG_KIOSK} mất kết nối")
        with psycopg.connect(dsn) as conn:
            (kiosk_id,) = conn.execute("SELECT id FROM alerts WHERE rule = 'kiosk_down'").fetchone()
            (service_id,) = conn.execute("SELECT id FROM alerts WHERE rule = 'service_errors'").fetchone()
        assert text.endswith(f"Xem: {PUBLIC}/ui/alerts/{kiosk_id}")
        assert esms.messages() == [
            ("0912345678", f"[CANH BAO] Kiosk lay so 01 - UBND xa Phu Vang mat ket noi {PUBLIC}/ui/alerts/{kiosk_id}")
        ]
        assert speedsms.messages() == [(("0987654321",), esms.messages()[0][1])]
        # The service: Alertmanager (which passes it on to its own webhook), e-mail and Telegram.
        (am,) = am_bodies()
        assert [a["labels"]["alertname"] for a in am["alerts"]] == ["service_errors"]
        assert am["alerts"][0]["generatorURL"] == f"{PUBLIC}/ui/alerts/{service_id}"
        ((_, rcpts, raw),) = inbox.messages
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert rcpts == ["truc-ca@stttt.gov.vn"] and "Cổng Dịch vụ công tỉnh: tỷ lệ lỗi 9.5%" in mail["Subject"]
        assert f"{PUBLIC}/ui/alerts/{service_id}" in mail.get_content()
        ((chat, tg_text),) = telegram.messages()
        assert chat == "-1001" and tg_text.startswith("[CẢNH BÁO] Cổng Dịch vụ công tỉnh: tỷ lệ lỗi 9.5%")

        # Everything recovers: resolved messages go where the firing went, if the receiver wants them.
        now = time.time()
        service.on_committed(batches.samples(
            [("kiosk", "kiosk-pv-01", "temp_c", now, 40.0), ("kiosk", "kiosk-pv-02", "temp_c", now, 50.0),
             ("service", "dvc-portal", "error_rate_pct", now, 0.5)],
            [StatusUpdate("kiosk", "kiosk-pv-01", now, "online")],
        ))  # fmt: skip
        wait_until(lambda: len(hook_bodies()) == 2 and len(zalo.messages()) == 2 and len(esms.messages()) == 2
                   and len(speedsms.messages()) == 2 and len(am_bodies()) == 2 and len(telegram.messages()) == 2,
                   timeout=20, what="the resolved messages")  # fmt: skip
        assert hook_bodies()[1]["status"] == "resolved"
        assert [a["labels"]["entity"] for a in hook_bodies()[1]["alerts"]] == ["kiosk-pv-02"]
        assert zalo.messages()[1][1].startswith(f"[ĐÃ KHẮC PHỤC] {PHU_VANG_KIOSK} mất kết nối")
        assert esms.messages()[1][1].startswith("[DA KHAC PHUC] Kiosk lay so 01")
        assert am_bodies()[1]["status"] == "resolved"
        assert telegram.messages()[1][1].startswith("[ĐÃ KHẮC PHỤC] Cổng Dịch vụ công tỉnh")
        time.sleep(0.6)  # three group intervals: nothing more arrives anywhere
        assert len(inbox.messages) == 1  # e-mail leaves out resolved alerts, as Alertmanager's default is
        assert (len(hook_bodies()), len(zalo.messages()), len(esms.messages()), len(speedsms.messages()),
                len(telegram.messages())) == (2, 2, 2, 2, 2)  # fmt: skip
        for stand_in in (zalo.server, esms.server, speedsms.server, telegram.server):
            assert stand_in.problems == []
    finally:
        service.stop()
        for stand_in in (zalo, esms, speedsms, telegram):
            stand_in.close()


@pytest.mark.parametrize("receiver_name", ["dich-vu", "nobody"])
def test_ioc_notify_test_says_what_came_back(tmp_path: Path, receiver: Receiver, smtp, receiver_name):
    from typer.testing import CliRunner

    from ioc.cli import app

    smtp_port, inbox = smtp
    (tmp_path / "tg").write_text("123:ABC\n")
    telegram = Telegram(token="123:ABC")
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"""
route: {{receiver: dich-vu}}
receivers:
  - name: dich-vu
    webhook_configs: [{{url: "{receiver.url}/refuses"}}]
    email_configs: [{{to: "a@b.vn", smarthost: "127.0.0.1:{smtp_port}", require_tls: false}}]
    telegram_configs: [{{bot_token_file: {tmp_path}/tg, chat_id: 42, api_url: "{telegram.url}"}}]
""", encoding="utf-8")  # fmt: skip
    receiver.answers = [403]
    try:
        result = CliRunner().invoke(app, ["notify", "test", receiver_name], env={"IOC_ALERT_ROUTES_FILE": str(routes)})
    finally:
        telegram.close()
    if receiver_name == "nobody":
        assert result.exit_code == 1
        assert result.output == "no receiver named 'nobody' (receivers: dich-vu)\n"
        return
    assert result.exit_code == 1
    webhook, mail, bot = result.output.splitlines()
    assert webhook == (
        f"dich-vu/webhook:{receiver.url}/refuses: failed (permanent): webhook {receiver.url}/refuses answered 403: "
        '{"ok": true}'
    )
    assert mail == f"dich-vu/email: sent, answered accepted by 127.0.0.1:{smtp_port} for 1 recipient(s)"
    assert bot.startswith('dich-vu/telegram: sent, answered 200 {"ok":true,"result":{"message_id":0,"text":"[CẢNH BÁO]')
    assert len(inbox.messages) == 1 and telegram.messages()[0][0] == "42"
    assert telegram.messages()[0][1].startswith("[CẢNH BÁO] Thử kênh cảnh báo")
