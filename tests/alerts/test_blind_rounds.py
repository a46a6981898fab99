"""The alert service on the real store and a fake clock, its rounds driven one at a time: a round that
comes after a blind time (no round reached the store for longer than BLIND_GAP_S, or the listener heard
the store again after losing it) gives every entity a full heartbeat from then (contract section 2)."""

from __future__ import annotations

from pathlib import Path

from alert_helpers import Batches, Receiver, load_inventory, write_rules
from prometheus_client import CollectorRegistry

from alerts.rules import load_rules
from alerts.service import BLIND_GAP_S, AlertService
from ioc.settings import load_settings

HEARTBEAT_S = 30.0  # interval_s 10 in the inventory
KIOSKS = ("kiosk-pv-01", "kiosk-pv-02", "kiosk-pv-03")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_service(dsn: str, pool: object, receiver: Receiver, tmp_path: Path, clock: Clock) -> AlertService:
    settings = load_settings(
        database_url=dsn,
        alert_webhook_urls=receiver.url + "/hook",
        rules_dir=write_rules(tmp_path / "rules"),
        alert_tick_s=1.0,
        alert_topology_hold_s=0.0,
    )
    rules = [r for r in load_rules(settings.rules_dir) if r.name == "kiosk_down"]
    service = AlertService(settings, pool=pool, registry=CollectorRegistry(), rules=rules, clock=clock, wall=clock)
    service._rules = rules
    service._take_over()  # what start() does, without the threads: rounds are driven by the test
    return service


def publish(service: AlertService, batches: Batches, clock: Clock, kiosks, start: float, end: float) -> list[str]:
    """A round a second from start to end, each with a sample of every kiosk in `kiosks`; the kiosks
    whose `kiosk_down` alert is open afterwards."""
    t = start
    while t < end:
        clock.now = t + 0.2
        rows = [("kiosk", k, "cpu_pct", t, 5.0) for k in kiosks]
        service.step([batches.samples(rows)] if rows else [], tick=True)
        t += 1.0
    assert service.engine is not None
    return sorted(a.entity for a in service.engine.alerts.values())


def test_a_round_after_a_blind_time_restarts_every_silence_clock(dsn, pool, receiver, tmp_path):
    load_inventory(dsn, kiosks=len(KIOSKS))
    t0 = 1_800_000_000.0
    clock = Clock(t0)
    service = make_service(dsn, pool, receiver, tmp_path, clock)
    batches = Batches(dsn)
    assert publish(service, batches, clock, KIOSKS, t0, t0 + 10) == []
    # No round for 45 s (the store away, or the process paused); the kiosks kept publishing meanwhile.
    gap_end = t0 + 10 + 45
    assert gap_end - (t0 + 10) > BLIND_GAP_S
    assert publish(service, batches, clock, (), gap_end, gap_end + 1) == [], "blind is not silent"
    assert publish(service, batches, clock, KIOSKS[:2], gap_end + 1, gap_end + HEARTBEAT_S) == []
    paged = publish(service, batches, clock, KIOSKS[:2], gap_end + HEARTBEAT_S, gap_end + HEARTBEAT_S + 3)
    assert paged == ["kiosk-pv-03"], "silent a full heartbeat after sight came back"


def test_rounds_on_time_keep_the_silence_clock(dsn, pool, receiver, tmp_path):
    """The control: without a blind time, a kiosk silent past its heartbeat pages when it is due."""
    load_inventory(dsn, kiosks=len(KIOSKS))
    t0 = 1_800_000_000.0
    clock = Clock(t0)
    service = make_service(dsn, pool, receiver, tmp_path, clock)
    batches = Batches(dsn)
    assert publish(service, batches, clock, KIOSKS, t0, t0 + 10) == []
    assert publish(service, batches, clock, KIOSKS[:2], t0 + 10, t0 + 9 + HEARTBEAT_S) == []
    assert publish(service, batches, clock, KIOSKS[:2], t0 + 9 + HEARTBEAT_S, t0 + 12 + HEARTBEAT_S) == [KIOSKS[2]]


def test_the_listener_hearing_the_store_again_restarts_every_silence_clock(dsn, pool, receiver, tmp_path):
    load_inventory(dsn, kiosks=len(KIOSKS))
    t0 = 1_800_000_000.0
    clock = Clock(t0)
    service = make_service(dsn, pool, receiver, tmp_path, clock)
    batches = Batches(dsn)
    assert publish(service, batches, clock, KIOSKS, t0, t0 + 10) == []
    # Rounds on time, but no batch came for 25 s: the listener had lost the store (NOTIFYs missed).
    assert publish(service, batches, clock, (), t0 + 10, t0 + 35) == []
    service.listener.regained()  # what CommittedListener.run calls once it listens again
    assert publish(service, batches, clock, KIOSKS[:2], t0 + 35, t0 + 35 + HEARTBEAT_S) == []
    assert publish(service, batches, clock, KIOSKS[:2], t0 + 35 + HEARTBEAT_S, t0 + 38 + HEARTBEAT_S) == [KIOSKS[2]]
