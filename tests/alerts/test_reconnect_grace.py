"""Dependents follow their root's real state (issue 8, item 5), on a fake clock with the shipped rules:
a link down with 20 kiosks behind it comes back, and the kiosks still dark page within 90 s of its
return, while the link's own resolved waits out its flap damping (keep_firing_for, 3 min)."""

from __future__ import annotations

import numpy as np
from alert_helpers import inventory_yaml

from alerts.delivery.dispatcher import Dispatcher
from alerts.engine import Engine
from alerts.routes.tree import SITE_ELSE_AGENCY, Route
from alerts.rules import load_rules
from ioc.inventory import parse_inventory
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0
KIOSKS = 20
LINK_UP, PORTAL_UP = 1, 100
KEYS = {LINK_UP: SeriesKey("link", "wan-xa-phu-vang", "up"), PORTAL_UP: SeriesKey("service", "dvc-portal", "up")} | {
    1 + i: SeriesKey("kiosk", f"kiosk-pv-{i:02d}", "cpu_pct") for i in range(1, KIOSKS + 1)
}


class Run:
    """The engine and the delivery stages as the service drives them, every second, with what was sent."""

    def __init__(self, reconnect_grace_s: float):
        inventory = parse_inventory(inventory_yaml(KIOSKS))
        self.engine = Engine(load_rules(), inventory, start=T0, topology_hold_s=20, reconnect_grace_s=reconnect_grace_s)
        # The tree without a routes file, with the default settings: 2 s group wait, 4 h repeat.
        self.dispatcher = Dispatcher(Route("ioc", SITE_ELSE_AGENCY, 2.0, 2.0, 4 * 3600))
        self.sent: list[tuple[float, str, str, str]] = []  # (at, status, rule, entity)
        self.messages = 0

    def second(self, now: float, link_up: float, kiosks_reporting: range) -> None:
        rows = [(LINK_UP, link_up)] if int(now - T0) % 10 == 0 else []
        rows += [(1 + i, 20.0) for i in kiosks_reporting if int(now - T0) % 10 == i % 10]
        rows += [(PORTAL_UP, 1.0)] if int(now - T0) % 30 == 5 else []  # the portal's probe, all along
        ids = np.array([r[0] for r in rows], dtype=np.int32)
        values = np.array([r[1] for r in rows], dtype=float)
        seen = {(KEYS[sid].kind, KEYS[sid].entity): now for sid, _ in rows}
        changed = self.engine.observe(ids, np.full(len(rows), now), values, KEYS.get, seen=seen, now=now)
        changed += self.engine.tick(now)
        for alert in changed:
            self.dispatcher.consider(alert, now)
        for alert in self.engine.alerts.values():
            self.dispatcher.consider(alert, now)
        for n in self.dispatcher.flush(now).notifications:
            self.messages += 1
            for a in n.alerts:
                key = (a.status, a.labels["alertname"], a.labels["entity"])
                if not any(s[1:] == key for s in self.sent):  # a group's later messages repeat its alerts
                    self.sent.append((now, *key))


def outage(reconnect_grace_s: float) -> tuple[Run, float]:
    run = Run(reconnect_grace_s)
    everyone, back = range(1, KIOSKS + 1), range(1, 16)  # kiosks 16 to 20 stay dark
    down_at, back_at = T0 + 60, T0 + 360
    for s in range(0, 900):
        now = T0 + s
        if now < down_at:
            run.second(now, 1.0, everyone)
        elif now < back_at:
            run.second(now, 0.0, range(0))  # the link is down: its probe says so, no kiosk gets through
        else:
            # The link is back; 15 kiosks reconnect within 20 s, 5 stay dark (their own fault now).
            run.second(now, 1.0, back if now >= back_at + 20 else range(0))
    return run, back_at


def test_kiosks_still_dark_page_within_90_s_of_the_link_s_return():
    run, back_at = outage(reconnect_grace_s=45)
    firing = [(at, rule, entity) for at, status, rule, entity in run.sent if status == "firing"]
    assert firing[0][1:] == ("link_down", "wan-xa-phu-vang") and firing[0][0] < back_at
    kiosk_pages = sorted((entity, at) for at, rule, entity in firing if rule == "kiosk_down")
    assert [entity for entity, _ in kiosk_pages] == [f"kiosk-pv-{i:02d}" for i in range(16, KIOSKS + 1)]
    assert all(back_at + 45 <= at <= back_at + 90 for _, at in kiosk_pages), kiosk_pages
    assert len({at for _, at in kiosk_pages}) == 1  # one message for the five, the site's group
    # The link's resolved follows within its damping: 3 min after it came back.
    (resolved_at,) = [at for at, status, rule, _ in run.sent if status == "resolved" and rule == "link_down"]
    assert back_at + 180 <= resolved_at <= back_at + 185
    # Nothing else: no page for the kiosks that came back, no second link page.
    assert len(firing) == 1 + 5


def test_without_the_grace_the_kiosks_wait_for_the_link_s_resolved():
    """What was measured before: the dark kiosks paged only after the link's keep_firing_for (182 s)."""
    run, back_at = outage(reconnect_grace_s=float("inf"))
    kiosk_pages = [at for at, status, rule, _ in run.sent if status == "firing" and rule == "kiosk_down"]
    assert len(kiosk_pages) == 5 and min(kiosk_pages) >= back_at + 180
