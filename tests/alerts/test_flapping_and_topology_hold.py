"""Flap damping and the topology hold on a fake clock: engine and router, no I/O, counting pages."""

from __future__ import annotations

import numpy as np
import pytest
from alert_helpers import inventory_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.alert import FIRING, RESOLVED, Alert
from alerts.delivery.dispatcher import Dispatcher
from alerts.engine import FLAPPING_AFTER, FLAPPING_HOLD_FACTOR, Engine
from alerts.routes.tree import SITE_ELSE_AGENCY, Route
from alerts.rules import parse_rules_text
from ioc.inventory import parse_inventory
from ioc.model import StatusUpdate
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0
HOLD = 20.0
RULES = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    keep_firing_for: 3m
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
  - name: link_down
    kind: link
    type: threshold
    metric: up
    op: "<"
    threshold: 0.5
    for: 30s
    down: true
    keep_firing_for: 3m
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
  - name: link_loss
    kind: link
    type: threshold
    metric: loss_pct
    op: ">"
    threshold: 5
    clear: 2
    for: 2m
    inhibited_by: link_latency
    severity: warning
    summary: "{name}: {value:.0f}%"
  - name: link_latency
    kind: link
    type: threshold
    metric: rtt_ms
    op: ">"
    threshold: 200
    clear: 150
    for: 5m
    inhibited_by: [link_loss]
    severity: warning
    summary: "{name}: {value:.0f} ms"
  - name: link_burn
    kind: link
    type: burn_rate
    metric: up
    objective: 0.995
    bad_op: "<"
    bad_threshold: 0.5
    severity: warning
    summary: "{name}: {value:.1f}x"
"""
KEYS = {
    1: SeriesKey("link", "wan-xa-phu-vang", "up"),
    2: SeriesKey("link", "wan-xa-phu-vang", "loss_pct"),
    3: SeriesKey("kiosk", "kiosk-pv-01", "cpu_pct"),
    4: SeriesKey("kiosk", "kiosk-hcc-01", "cpu_pct"),
    5: SeriesKey("link", "wan-xa-phu-vang", "rtt_ms"),
}
# One kiosk at the provincial centre depends on nothing.
STANDALONE = '  - {kind: kiosk, id: kiosk-hcc-01, name: "Kiosk Trung tâm PVHCC", site: dc-tinh, interval_s: 10}\n'


class Pipeline:
    """The engine and the router as the service drives them, with the messages sent recorded."""

    def __init__(self, topology_hold_s: float = HOLD, group_wait_s: float = 2.0):
        rules, problems = parse_rules_text(RULES, "rules.yaml")
        assert problems == []
        inventory = parse_inventory(inventory_yaml(1) + STANDALONE)
        self.engine = Engine(rules, inventory, start=T0, topology_hold_s=topology_hold_s)
        self.router = Dispatcher(Route("ioc", SITE_ELSE_AGENCY, group_wait_s, group_wait_s, 4 * 3600))
        self.sent: list[tuple[float, str, str, str]] = []  # (at, status, rule, entity)
        self.bodies: list[tuple[float, tuple]] = []
        self.silent: set[str] = set()

    def _route(self, changed: list[Alert], now: float, tick: bool) -> None:
        for alert in changed:
            self.router.consider(alert, now)
        if tick:
            for alert in self.engine.alerts.values():
                self.router.consider(alert, now)
        for n in self.router.flush(now).notifications:
            self.bodies.append((now, n.alerts))
            self.sent.extend((now, a.status, a.labels["alertname"], a.labels["entity"]) for a in n.alerts)

    def samples(self, rows: list[tuple[int, float]], now: float, statuses: tuple[StatusUpdate, ...] = ()) -> None:
        ids = np.array([r[0] for r in rows], dtype=np.int32)
        values = np.array([r[1] for r in rows], dtype=float)
        ts = np.full(len(rows), now)
        # Everything not silent keeps reporting (metrics the rules here do not watch).
        seen = {(e.kind, e.id): now for e in self.engine.inventory.entities if e.ref not in self.silent}
        seen |= {(KEYS[sid].kind, KEYS[sid].entity): now for sid, _ in rows}
        changed = self.engine.observe(ids, ts, values, KEYS.get, statuses=statuses, seen=seen, now=now)
        self._route(changed, now, tick=False)

    def status(self, ref: str, word: str, now: float) -> None:
        kind, _, entity = ref.partition("/")
        if word == "offline":
            self.silent.add(ref)
        else:
            self.silent.discard(ref)
        self.samples([], now, (StatusUpdate(kind, entity, now, word),))

    def tick(self, now: float) -> None:
        self.samples([], now)
        self._route(self.engine.tick(now), now, tick=True)

    def pages(self) -> list[tuple[str, str]]:
        return [(rule, entity) for _, status, rule, entity in self.sent if status == "firing"]


def link_alive(p: Pipeline, now: float) -> None:
    """What a healthy link's probe reports every 10 s, with the kiosks that are not silent."""
    kiosks = [(sid, 20.0) for sid in (3, 4) if f"kiosk/{KEYS[sid].entity}" not in p.silent]
    p.samples([(1, 1.0), (2, 0.1), *kiosks], now)


