"""Alerting's own blindness is not the devices' silence (contract section 2): the liveness rule on a fake
clock. After a blind time (the store away, a process that comes to lead or starts, a round that came
late) every entity gets a full heartbeat from the moment alerting sees again; the spool's replay of the
blind time keeps that moment moving; an `offline` still pages at once; an alert already open stays."""

from __future__ import annotations

import numpy as np
import pytest
from alert_helpers import inventory_yaml

from alerts.alert import FIRING
from alerts.detectors.heartbeat import Liveness, liveness
from alerts.engine import Engine
from alerts.rules import parse_rules_text
from ioc.inventory import parse_inventory
from ioc.model import StatusUpdate
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0
HEARTBEAT = 30.0  # interval_s 10 in the inventory
KIOSKS = ("kiosk-pv-01", "kiosk-pv-02", "kiosk-pv-03")
KEYS = {i + 1: SeriesKey("kiosk", k, "cpu_pct") for i, k in enumerate(KIOSKS)}
RULES = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
"""


@pytest.mark.parametrize(
    ("now", "last_seen", "offline_at", "sight", "expected"),
    [
        (100, 10, None, None, Liveness(True, "no_data", 40)),  # no blind time: as before
        (100, 10, None, 80, Liveness(False, None, None)),  # a full heartbeat from sight
        (111, 10, None, 80, Liveness(True, "no_data", 110)),
        (100, 90, None, 80, Liveness(False, None, None)),  # heard after sight: from the sample
        (121, 90, None, 80, Liveness(True, "no_data", 120)),
        (100, 10, 50, 80, Liveness(True, "offline", 50)),  # `offline` counts at once
        (100, None, None, 80, Liveness(False, None, None)),
    ],
)
def test_silence_counts_from_sight(now, last_seen, offline_at, sight, expected):
    assert liveness(now=now, last_seen=last_seen, offline_at=offline_at, heartbeat=HEARTBEAT, sight=sight) == expected


def make_engine(start: float) -> Engine:
    rules, problems = parse_rules_text(RULES, "blind.yaml")
    assert problems == []
    return Engine(rules, parse_inventory(inventory_yaml(len(KIOSKS))), start=start, topology_hold_s=0.0)


def feed(engine: Engine, samples: dict[str, list[float]], now: float, statuses=()):
    """One committed batch: each kiosk's samples at these times, arriving `now`."""
    sid = {k: i for i, k in KEYS.items()}
    rows = [(sid[SeriesKey("kiosk", kiosk, "cpu_pct")], t) for kiosk, times in samples.items() for t in times]
    seen = {("kiosk", kiosk): max(times) for kiosk, times in samples.items() if times}
    return engine.observe(
        np.array([r[0] for r in rows], dtype=np.int32),
        np.array([r[1] for r in rows], dtype=float),
        np.full(len(rows), 5.0),
        KEYS.get,
        statuses=statuses,
        seen=seen,
        now=now,
    )


def publish_every_second(engine: Engine, kiosks, start: float, end: float) -> None:
    for t in np.arange(start, end, 1.0):
        assert feed(engine, {k: [float(t)] for k in kiosks}, now=float(t) + 0.2) == []
        assert engine.tick(float(t) + 0.5) == []


def run_ticks(engine: Engine, start: float, end: float, live=(), step: float = 1.0) -> list:
    """Ticks (and, from `live`, a sample a second) from start to end; every change they made."""
    changed = []
    for t in np.arange(start, end, step):
        if live:
            changed += feed(engine, {k: [float(t)] for k in live}, now=float(t) + 0.2)
        changed += engine.tick(float(t) + 0.5)
    return changed


