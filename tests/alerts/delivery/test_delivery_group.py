"""The group stage on the one-route tree of a run without a routes file: grouping by site (else agency),
silences, maintenance windows, acks and repeats, on a fake clock."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from alerts.alert import FIRING, RESOLVED, Alert, alert_labels, fingerprint
from alerts.delivery.dispatcher import Dispatcher
from alerts.routes.tree import SITE_ELSE_AGENCY, Route
from alerts.silences import MaintenanceWindow, Silence, matches

T0 = 1_800_000_000.0


def alert(entity: str, site: str | None = "xa-phu-vang", agency: str | None = None, rule: str = "kiosk_down") -> Alert:
    labels = alert_labels(rule=rule, severity="critical", kind="kiosk", entity=entity, site=site, agency=agency)
    return Alert(fingerprint(labels), rule, "critical", "kiosk", entity, labels, state=FIRING, site=site,
                 agency=agency, summary=entity, pending_since=T0, starts_at=T0, id=hash(entity) % 1000)  # fmt: skip


def Router(*, group_wait_s: float, repeat_interval_s: float) -> Dispatcher:
    """What `IOC_ALERT_GROUP_WAIT_S` and `IOC_ALERT_REPEAT_INTERVAL_S` make of the tree without a routes file."""
    route = Route("ioc", SITE_ELSE_AGENCY, group_wait_s, group_wait_s, repeat_interval_s)
    return Dispatcher(route)


def sent(router: Dispatcher, now: float) -> list[list[tuple[str, str]]]:
    return [[(a.labels["entity"], a.status) for a in n.alerts] for n in router.flush(now).notifications]


def test_a_storm_at_one_site_is_one_message_after_the_group_wait():
    router = Router(group_wait_s=2, repeat_interval_s=3600)
    storm = [alert(f"kiosk-{i}") for i in range(5)]
    for i, a in enumerate(storm):
        router.consider(a, T0 + i * 0.1)
    router.consider(alert("svc", site=None, agency="so-tttt"), T0)
    assert sent(router, T0 + 1.9) == []
    out = sent(router, T0 + 2)
    assert sorted(len(m) for m in out) == [1, 5]
    assert router.flush(T0 + 10).notifications == []


def test_group_keys_by_site_then_agency():
    router = Router(group_wait_s=0, repeat_interval_s=3600)
    router.consider(alert("a", site="s1"), T0)
    router.consider(alert("b", site=None, agency="ag"), T0)
    router.consider(alert("c", site=None), T0)
    notifications = router.flush(T0).notifications
    assert sorted(n.group_key for n in notifications) == ['{}:{agency="ag"}', '{}:{site="s1"}', "{}:{}"]


def test_repeat_interval_and_ack():
    router = Router(group_wait_s=0, repeat_interval_s=3600)
    a = alert("k1")
    router.consider(a, T0)
    assert sent(router, T0) == [[("k1", "firing")]]
    assert a.last_notified_at == T0
    router.consider(a, T0 + 3599)
    assert sent(router, T0 + 3599) == []
    router.consider(a, T0 + 3600)
    assert sent(router, T0 + 3600) == [[("k1", "firing")]]
    a.acked_by = "Nguyễn Văn An"
    router.consider(a, T0 + 8000)
    assert sent(router, T0 + 8000) == []
    a.state, a.ends_at = RESOLVED, T0 + 9000
    router.consider(a, T0 + 9000)
    assert sent(router, T0 + 9000) == [[("k1", "resolved")]]  # an acked alert still reports its end


def test_resolved_is_sent_only_for_what_was_announced():
    router = Router(group_wait_s=5, repeat_interval_s=3600)
    a = alert("k1")
    router.consider(a, T0)
    a.state = RESOLVED  # resolved during the group wait: neither firing nor resolved is sent
    router.consider(a, T0 + 1)
    assert sent(router, T0 + 5) == []


def test_suppressed_alerts_send_nothing_until_released():
    router = Router(group_wait_s=0, repeat_interval_s=3600)
    a = alert("k1")
    a.suppressed_by = "link/wan"
    router.consider(a, T0)
    assert sent(router, T0) == []
    a.suppressed_by = None
    router.consider(a, T0 + 1)
    assert sent(router, T0 + 1) == [[("k1", "firing")]]


def test_silence_mutes_matching_alerts_for_its_time_range():
    router = Router(group_wait_s=0, repeat_interval_s=3600)
    router.muter.silences = [Silence(1, {"site": "xa-phu-vang", "alertname": "kiosk_down"}, T0, T0 + 600)]
    a, b = alert("k1"), alert("k2", site="other")
    router.consider(a, T0)
    router.consider(b, T0)
    assert sent(router, T0) == [[("k2", "firing")]]
    assert router.muter.muted(a.labels, T0) == "silence#1"
    router.consider(a, T0 + 600)  # the silence ran out: the alert pages now
    assert sent(router, T0 + 600) == [[("k1", "firing")]]


@pytest.mark.parametrize(
    ("local", "active"),
    [
        ("2026-11-22 21:59", False),  # Sunday
        ("2026-11-22 22:00", True),
        ("2026-11-22 23:59", True),
        ("2026-11-23 00:30", True),  # past midnight, into Monday
        ("2026-11-23 01:00", False),
        ("2026-11-23 22:30", False),  # Monday is not in the window
    ],
)
def test_maintenance_window_recurs_weekly_in_local_time(local, active):
    window = MaintenanceWindow(1, {"site": "dc-tinh"}, (7,), time(22, 0), 3 * 3600, "Asia/Ho_Chi_Minh")
    now = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).timestamp()
    assert window.active(now) is active


def test_matchers():
    assert matches({"site": "a"}, {"site": "a", "entity": "x"})
    assert not matches({"site": "a", "entity": "y"}, {"site": "a", "entity": "x"})
    assert not matches({}, {"site": "a"})
