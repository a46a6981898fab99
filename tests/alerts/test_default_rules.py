"""The shipped rules for what had none (issue 8, item 8), each through the engine on a fake clock."""

from __future__ import annotations

import numpy as np
import pytest
from alert_helpers import inventory_yaml

from alerts.alert import FIRING, PENDING
from alerts.engine import Engine
from alerts.holidays import is_holiday
from alerts.rules import load_rules
from ioc.inventory import parse_inventory
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0


def engine_with_shipped_rules() -> Engine:
    return Engine(load_rules(), parse_inventory(inventory_yaml(2)), start=T0, language="vi", is_holiday=is_holiday)


def feed(engine: Engine, keys: dict[int, SeriesKey], rows: list[tuple[int, float, float]], now: float):
    ids = np.array([r[0] for r in rows], dtype=np.int32)
    ts = np.array([r[1] for r in rows], dtype=float)
    values = np.array([r[2] for r in rows], dtype=float)
    seen: dict[tuple[str, str], float] = {}
    for sid, t, _ in rows:
        seen[(keys[sid].kind, keys[sid].entity)] = t
    return engine.observe(ids, ts, values, keys.get, statuses=(), seen=seen, now=now)


# metric, bad value, good value, how long it must last before it pages, rule, words of the Vietnamese summary
CASES = [
    ("card_reader_ok", 0.0, 1.0, 60, "kiosk_card_reader_failed", "đầu đọc thẻ CCCD lỗi"),
    ("touch_ok", 0.0, 1.0, 60, "kiosk_touch_failed", "màn hình cảm ứng lỗi"),
    ("wait_time_s", 2400.0, 300.0, 600, "kiosk_wait_long", "người dân chờ lâu (2400 giây)"),
    ("cpu_pct", 97.0, 20.0, 900, "kiosk_cpu_high", "CPU quá tải kéo dài (97%)"),
    ("mem_pct", 95.0, 40.0, 900, "kiosk_mem_high", "bộ nhớ gần đầy kéo dài (95%)"),
]


@pytest.mark.parametrize(("metric", "bad", "good", "for_s", "rule", "words"), CASES)
def test_a_kiosk_fault_pages_only_when_sustained(metric, bad, good, for_s, rule, words):
    engine = engine_with_shipped_rules()
    keys = {1: SeriesKey("kiosk", "kiosk-pv-01", metric)}
    # A short spike pages nothing: bad for less than `for`, then good again.
    changed = feed(engine, keys, [(1, T0 + 10, bad)], T0 + 10)
    assert [(a.rule, a.state) for a in changed] == [(rule, PENDING)]
    feed(engine, keys, [(1, T0 + 10 + for_s / 2, good)], T0 + 10 + for_s / 2)
    assert [a for a in engine.alerts.values() if a.rule == rule] == []
    # Sustained: fires after `for`.
    start = T0 + 20 + for_s
    fired = []
    for step in range(0, int(for_s) + 20, 10):
        fired += feed(engine, keys, [(1, start + step, bad)], start + step)
    # The alert is reported again whenever its value changes; it is one incident, fired once.
    (alert,) = {a.fingerprint: a for a in fired if a.state == FIRING and a.rule == rule}.values()
    assert alert.rule == rule and alert.entity == "kiosk-pv-01"
    assert alert.starts_at is not None and alert.starts_at - start >= for_s
    assert words in alert.summary


def test_a_service_whose_probe_dies_pages():
    engine = engine_with_shipped_rules()
    keys = {1: SeriesKey("service", "dvc-portal", "up"), 2: SeriesKey("service", "dvc-portal", "response_ms")}
    for step in range(0, 120, 30):
        feed(engine, keys, [(1, T0 + step, 1.0), (2, T0 + step, 200.0)], T0 + step)
    assert not [a for a in engine.alerts.values() if a.entity == "dvc-portal"]
    # The probe stops: nothing arrives, and after the heartbeat (5 minutes for an entity without interval_s)
    # the service pages as having no measurements.
    changed = []
    for step in range(120, 120 + 400, 10):
        changed += engine.tick(T0 + step)
    fired = [(a.rule, a.state) for a in changed if a.entity == "dvc-portal" and a.state == FIRING]
    assert fired == [("service_no_data", FIRING)]
    (alert,) = [a for a in changed if a.rule == "service_no_data" and a.state == FIRING]
    assert "không nhận được số liệu đo" in alert.summary