@pytest.mark.parametrize("period", [120.0, 240.0, 300.0])
def test_a_flapping_link_pages_once_and_resolves_once_it_has_been_stable(period):
    p = Pipeline()
    t = T0
    flap_until = T0 + 30 * 60
    kiosk_offline = False
    while t < T0 + 60 * 60:
        t += 10
        down = t < flap_until and ((t - T0) % period) < period / 2
        if down:
            p.silent.add("kiosk/kiosk-pv-01")  # behind the link: silent, then its Last Will comes
            p.samples([(1, 0.0), (2, 100.0)], t)
            if ((t - T0) % period) == 50:
                p.status("kiosk/kiosk-pv-01", "offline", t)
                kiosk_offline = True
        else:
            if kiosk_offline:
                p.status("kiosk/kiosk-pv-01", "online", t)
                kiosk_offline = False
            p.silent.discard("kiosk/kiosk-pv-01")
            link_alive(p, t)
        p.tick(t + 1)
    assert p.pages() == [("link_down", "wan-xa-phu-vang")]
    resolved = [(at, rule) for at, status, rule, _ in p.sent if status == "resolved"]
    assert [rule for _, rule in resolved] == ["link_down"]
    (alert,) = [a for _, alerts in p.bodies for a in alerts if a.status == "resolved"]
    last_down_end = max(t for t in np.arange(T0, flap_until, 10) if ((t - T0) % period) < period / 2)
    assert last_down_end < alert.ends_at <= last_down_end + 20  # ends when it really came back
    flaps = int(alert.annotations["flaps"])
    assert flaps >= FLAPPING_AFTER and alert.annotations["flapping"] == "true"
    # Flapping: it had to stay healthy three times keep_firing_for before the resolved message.
    assert resolved[0][0] - alert.ends_at >= FLAPPING_HOLD_FACTOR * 180 - 12


def test_one_clean_outage_resolves_after_keep_firing_for_and_a_new_one_later_pages_again():
    p = Pipeline()
    for i in range(1, 7):  # down for a minute
        p.samples([(1, 0.0)], T0 + 10 * i)
        p.tick(T0 + 10 * i + 1)
    p.tick(T0 + 70)
    assert p.pages() == [("link_down", "wan-xa-phu-vang")]
    for i in range(8, 8 + 17):  # back, for less than keep_firing_for
        p.samples([(1, 1.0)], T0 + 10 * i)
        p.tick(T0 + 10 * i + 1)
    (alert,) = [a for a in p.engine.alerts.values() if a.rule != "link_burn"]
    assert alert.state == FIRING and alert.clearing_since == T0 + 80
    for i in range(25, 40):
        p.samples([(1, 1.0)], T0 + 10 * i)
        p.tick(T0 + 10 * i + 1)
    assert [s[1:] for s in p.sent] == [
        ("firing", "link_down", "wan-xa-phu-vang"),
        ("resolved", "link_down", "wan-xa-phu-vang"),
    ]
    assert p.bodies[-1][1][0].ends_at == T0 + 80
    assert "flaps" not in p.bodies[-1][1][0].annotations
    assert [a.rule for a in p.engine.alerts.values()] == ["link_burn"]  # a symptom, never paged
    assert p.engine.alerts and all(a.symptom for a in p.engine.alerts.values())
    # An outage an hour later is a new incident with a page of its own.
    for i in range(0, 8):
        p.samples([(1, 0.0)], T0 + 3600 + 10 * i)
        p.tick(T0 + 3600 + 10 * i + 1)
    assert p.pages() == [("link_down", "wan-xa-phu-vang")] * 2


