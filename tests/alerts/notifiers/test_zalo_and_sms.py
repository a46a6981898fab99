"""Zalo OA and SMS gateways against local stand-ins that check every request as the providers document
them (tests/alerts/standins.py): texts, tokens and their refresh, diacritics, lengths, one SMS a group."""

from __future__ import annotations

from pathlib import Path

import pytest
from alert_helpers import PHU_VANG_KIOSK
from standins import ESms, SpeedSms, Zalo

from alerts.alert import FIRING, RESOLVED, Alert, alert_labels, fingerprint
from alerts.grouping import AlertSnapshot, Notification
from alerts.notifiers.base import PermanentError
from alerts.notifiers.sms import Gateway, SmsNotifier, preset_gateway
from alerts.notifiers.sms.text import sms_text, strip_diacritics
from alerts.notifiers.zalo import ZaloNotifier

T0 = 1_800_000_000.0
PUBLIC = "https://ioc.thuathienhue.gov.vn"


def kiosk_alert(i: int, state: str = FIRING) -> Alert:
    entity = f"kiosk-pv-{i:02d}"
    labels = alert_labels(rule="kiosk_down", severity="critical", kind="kiosk", entity=entity, site="xa-phu-vang",
                          agency="so-tttt")  # fmt: skip
    name = PHU_VANG_KIOSK if i == 1 else f"Kiosk lấy số {i:02d}"
    summary = f"{name} mất kết nối"
    return Alert(
        fingerprint(labels), "kiosk_down", "critical", "kiosk", entity, labels, state=state, site="xa-phu-vang",
        agency="so-tttt", summary=summary, annotations={"summary": summary, "site_name": "UBND xã Phú Vang"},
        pending_since=T0, starts_at=T0, ends_at=T0 + 600 if state == RESOLVED else None, id=40 + i,
    )  # fmt: skip


def group(*alerts: Alert) -> Notification:
    snapshots = tuple(AlertSnapshot.of(a, "resolved" if a.state == RESOLVED else "firing") for a in alerts)
    return Notification('{}:{site="xa-phu-vang"}', {"site": "xa-phu-vang"}, snapshots, receiver="so-tttt")


@pytest.fixture
def zalo_files(tmp_path: Path) -> dict[str, str]:
    files = {"access_token_file": "zalo-token", "refresh_token_file": "zalo-refresh", "secret_key_file": "zalo-secret"}
    values = {"access_token_file": "access-0", "refresh_token_file": "refresh-0", "secret_key_file": "bi-mat"}
    out = {}
    for key, name in files.items():
        (tmp_path / name).write_text(values[key] + "\n", encoding="utf-8")
        out[key] = str(tmp_path / name)
    return out


@pytest.fixture
def zalo() -> Zalo:
    stand_in = Zalo(access_token="access-0", refresh_token="refresh-0", secret_key="bi-mat", app_id="1234567890")
    yield stand_in
    stand_in.close()


def zalo_notifier(zalo: Zalo, files: dict[str, str], users: list[str]) -> ZaloNotifier:
    return ZaloNotifier(**files, app_id="1234567890", user_ids=users, language="vi", timezone="Asia/Ho_Chi_Minh",
                        external_url=PUBLIC, api_url=zalo.url, oauth_url=zalo.url)  # fmt: skip


def test_zalo_sends_a_cs_text_to_each_follower_with_the_console_link(zalo, zalo_files):
    notifier = zalo_notifier(zalo, zalo_files, ["8123456789", "8987654321"])
    notifier.send(group(kiosk_alert(1)))
    assert zalo.server.problems == []
    (first, text), (second, same) = zalo.messages()
    assert (first, second) == ("8123456789", "8987654321") and text == same
    assert text.startswith(f"[CẢNH BÁO] {PHU_VANG_KIOSK} mất kết nối")
    assert text.endswith(f"Xem: {PUBLIC}/ui/alerts/41")
    assert zalo.refreshes == 0


def test_zalo_refreshes_a_refused_token_once_and_keeps_the_new_pair(zalo, zalo_files):
    zalo.access_token = "access-expired-by-zalo"  # Zalo no longer takes access-0
    zalo.refresh_token = "refresh-0"
    notifier = zalo_notifier(zalo, zalo_files, ["8123456789"])
    notifier.send(group(kiosk_alert(1)))
    notifier.send(group(kiosk_alert(2)))
    assert zalo.server.problems == []
    assert zalo.refreshes == 1 and len(zalo.messages()) == 2
    # The new pair is written back: the spent refresh token is never offered again.
    assert Path(zalo_files["access_token_file"]).read_text().strip() == "access-1"
    assert Path(zalo_files["refresh_token_file"]).read_text().strip() == "refresh-1"


def test_zalo_refresh_refused_is_a_permanent_error_naming_why(zalo, zalo_files):
    zalo.access_token, zalo.refresh_token = "access-elsewhere", "refresh-elsewhere"
    notifier = zalo_notifier(zalo, zalo_files, ["8123456789"])
    with pytest.raises(PermanentError, match="zalo token refresh refused: expired"):
        notifier.send(group(kiosk_alert(1)))
    assert zalo.messages() == []


