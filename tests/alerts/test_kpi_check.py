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
from ioc.store.kpis import counted_before

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


def test_a_share_over_too_few_votes_is_not_judged():
    kpis = {"a": {"satisfaction_pct": 50.0}, "b": {"satisfaction_pct": 85.0}}
    bases = {"a": {"satisfaction_pct": 12.0}, "b": {"satisfaction_pct": 100.0}}
    targets = {"satisfaction_pct": 90.0}
    assert breaches(kpis, targets, bases=bases, min_count=100) == {("b", "satisfaction_pct"): (85.0, 90.0)}
    assert breaches(kpis, targets, bases=bases, min_count=0).keys() == {
        ("a", "satisfaction_pct"),
        ("b", "satisfaction_pct"),
    }


def test_a_count_is_judged_only_over_a_window_the_store_covers():
    kpis = {"a": {"dossiers_received": 3.0}, "b": {"dossiers_received": 3.0}}
    got = breaches(kpis, {"dossiers_received": 50.0}, bases={}, min_count=100, partial=["a"])
    assert got == {("b", "dossiers_received"): (3.0, 50.0)}  # a count has no minimum, only the window


def test_an_alert_stays_open_while_the_kpi_cannot_be_judged_and_resolves_when_it_meets_the_target():
    check = KpiCheck({"satisfaction_pct": 90.0}, min_count=100)
    names = {"so-tttt": "Sở TT&TT"}
    assert (
        check.evaluate(
            {"so-tttt": {"satisfaction_pct": 40.0}}, names, NOW, bases={"so-tttt": {"satisfaction_pct": 5.0}}
        )
        == []
    )
    (fired,) = check.evaluate({"so-tttt": {"satisfaction_pct": 80.0}}, names, NOW + 300,
                              bases={"so-tttt": {"satisfaction_pct": 150.0}})  # fmt: skip
    assert fired.state == FIRING and fired.annotations["count"] == "150"
    # A night or a weekend: no votes in the window, or too few: the alert is held as it is.
    assert check.evaluate({"so-tttt": {"satisfaction_pct": None}}, names, NOW + 600, bases={"so-tttt": {}}) == []
    assert check.evaluate({"so-tttt": {"satisfaction_pct": 99.0}}, names, NOW + 900,
                          bases={"so-tttt": {"satisfaction_pct": 20.0}}) == []  # fmt: skip
    assert fired.state == FIRING and check.alerts
    (resolved,) = check.evaluate({"so-tttt": {"satisfaction_pct": 95.0}}, names, NOW + 1200,
                                 bases={"so-tttt": {"satisfaction_pct": 120.0}})  # fmt: skip
    assert resolved is fired and resolved.state == RESOLVED and check.alerts == {}


def test_an_alert_resolves_when_its_target_or_agency_is_gone():
    check = KpiCheck({"satisfaction_pct": 90.0})
    check.evaluate({"so-tttt": {"satisfaction_pct": 80.0}}, {}, NOW)
    (resolved,) = check.evaluate({}, {}, NOW + 300)
    assert resolved.state == RESOLVED and check.alerts == {}


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
    votes = [(now - 3600 + i * 60, float(i * 4)) for i in range(50)]  # 196 votes over the hour
    good = [(now - 3600 + i * 60, float(i * 4 - 2 * (i // 3))) for i in range(50)]  # 32 of them not good
    store.samples("kiosk", "kiosk-pv-01", "satisfaction_votes_total", votes)
    store.samples("kiosk", "kiosk-pv-01", "satisfaction_good_total", good)
    # 10 dossiers in the hour, short of 50 a day, but the store holds only that hour: not judged.
    store.samples("service", "dvc-portal", "dossiers_received_total", [(now - 3000 + i * 300, i) for i in range(11)])
    settings = load_settings(
        database_url=dsn,
        alert_webhook_urls=receiver.url + "/hook",
        alert_group_wait_s=0.2,
        alert_tick_s=0.05,
        kpi_targets="satisfaction_pct=90,dossiers_received=50",
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
    want = round(100 * (196 - 32) / 196, 2)
    assert alert["annotations"]["count"] == "196"
    assert alert["annotations"]["summary"].startswith(
        f"Sở Thông tin và Truyền thông: satisfaction_pct 24 giờ qua là {want:g}"
    )
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT rule, state, value FROM alerts").fetchall() == [(RULE, "firing", want)]


def test_counted_before_tells_whether_the_counters_reach_back_before_a_window(dsn):
    store = Store(dsn)
    store.load_inventory(INVENTORY)
    with psycopg.connect(dsn) as conn:
        assert not counted_before(conn, "so-tttt", NOW - 86400)  # no counters at all
    store.samples("service", "dvc-portal", "dossiers_received_total", [(NOW - 3600, 1.0), (NOW - 60, 5.0)])
    store.samples("service", "dvc-portal", "up", [(NOW - 30 * 3600, 1.0)])  # not a KPI counter
    with psycopg.connect(dsn) as conn:
        assert not counted_before(conn, "so-tttt", NOW - 86400)
    store.samples("service", "dvc-portal", "dossiers_received_total", [(NOW - 25 * 3600, 0.0)])
    with psycopg.connect(dsn) as conn:
        assert counted_before(conn, "so-tttt", NOW - 86400)
        assert not counted_before(conn, "vp-ubnd", NOW - 86400)