def test_a_reconnecting_kiosk_is_one_incident_and_its_first_last_will_pages_promptly():
    p = Pipeline()
    for cycle in range(6):  # offline 40 s, online 40 s, six times
        t = T0 + cycle * 80
        p.status("kiosk/kiosk-hcc-01", "offline", t)
        p.tick(t + 3)
        p.status("kiosk/kiosk-hcc-01", "online", t + 40)
        p.samples([(4, 20.0)], t + 41)
        p.tick(t + 43)
    firing = [(at, rule, entity) for at, status, rule, entity in p.sent if status == "firing"]
    assert firing == [(T0 + 3, "kiosk_down", "kiosk-hcc-01")]  # no depends_on: no topology hold
    (alert,) = [a for a in p.engine.alerts.values() if a.rule != "link_burn"]
    assert alert.flaps == 5 and alert.annotations["flapping"] == "true"


def test_a_dependent_waits_for_its_root_and_is_listed_on_the_root_page():
    p = Pipeline()
    link_alive(p, T0)
    # The link fails: its probe sees `up` == 0 from T0 + 10, and link_down waits out its 30 s `for`.
    p.samples([(1, 0.0), (2, 100.0)], T0 + 10)
    p.tick(T0 + 11)
    # The kiosk's Last Will arrives while the link's alert is still pending.
    p.status("kiosk/kiosk-pv-01", "offline", T0 + 20)
    p.tick(T0 + 21)
    kiosk = next(a for a in p.engine.alerts.values() if a.rule == "kiosk_down")
    assert kiosk.state == FIRING and kiosk.hold_until is not None and kiosk.hold_until >= T0 + 20 + HOLD
    p.tick(T0 + 25)
    assert p.sent == []  # past the group wait, but held for the link
    for i in range(2, 7):
        p.samples([(1, 0.0), (2, 100.0)], T0 + 10 * i)
        p.tick(T0 + 1 + 10 * i)
    # link_down fires at T0 + 41: the kiosk's hold (to T0 + 40) was stretched to wait for it. The group
    # wait then sends the link alone.
    assert p.pages() == [("link_down", "wan-xa-phu-vang")]
    assert kiosk.suppressed_by == "link/wan-xa-phu-vang"
    body = [a for _, alerts in p.bodies for a in alerts]
    assert "Kiosk lấy số 01 – UBND xã Phú Vang (kiosk/kiosk-pv-01)" in body[0].annotations["unreachable"]
    for i in range(7, 30):  # loss 100% for minutes: a symptom of the link being down, no page of its own
        p.samples([(1, 0.0), (2, 100.0)], T0 + 10 * i)
        p.tick(T0 + 1 + 10 * i)
    loss = next(a for a in p.engine.alerts.values() if a.rule == "link_loss")
    assert loss.state == FIRING and loss.suppressed_by == "link/wan-xa-phu-vang"
    assert p.pages() == [("link_down", "wan-xa-phu-vang")]


def test_a_dependent_pages_at_once_when_its_root_just_reported_up():
    p = Pipeline()
    link_alive(p, T0)
    p.status("kiosk/kiosk-pv-01", "offline", T0 + 5)  # the link answered 5 s ago, within its 10 s interval
    kiosk = next(a for a in p.engine.alerts.values() if a.rule == "kiosk_down")
    assert kiosk.state == FIRING and kiosk.hold_until is None
    p.tick(T0 + 8)  # one group wait later
    assert p.pages() == [("kiosk_down", "kiosk-pv-01")]


def test_a_dependent_pages_after_the_hold_when_its_root_is_not_heard_from():
    p = Pipeline()
    link_alive(p, T0)
    p.silent.add("link/wan-xa-phu-vang")  # nothing from the link since T0, nor any verdict on it
    p.status("kiosk/kiosk-pv-01", "offline", T0 + 20)
    for i in range(3, 12):
        p.tick(T0 + 10 * i + 1)
    firing = [(at, rule, entity) for at, status, rule, entity in p.sent if status == "firing"]
    # Held until T0 + 20 + HOLD, then one group wait (2 s), sent on the next evaluation.
    assert [f[1:] for f in firing] == [("kiosk_down", "kiosk-pv-01")]
    assert T0 + 20 + HOLD <= firing[0][0] <= T0 + 20 + HOLD + 12


