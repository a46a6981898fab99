"""The engine on a fake clock, without I/O: batches and ticks in, alert changes out."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import yaml
from alert_helpers import FAST_RULES, inventory_yaml

from alerts.alert import FIRING, PENDING, RESOLVED
from alerts.engine import Engine
from alerts.holidays import is_holiday
from alerts.rules import parse_rules_text
from ioc.inventory import parse_inventory
from ioc.model import StatusUpdate
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0
EXTRA = """
rules:
  - name: paper_low
    kind: kiosk
    type: threshold
    metric: printer_paper_pct
    op: "<"
    threshold: 10
    clear: 20
    for: 5m
    severity: warning
    summary: {vi: "{name}: sắp hết giấy ({value:.0f}%)", en: "{name}: paper low ({value:.0f}%)"}
  - name: queue_anomaly
    kind: kiosk
    type: anomaly
    metric: queue_waiting
    direction: up
    min_history: 4
    severity: info
    summary: "{name}: {value:.0f}"
"""


def make_engine(baseline=None, language="vi"):
    rules, problems = parse_rules_text(FAST_RULES, "fast.yaml")
    extra, more = parse_rules_text(EXTRA, "extra.yaml")
    assert problems == [] and more == []
    kwargs = {"baseline": baseline} if baseline else {}
    return Engine(
        rules + extra, parse_inventory(inventory_yaml(3)), start=T0, language=language, is_holiday=is_holiday, **kwargs
    )


KEYS: dict[int, SeriesKey] = {
    1: SeriesKey("link", "wan-xa-phu-vang", "up"),
    2: SeriesKey("kiosk", "kiosk-pv-01", "printer_paper_pct"),
    3: SeriesKey("service", "dvc-portal", "response_ms"),
    4: SeriesKey("kiosk", "kiosk-pv-02", "queue_waiting"),
    5: SeriesKey("kiosk", "kiosk-pv-01", "cpu_pct"),
}


def feed(engine, rows, now, statuses=(), seen=None):
    ids = np.array([r[0] for r in rows], dtype=np.int32)
    ts = np.array([r[1] for r in rows], dtype=float)
    values = np.array([r[2] for r in rows], dtype=float)
    if seen is None:
        seen = {}
        for sid, t, _ in rows:
            key = KEYS[sid]
            seen[(key.kind, key.entity)] = max(t, seen.get((key.kind, key.entity), t))
    return engine.observe(ids, ts, values, KEYS.get, statuses=statuses, seen=seen, now=now)


def states(changed, rule=None):
    return sorted((a.rule, a.entity, a.state, a.suppressed_by) for a in changed if rule in (None, a.rule))


def test_for_and_hysteresis_through_the_engine():
    engine = make_engine()
    assert states(feed(engine, [(2, T0, 8)], T0)) == [("paper_low", "kiosk-pv-01", PENDING, None)]
    assert feed(engine, [(2, T0 + 60, 7)], T0 + 60) == []
    assert feed(engine, [(5, T0 + 290, 12.0)], T0 + 290) == []  # the kiosk stays alive (cpu_pct, no rule)
    changed = [a for a in engine.tick(T0 + 300) if a.rule == "paper_low"]
    assert states(changed) == [("paper_low", "kiosk-pv-01", FIRING, None)]
    assert changed[0].summary == "Kiosk lấy số 01 – UBND xã Phú Vang: sắp hết giấy (7%)"
    assert (
        states(feed(engine, [(2, T0 + 310, 15)], T0 + 310), "paper_low") == []
    )  # between the thresholds: still firing
    assert states(feed(engine, [(2, T0 + 320, 25)], T0 + 320), "paper_low") == [
        ("paper_low", "kiosk-pv-01", RESOLVED, None)
    ]


def test_a_pending_alert_that_goes_away_is_dropped():
    engine = make_engine()
    feed(engine, [(2, T0, 8)], T0)
    (alert,) = feed(engine, [(2, T0 + 10, 50)], T0 + 10)
    assert alert.dropped and not engine.alerts


def test_redelivered_and_late_samples_are_not_judged_again():
    engine = make_engine()
    feed(engine, [(1, T0, 1)], T0)
    assert feed(engine, [(1, T0, 0)], T0 + 1) == []  # same ts again
    assert feed(engine, [(1, T0 - 5, 0)], T0 + 1) == []  # older than what was judged


def test_offline_pages_at_once_and_no_data_after_the_heartbeat():
    engine = make_engine()
    changed = feed(engine, [], T0 + 1, statuses=[StatusUpdate("kiosk", "kiosk-pv-01", T0 + 1, "offline")])
    assert states(changed) == [("kiosk_down", "kiosk-pv-01", FIRING, None)]
    assert changed[0].annotations["reason"] == "offline"
    # kiosk-pv-02 and 03 report every 10 s: silent for more than 30 s is down.
    assert states(engine.tick(T0 + 30)) == []
    assert states(engine.tick(T0 + 31)) == [
        ("kiosk_down", "kiosk-pv-02", FIRING, None),
        ("kiosk_down", "kiosk-pv-03", FIRING, None),
    ]
    # kiosk-pv-02 reports again: resolved.
    changed = feed(engine, [(4, T0 + 40, 3)], T0 + 40)
    assert ("kiosk_down", "kiosk-pv-02", RESOLVED, None) in states(changed)


def test_topology_suppresses_dependents_and_releases_them_when_the_root_recovers():
    engine = make_engine()
    offline = [StatusUpdate("kiosk", f"kiosk-pv-0{i}", T0, "offline") for i in (1, 2, 3)]
    changed = feed(engine, [(1, T0, 0)], T0, statuses=offline)
    assert states(changed) == [
        ("kiosk_down", "kiosk-pv-01", FIRING, "link/wan-xa-phu-vang"),
        ("kiosk_down", "kiosk-pv-02", FIRING, "link/wan-xa-phu-vang"),
        ("kiosk_down", "kiosk-pv-03", FIRING, "link/wan-xa-phu-vang"),
        ("link_down", "wan-xa-phu-vang", FIRING, None),
    ]
    link = next(a for a in changed if a.rule == "link_down")
    assert link.annotations["unreachable_count"] == "3"
    assert "Kiosk lấy số 01 – UBND xã Phú Vang (kiosk/kiosk-pv-01)" in link.annotations["unreachable"]
    online = [StatusUpdate("kiosk", f"kiosk-pv-0{i}", T0 + 20, "online") for i in (2, 3)]
    changed = feed(engine, [(1, T0 + 20, 1)], T0 + 20, statuses=online)
    assert states(changed) == [
        ("kiosk_down", "kiosk-pv-01", FIRING, None),
        ("kiosk_down", "kiosk-pv-02", RESOLVED, "link/wan-xa-phu-vang"),
        ("kiosk_down", "kiosk-pv-03", RESOLVED, "link/wan-xa-phu-vang"),
        ("link_down", "wan-xa-phu-vang", RESOLVED, None),
    ]


def test_a_dependent_that_went_down_first_is_suppressed_when_the_root_follows():
    engine = make_engine()
    feed(engine, [], T0, statuses=[StatusUpdate("kiosk", "kiosk-pv-01", T0, "offline")])
    changed = feed(engine, [(1, T0 + 1, 0)], T0 + 1)
    assert ("kiosk_down", "kiosk-pv-01", FIRING, "link/wan-xa-phu-vang") in states(changed)


def test_percentile_over_the_window():
    engine = make_engine()
    rows = [(3, T0 + i * 10, 500.0) for i in range(20)]
    assert feed(engine, rows, T0 + 200) == []
    rows = [(3, T0 + 200 + i * 10, 5000.0) for i in range(1, 6)]
    changed = feed(engine, rows, T0 + 250)
    assert states(changed) == [("service_slow", "dvc-portal", FIRING, None)]
    assert changed[0].summary == "Cổng Dịch vụ công tỉnh phản hồi chậm (p95 5000 ms)"
    assert changed[0].labels == {
        "alertname": "service_slow", "severity": "warning", "kind": "service", "entity": "dvc-portal",
        "site": "dc-tinh", "agency": "so-tttt",
    }  # fmt: skip


def test_english_texts():
    engine = make_engine(language="en")
    (alert,) = feed(engine, [], T0, statuses=[StatusUpdate("kiosk", "kiosk-pv-02", T0, "offline")])
    assert alert.summary == "Kiosk lấy số 02 is down"


def test_anomaly_against_the_same_hour_of_past_weeks():
    asked = []

    def baseline(series_id, starts):
        asked.append((series_id, starts))
        return np.array([5.0, 6.0, 5.0, 4.0, 5.0])

    engine = make_engine(baseline=baseline)
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime(2026, 3, 10, 9, 20, tzinfo=tz).timestamp()  # a Tuesday; 3 weeks back is Tết
    assert feed(engine, [(4, now, 6)], now) == []
    changed = feed(engine, [(4, now + 60, 80)], now + 60)
    assert states(changed) == [("queue_anomaly", "kiosk-pv-02", FIRING, None)]
    sid, starts = asked[0]
    assert sid == 4 and len(starts) == 7  # eight weeks back, less Tết Nguyên Đán
    assert len(asked) == 1  # cached for the hour
    # On a public holiday the queue is not judged against working days.
    holiday = datetime(2026, 9, 2, 9, 0, tzinfo=tz).timestamp()
    assert feed(engine, [(4, holiday, 500)], holiday) == []


def test_restore_keeps_firing_alerts_and_resolves_those_of_removed_rules():
    engine = make_engine()
    feed(engine, [], T0, statuses=[StatusUpdate("kiosk", "kiosk-pv-01", T0, "offline")])
    (alert,) = engine.alerts.values()
    alert.id, alert.last_notified_at = 7, T0
    fresh = make_engine()
    stale = make_engine().alerts
    assert stale == {}
    orphan = type(alert)(**{**alert.__dict__, "rule": "gone", "fingerprint": "x"})
    gone = fresh.restore([alert, orphan], [("kiosk", "kiosk-pv-01", T0 - 5, T0)], T0 + 1)
    assert [(a.rule, a.state) for a in gone] == [("gone", RESOLVED)]
    assert fresh.tick(T0 + 2) == []  # still offline: no change, so nothing to page again
    assert fresh.alerts[alert.fingerprint].last_notified_at == T0


def test_default_rules_yaml_is_what_the_engine_runs():
    # The shipped rules load into an engine without error.
    from alerts.rules import load_rules

    engine = Engine(load_rules(), parse_inventory(inventory_yaml(1)), start=T0)
    assert engine.window_metrics() == {"response_ms": 300.0, "up": 21600.0, "dossiers_overdue": 21600.0}
    assert yaml.safe_load(FAST_RULES)