def test_a_blind_time_longer_than_a_heartbeat_pages_nobody_that_kept_publishing():
    engine = make_engine(T0)
    publish_every_second(engine, KIOSKS, T0, T0 + 10)
    # Blind from T0+10 to T0+55 (the store away: no batch, no round); the kiosks keep publishing and the
    # ingest spools (test_control_without_resume_pages_everyone: without the resume, all three page).
    engine.resume(T0 + 55)
    assert engine.tick(T0 + 55.1) == []
    # The spool's replay: the blind time's samples (kiosk-pv-03 went silent at T0+20), behind the live data.
    replay = {"kiosk-pv-01": list(np.arange(T0 + 10, T0 + 55)), "kiosk-pv-02": list(np.arange(T0 + 10, T0 + 55))}
    replay["kiosk-pv-03"] = list(np.arange(T0 + 10, T0 + 20))
    assert feed(engine, replay, now=T0 + 62) == []  # committed 7 s after sight came back: sight moves there
    changed = run_ticks(engine, T0 + 62, T0 + 92, live=KIOSKS[:2])
    assert changed == [], "a full heartbeat from the end of the replay"
    changed = run_ticks(engine, T0 + 92, T0 + 120, live=KIOSKS[:2])
    assert [(a.entity, a.state) for a in changed] == [("kiosk-pv-03", FIRING)], "pages once"
    assert changed[0].starts_at is not None and T0 + 92 <= changed[0].starts_at <= T0 + 93.5


def test_control_without_resume_pages_everyone():
    """What the bug was (so the test above can fail): a blind time read as silence pages every entity."""
    engine = make_engine(T0)
    publish_every_second(engine, KIOSKS, T0, T0 + 10)
    assert sorted(a.entity for a in engine.tick(T0 + 55) if a.state == FIRING) == list(KIOSKS)


def test_a_process_that_starts_or_comes_to_lead_gives_everyone_a_heartbeat_from_then():
    start = T0 + 100
    engine = make_engine(start)
    # What the store knew: last seen long ago (the store was away, or the spool not replayed yet).
    engine.restore([], [("kiosk", k, T0, None) for k in KIOSKS], start)
    assert engine.tick(start + 0.5) == []
    changed = run_ticks(engine, start + 1, start + HEARTBEAT - 0.5, live=KIOSKS[:2])
    assert changed == []
    changed = run_ticks(engine, start + HEARTBEAT - 0.5, start + HEARTBEAT + 3, live=KIOSKS[:2])
    assert [(a.entity, a.state) for a in changed] == [("kiosk-pv-03", FIRING)]
    assert changed[0].pending_since == pytest.approx(start + HEARTBEAT)


def test_offline_still_pages_at_once_after_a_blind_time():
    engine = make_engine(T0)
    publish_every_second(engine, KIOSKS, T0, T0 + 10)
    engine.resume(T0 + 55)
    will = StatusUpdate("kiosk", "kiosk-pv-02", T0 + 40, "offline")  # its Last Will, during the blind time
    changed = feed(engine, {"kiosk-pv-01": [T0 + 55]}, now=T0 + 56, statuses=[will])
    assert [(a.entity, a.state) for a in changed] == [("kiosk-pv-02", FIRING)]


def test_an_alert_open_before_the_blind_time_stays_open():
    engine = make_engine(T0)
    publish_every_second(engine, KIOSKS, T0, T0 + 10)
    changed = run_ticks(engine, T0 + 10, T0 + 45, live=KIOSKS[:2])  # kiosk-pv-03 silent since T0+9
    assert [(a.entity, a.state) for a in changed] == [("kiosk-pv-03", FIRING)]
    engine.resume(T0 + 100)  # blind from T0+45: no evidence of life either
    assert run_ticks(engine, T0 + 100, T0 + 200, live=KIOSKS[:2]) == []
    assert [a.state for a in engine.alerts.values()] == [FIRING]
    # It comes back: resolved by what it sent, as before.
    resolved = run_ticks(engine, T0 + 200, T0 + 400, live=KIOSKS)
    assert [(a.entity, a.state) for a in resolved] == [("kiosk-pv-03", "resolved")]


def test_a_late_batch_after_the_live_data_does_not_hold_the_clock_back():
    engine = make_engine(T0)
    publish_every_second(engine, KIOSKS, T0, T0 + 10)
    engine.resume(T0 + 55)
    assert feed(engine, {k: [T0 + 55.5] for k in KIOSKS[:2]}, now=T0 + 56) == []  # live: caught up
    # A device's stale sample later on is not a replay: sight stays at T0+55, so kiosk-pv-03 pages at +85.
    assert feed(engine, {"kiosk-pv-03": [T0 + 12]}, now=T0 + 60) == []
    changed = run_ticks(engine, T0 + 60, T0 + 90, live=KIOSKS[:2])
    assert [(a.entity, a.state) for a in changed] == [("kiosk-pv-03", FIRING)]
    assert changed[0].pending_since == pytest.approx(T0 + 55 + HEARTBEAT)