def test_no_hold_for_alerts_released_when_their_root_recovers():
    p = Pipeline()
    link_alive(p, T0)
    p.samples([(1, 0.0)], T0 + 10)  # the link fails first; the kiosk's Last Will follows
    p.tick(T0 + 11)
    p.status("kiosk/kiosk-pv-01", "offline", T0 + 15)
    for i in range(2, 6):
        p.samples([(1, 0.0)], T0 + 10 * i)
        p.tick(T0 + 10 * i + 1)
    p.tick(T0 + 60)
    assert p.pages() == [("link_down", "wan-xa-phu-vang")]
    # The link comes back (and stays back past keep_firing_for); the kiosk is still offline.
    for i in range(7, 30):
        p.samples([(1, 1.0)], T0 + 10 * i)
        p.tick(T0 + 10 * i + 1)
    kiosk = next(a for a in p.engine.alerts.values() if a.rule == "kiosk_down")
    assert kiosk.suppressed_by is None and kiosk.hold_until is None
    assert p.pages() == [("link_down", "wan-xa-phu-vang"), ("kiosk_down", "kiosk-pv-01")]
    link = [a for _, alerts in p.bodies for a in alerts if a.labels["alertname"] == "link_down"]
    assert [a.status for a in link] == ["firing", "resolved"]


def test_restored_alerts_keep_their_state_without_flap_memory():
    p = Pipeline()
    for i in range(1, 6):
        p.samples([(1, 0.0)], T0 + 10 * i)
    p.tick(T0 + 60)
    (alert,) = [a for a in p.engine.alerts.values() if a.rule != "link_burn"]
    assert alert.state == FIRING
    again = Pipeline()
    assert again.engine.restore([alert], [], T0 + 61) == []
    again.samples([(1, 1.0)], T0 + 70)
    assert alert.state == FIRING and alert.clearing_since == T0 + 70
    again.tick(T0 + 70 + 180)
    assert alert.state == RESOLVED and alert.ends_at == T0 + 70


def test_a_degraded_link_is_one_incident_whichever_symptom_shows_first():
    p = Pipeline()
    for i in range(1, 60):  # 12% loss and 250 ms for ten minutes; then the loss goes, the latency stays
        t = T0 + 10 * i
        p.samples([(1, 1.0), (2, 12.0 if i < 40 else 0.5), (5, 250.0)], t)
        p.tick(t + 1)
    latency = next(a for a in p.engine.alerts.values() if a.rule == "link_latency")
    assert p.pages() == [("link_loss", "wan-xa-phu-vang"), ("link_latency", "wan-xa-phu-vang")]
    # Latency fired at about T0 + 310 behind the loss page; it paged only once the loss was gone.
    latency_page = next(at for at, status, rule, _ in p.sent if rule == "link_latency")
    assert latency.starts_at is not None and latency.starts_at < T0 + 400 <= latency_page
    assert latency.suppressed_by is None


def test_a_symptom_waits_for_its_entity_s_own_pending_down_alert():
    """The burn rate on `up` fires on the first bad sample; link_down needs its 30 s `for`: one page."""
    p = Pipeline(group_wait_s=0.0)
    link_alive(p, T0)
    for i in range(1, 12):
        p.samples([(1, 0.0)], T0 + 10 * i)
        p.tick(T0 + 10 * i + 1)
    burn = next(a for a in p.engine.alerts.values() if a.rule == "link_burn")
    assert burn.state == FIRING and burn.starts_at == T0 + 10
    assert burn.suppressed_by == "link/wan-xa-phu-vang"
    assert p.pages() == [("link_down", "wan-xa-phu-vang")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 80), st.integers(1, 140)), min_size=1, max_size=12))
def test_pages_follow_the_flap_damping_model(episodes):
    """Any Last Will / reconnect sequence of a standalone kiosk: a new incident (and page) only after it
    stayed online longer than keep_firing_for (3 x that once flapping); one resolved message each."""
    keep = 180.0
    p = Pipeline(group_wait_s=0.0)
    t = T0
    expected_pages, flaps, back_at = 0, 0, None
    timeline: list[tuple[float, str]] = []
    for down_steps, up_steps in episodes:
        timeline.append((t, "offline"))
        if back_at is None or t - back_at > keep * (FLAPPING_HOLD_FACTOR if flaps >= FLAPPING_AFTER else 1):
            expected_pages, flaps = expected_pages + 1, 0
        else:
            flaps += 1
        t += 5 * down_steps
        timeline.append((t, "online"))
        back_at = t
        t += 5 * up_steps
    end = t + keep * FLAPPING_HOLD_FACTOR + 10
    events = dict(timeline)
    now = T0
    while now <= end:
        if now in events:
            p.status("kiosk/kiosk-hcc-01", events[now], now)
        p.tick(now)
        now += 5
    sent = [(status, rule) for _, status, rule, entity in p.sent if entity == "kiosk-hcc-01"]
    assert sent.count(("firing", "kiosk_down")) == expected_pages
    assert sent.count(("resolved", "kiosk_down")) == expected_pages
    assert not any(a.entity == "kiosk-hcc-01" for a in p.engine.alerts.values())