def test_zalo_a_long_storm_is_cut_to_2000_characters_with_the_link_kept(zalo, zalo_files):
    notifier = zalo_notifier(zalo, zalo_files, ["8123456789"])
    notifier.send(group(*(kiosk_alert(i) for i in range(1, 60))))
    assert zalo.server.problems == []
    ((_, text),) = zalo.messages()
    assert len(text) <= 2000 and text.endswith(f"Xem: {PUBLIC}/ui/alerts/41")


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Mất kết nối", "Mat ket noi"),
        ("Đường truyền xã Phú Vang", "Duong truyen xa Phu Vang"),
        ("đầu đọc thẻ CCCD lỗi – ổ đĩa", "dau doc the CCCD loi - o dia"),
        ("Nhiệt độ cao (80°C)", "Nhiet do cao (80oC)"),
    ],
)
def test_diacritics_are_stripped_for_gateways_without_unicode(text, plain):
    assert strip_diacritics(text) == plain


def test_a_storm_is_one_sms_folded_to_max_chars_ending_with_the_link():
    text = sms_text(group(*(kiosk_alert(i) for i in range(1, 21))), language="vi", external_url=PUBLIC,
                    max_chars=160, unicode=False)  # fmt: skip
    assert len(text) <= 160 and text.isascii()
    assert text.startswith("[CANH BAO] 20 canh bao - UBND xa Phu Vang: Kiosk lay so 01 - UBND xa Phu Vang mat ket noi;")
    assert text.endswith(f"... {PUBLIC}/ui/alerts/41")
    short = sms_text(group(kiosk_alert(2)), language="vi", external_url=PUBLIC, max_chars=160, unicode=False)
    assert short == f"[CANH BAO] Kiosk lay so 02 mat ket noi {PUBLIC}/ui/alerts/42"


def test_esms_preset_sends_one_sms_per_phone_per_group(tmp_path: Path):
    (tmp_path / "key").write_text("ESMS-KEY\n")
    (tmp_path / "secret").write_text("ESMS-SECRET\n")
    esms = ESms(api_key="ESMS-KEY", secret_key="ESMS-SECRET")
    try:
        notifier = SmsNotifier(
            preset_gateway("esms", url=esms.url), phones=["0912345678", "0987654321"], language="vi",
            external_url=PUBLIC, brandname="SOTTTT", api_key_file=str(tmp_path / "key"),
            secret_key_file=str(tmp_path / "secret"),
        )  # fmt: skip
        notifier.send(group(*(kiosk_alert(i) for i in range(1, 21))))  # a storm of 20
        notifier.send(group(kiosk_alert(1, RESOLVED)))
        assert esms.server.problems == []
        messages = esms.messages()
        assert [phone for phone, _ in messages] == ["0912345678", "0987654321"] * 2
        assert messages[0][1].startswith("[CANH BAO] 20 canh bao") and len(messages[0][1]) <= 160
        assert messages[2][1] == f"[DA KHAC PHUC] Kiosk lay so 01 - UBND xa Phu Vang mat ket noi {PUBLIC}/ui/alerts/41"
        body = esms.server.accepted[0].json()
        assert (body["Brandname"], body["SmsType"], body["IsUnicode"]) == ("SOTTTT", "2", "0")
    finally:
        esms.close()


def test_esms_refusal_is_permanent(tmp_path: Path):
    (tmp_path / "key").write_text("WRONG\n")
    (tmp_path / "secret").write_text("ESMS-SECRET\n")
    esms = ESms(api_key="ESMS-KEY", secret_key="ESMS-SECRET")
    try:
        notifier = SmsNotifier(preset_gateway("esms", url=esms.url), phones=["0912345678"], language="vi",
                               external_url=PUBLIC, api_key_file=str(tmp_path / "key"),
                               secret_key_file=str(tmp_path / "secret"))  # fmt: skip
        with pytest.raises(PermanentError, match="CodeResult 101: Authorize Failed"):
            notifier.send(group(kiosk_alert(1)))
    finally:
        esms.close()


def test_speedsms_preset_sends_all_phones_in_one_request_with_basic_auth(tmp_path: Path):
    (tmp_path / "token").write_text("SPEED-TOKEN\n")
    speed = SpeedSms(access_token="SPEED-TOKEN")
    try:
        gateway = preset_gateway("speedsms", url=speed.url)
        notifier = SmsNotifier(gateway, phones=["0912345678", "0987654321"], language="vi", external_url=PUBLIC,
                               access_token_file=str(tmp_path / "token"))  # fmt: skip
        notifier.send(group(kiosk_alert(3)))
        assert speed.server.problems == []
        assert speed.messages() == [
            (("0912345678", "0987654321"), f"[CANH BAO] Kiosk lay so 03 mat ket noi {PUBLIC}/ui/alerts/43")
        ]
    finally:
        speed.close()


def test_a_gateway_of_our_own_from_a_body_template():
    seen = []

    def handle(request):
        seen.append((request.path, request.headers.get("x-api-key"), request.form()))
        return 200, {"ok": True}

    from standins import StandIn

    server = StandIn(handle)
    try:
        gateway = Gateway(server.url + "/send", "POST", {"X-Api-Key": "k"}, "to={phone}&msg={text}")
        notifier = SmsNotifier(gateway, phones=["0912345678"], language="vi", external_url=PUBLIC, max_chars=70,
                               unicode=True)  # fmt: skip
        notifier.send(group(kiosk_alert(2)))
        ((path, key, form),) = seen
        assert (path, key, form["to"]) == ("/send", "k", ["0912345678"])
        (msg,) = form["msg"]
        assert msg == f"[CẢNH BÁO] Kiosk lấy số… {PUBLIC}/ui/alerts/42"  # Unicode kept, folded to 70
    finally:
        server.close()
