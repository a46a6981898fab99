"""kpi_below_target: a pure check on a fake clock, and in the alert service on the real store."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from alert_helpers import Receiver
from prometheus_client import CollectorRegistry
from seed import INVENTORY, Store

from alerts.alert import FIRING, RESOLVED
from alerts.kpi_check import RULE, KpiCheck, breaches
from alerts.service import AlertService
from ioc.settings import load_settings
from ioc.store.connect import make_pool

NOW = 1_796_000_000.0


def test_breaches_compare_floors_and_the_overdue_ceiling():
    kpis = {"a": {"satisfaction_pct": 85.0, "dossiers_overdue": 4.0}, "b": {"satisfaction_pct": None}}
    targets = {"satisfaction_pct": 90.0, "dossiers_overdue": 3.0}
    assert breaches(kpis, targets) == {("a", "satisfaction_pct"): (85.0, 90.0), ("a", "dossiers_overdue"): (4.0, 3.0)}
    assert breaches({"a": {"satisfaction_pct": 90.0, "dossiers_overdue": 3.0}}, targets) == {}


def test_check_fires_updates_and_resolves():
    check = KpiCheck({"satisfaction_pct": 90.0}, language="en")
    assert check.due(NOW)
    (fired,) = check.evaluate({"so-tttt": {"satisfaction_pct": 80.0}}, {"so-tttt": "Sở TT&TT"}, NOW)
    assert (fired.rule, fired.state, fired.severity, fired.kind, fired.entity) == (
        RULE,
        FIRING,
        "warning",
        "agency",
        "so-tttt",
    )
    assert fired.labels["kpi"] == "satisfaction_pct" and fired.labels["agency"] == "so-tttt"
    assert fired.summary == "Sở TT&TT: satisfaction_pct over the last 24 hours is 80, short of the target 90"
    assert not check.due(NOW + 1)
    assert check.evaluate({"so-tttt": {"satisfaction_pct": 80.0}}, {"so-tttt": "Sở TT&TT"}, NOW + 300) == []
    (resolved,) = check.evaluate({"so-tttt": {"satisfaction_pct": 95.0}}, {}, NOW + 600)
    assert resolved is fired and (resolved.state, resolved.ends_at) == (RESOLVED, NOW + 600)
    assert check.alerts == {}


@pytest.fixture
def pool(dsn: str) -> Iterator[object]:
    p = make_pool(dsn, max_size=4, name="ioc-kpi-test")
    p.open(wait=True)
    yield p
    p.close()


def test_the_alert_service_pages_an_agency_below_target(dsn, pool, receiver: Receiver):
    store = Store(dsn)
    store.load_inventory(INVENTORY)
    now = time.time()
    votes = [(now - 3600 + i * 60, float(i * 2)) for i in range(50)]  # 98 votes over the hour
    good = [(now - 3600 + i * 60, float(i * 2 - (i // 3))) for i in range(50)]  # 16 of them not good
    store.samples("kiosk", "kiosk-pv-01", "satisfaction_votes_total", votes)
    store.samples("kiosk", "kiosk-pv-01", "satisfaction_good_total", good)
    settings = load_settings(
        database_url=dsn, alert_webhook_urls=receiver.url + "/hook", alert_group_wait_s=0.2, alert_tick_s=0.05
    )
    service = AlertService(settings, pool=pool, registry=CollectorRegistry(), rules=[], retry_base_s=0.01)
    service.start()
    try:
        (body,) = receiver.wait_for(1, timeout=10)
    finally:
        service.stop()
    (alert,) = body["alerts"]
    assert alert["labels"] == {
        "alertname": "kpi_below_target", "severity": "warning", "kind": "agency", "entity": "so-tttt",
        "agency": "so-tttt", "kpi": "satisfaction_pct",
    }  # fmt: skip
    want = round(100 * (98 - 16) / 98, 2)
    assert alert["annotations"]["summary"].startswith(
        f"Sở Thông tin và Truyền thông: satisfaction_pct 24 giờ qua là {want:g}"
    )
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT rule, state, value FROM alerts").fetchall() == [(RULE, "firing", want)]
