"""The delivery stages one by one: held back, muted (silences and the routes' time intervals), grouped
across a restart, and the notify stage's digest of a province-wide storm."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alert_helpers import Receiver, wait_until
from prometheus_client import CollectorRegistry
from standins import ESms

from alerts.alert import FIRING, PENDING, Alert, alert_labels, fingerprint
from alerts.delivery.dispatcher import Dispatcher
from alerts.delivery.inhibit import held_back
from alerts.delivery.mute import Muter
from alerts.delivery.notify import Deliverer, Integration
from alerts.notifiers.sms import SmsNotifier, preset_gateway
from alerts.notifiers.webhook import WebhookNotifier
from alerts.routes.config import parse_routes_text
from alerts.routes.tree import SITE_ELSE_AGENCY, Route, build_tree
from ioc.metrics import AlertMetrics

T0 = 1_800_000_000.0


def kiosk(entity: str, site: str = "xa-phu-vang", **fields: object) -> Alert:
    labels = alert_labels(rule="kiosk_down", severity="critical", kind="kiosk", entity=entity, site=site,
                          agency="so-tttt")  # fmt: skip
    alert = Alert(fingerprint(labels), "kiosk_down", "critical", "kiosk", entity, labels, state=FIRING, site=site,
                  agency="so-tttt", summary=f"{entity} mất kết nối", pending_since=T0, starts_at=T0, id=7)  # fmt: skip
    for key, value in fields.items():
        setattr(alert, key, value)
    return alert


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"state": PENDING}, "not firing"),
        ({"suppressed_by": "link/wan-xa-phu-vang"}, "suppressed by link/wan-xa-phu-vang"),
        ({"hold_until": T0 + 10}, "topology hold"),
        ({"hold_until": T0 - 1}, None),
        ({"clearing_since": T0 - 5}, "clearing"),  # healthy again before anyone was told: no page
        ({"clearing_since": T0 - 5, "last_notified_at": T0 - 60}, None),  # told: it stays in its group
    ],
)
def test_held_back(fields, reason):
    assert held_back(kiosk("k1", **fields), T0) == reason


ROUTES = """
route:
  receiver: ca-ngay
  group_wait: 0s
  group_interval: 1m
  routes:
    - matchers: ['severity="critical"']
      receiver: ca-dem
      active_time_intervals: [dem]
    - matchers: ['severity="warning"']
      receiver: ca-ngay
      mute_time_intervals: [dem]
receivers: [{name: ca-ngay}, {name: ca-dem}]
time_intervals:
  - name: dem
    time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}], location: Asia/Ho_Chi_Minh}]
"""


def _at(local: str) -> float:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()


def test_time_intervals_mute_routes_and_the_message_goes_out_when_they_end():
    config = parse_routes_text(ROUTES)
    dispatcher = Dispatcher(build_tree(config.route), Muter(config.intervals()))
    night = _at("2026-11-23 23:30")
    alert = kiosk("k1", starts_at=night)
    dispatcher.consider(alert, night)
    # The night shift's route is active now.
    assert [(n.receiver, len(n.alerts)) for n in dispatcher.flush(night).notifications] == [("ca-dem", 1)]
    warning = kiosk("k2", site="xa-khac", severity="warning")
    warning.labels = {**warning.labels, "severity": "warning"}
    dispatcher.consider(warning, night)
    assert dispatcher.flush(night).notifications == []  # the day route is muted at night ...
    morning = _at("2026-11-24 00:00")
    assert [n.receiver for n in dispatcher.flush(morning + 60).notifications] == ["ca-ngay"]  # ... until it ends


def test_silences_mute_alerts_not_routes():
    dispatcher = Dispatcher(Route("ioc", SITE_ELSE_AGENCY, 0, 0, 3600))
    from alerts.silences import Silence

    dispatcher.muter.silences = [Silence(3, {"entity": "k1"}, T0 - 1, T0 + 60)]
    dispatcher.consider(kiosk("k1"), T0)
    dispatcher.consider(kiosk("k2"), T0)
    (message,) = dispatcher.flush(T0).notifications
    assert [a.labels["entity"] for a in message.alerts] == ["k2"]


def test_an_alert_announced_before_a_restart_is_not_announced_again():
    dispatcher = Dispatcher(Route("ioc", SITE_ELSE_AGENCY, 2, 2, 3600))
    told = kiosk("k1", last_notified_at=T0 - 100)  # loaded from the store after a restart
    dispatcher.consider(told, T0)
    assert dispatcher.flush(T0 + 2).notifications == []
    dispatcher.consider(kiosk("k2"), T0 + 3)  # a new one in the same group: the message lists both
    (message,) = dispatcher.flush(T0 + 5).notifications
    assert sorted(a.labels["entity"] for a in message.alerts) == ["k1", "k2"]
    # The repeat interval runs from the last message, not from the restart; it is looked at on the group's
    # interval ticks, as Alertmanager does.
    assert dispatcher.flush(T0 + 5 + 3599).notifications == []
    assert len(dispatcher.flush(T0 + 5 + 3601).notifications) == 1


def test_a_province_wide_storm_is_one_digest_per_person_and_one_payload_per_group_per_program(
    receiver: Receiver, tmp_path: Path
):
    (tmp_path / "k").write_text("EK\n")
    (tmp_path / "s").write_text("ES\n")
    esms = ESms(api_key="EK", secret_key="ES")
    stopping = threading.Event()
    sms = SmsNotifier(preset_gateway("esms", url=esms.url), phones=["0912345678"], language="vi",
                      external_url="https://ioc.example", api_key_file=str(tmp_path / "k"),
                      secret_key_file=str(tmp_path / "s"))  # fmt: skip
    deliverer = Deliverer(
        {"truc-ca": [Integration(WebhookNotifier(receiver.url + "/hook", external_url="https://ioc.example")),
                     Integration(sms, digest=True)]},
        AlertMetrics(CollectorRegistry()), stopping, retry_base_s=0.01,
    )  # fmt: skip
    deliverer.start()
    dispatcher = Dispatcher(Route("truc-ca", ("site",), 30, 300, 3600))
    try:
        sites = [f"xa-{i:02d}" for i in range(30)]
        for i, site in enumerate(sites):  # the regional backbone goes: 30 sites within 3 s
            dispatcher.consider(kiosk(f"kiosk-{site}", site=site), T0 + i * 0.1)
        assert dispatcher.flush(T0 + 29).notifications == []
        round_ = dispatcher.flush(T0 + 30).notifications
        assert len(round_) == 30 and dispatcher.flush(T0 + 33).notifications == []
        deliverer.deliver(round_)
        wait_until(lambda: len(receiver.bodies()) == 30 and esms.messages(), timeout=10, what="the storm delivered")
        assert sorted(b["groupLabels"]["site"] for b in receiver.bodies()) == sites
        ((phone, text),) = esms.messages()
        assert phone == "0912345678" and text.startswith("[CANH BAO] 30 canh bao: kiosk-xa-00 mat ket noi;")
        assert len(text) <= 160 and esms.server.problems == []
    finally:
        deliverer.stop()
        esms.close()
