"""`ioc report sla`: per entity uptime, downtime, maintenance and incidents, per agency the KPIs, as CSV and as
printable HTML, from the real store."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime

import pytest
from psycopg.types.json import Jsonb
from seed import INVENTORY, Store, at
from typer.testing import CliRunner

from ioc.cli import app
from ioc.reports.sla import month_bounds

HCM_MONTH = "%Y-%m"


@pytest.fixture
def month_store(dsn):
    from zoneinfo import ZoneInfo

    store = Store(dsn)
    store.load_inventory(INVENTORY)
    now = time.time()
    month = datetime.fromtimestamp(now, ZoneInfo("Asia/Ho_Chi_Minh")).strftime(HCM_MONTH)
    _, start, _ = month_bounds(month, "Asia/Ho_Chi_Minh")
    if now - start < 6 * 3600:
        pytest.skip("too early in the month for six hours of history")
    points = [start + i * 60 for i in range(int((now - start) // 60))]
    outage = start + 3600
    store.samples("service", "dvc-portal", "up", [(t, 0.0 if outage <= t < outage + 3600 else 1.0) for t in points])
    store.samples("service", "mot-cua", "dossiers_received_total", [(t, float(i)) for i, t in enumerate(points)])
    store.samples("service", "mot-cua", "dossiers_online_total", [(t, float(i // 2)) for i, t in enumerate(points)])
    store.samples("service", "edoc", "up", [(t, 1.0) for t in points])
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, starts_at, ends_at, created_by) VALUES (%s, %s, %s, 't')",
            (Jsonb({"entity": "edoc"}), at(start + 4 * 3600), at(start + 5 * 3600)),
        )
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, pending_since, starts_at, ends_at)"
            " VALUES ('x', 'service_down', 'critical', 'resolved', 'service', 'dvc-portal', %s, %s, %s)",
            (at(outage), at(outage), at(outage + 3600)),
        )
    return store, month, start, now, len(points)


def test_csv_report_has_each_entity_and_the_agency_kpis(month_store, monkeypatch):
    store, month, start, now, n = month_store
    monkeypatch.setenv("IOC_DATABASE_URL", store.dsn)
    result = CliRunner().invoke(app, ["report", "sla", "--month", month, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {(r["kind"], r["id"]): r for r in csv.DictReader(io.StringIO(result.stdout))}
    portal = rows[("service", "dvc-portal")]
    assert float(portal["downtime_s"]) == pytest.approx(3600, abs=60)
    assert float(portal["uptime_pct"]) == pytest.approx(100 * (1 - 3600 / (now - start)), abs=0.2)
    assert portal["incidents"] == "1" and portal["agency"] == "so-tttt"
    edoc = rows[("service", "edoc")]
    assert float(edoc["maintenance_s"]) == pytest.approx(3600, abs=1) and float(edoc["uptime_pct"]) == 100.0
    agency = rows[("agency", "so-tttt")]
    assert float(agency["dossiers_received"]) == pytest.approx(n - 1, abs=1)
    assert float(agency["online_share_pct"]) == pytest.approx(50.0, abs=0.5)
    assert agency["satisfaction_pct"] == ""  # no votes: null


def test_html_report_is_printable_and_filtered_by_agency(month_store, monkeypatch, tmp_path):
    store, month, *_ = month_store
    monkeypatch.setenv("IOC_DATABASE_URL", store.dsn)
    out = tmp_path / "sla.html"
    result = CliRunner().invoke(
        app, ["report", "sla", "--month", month, "--agency", "so-tttt", "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "@page { size: A4" in html
    assert "Cổng Dịch vụ công tỉnh" in html and "Mức độ hài lòng" in html
    assert "Quản lý văn bản điều hành" not in html  # another agency's


def test_bad_month_and_agency_are_named(month_store, monkeypatch):
    store, *_ = month_store
    monkeypatch.setenv("IOC_DATABASE_URL", store.dsn)
    result = CliRunner().invoke(app, ["report", "sla", "--month", "2026-13"])
    assert result.exit_code == 2 and "--month: '2026-13' is not a month such as 2026-11" in result.output
    result = CliRunner().invoke(app, ["report", "sla", "--month", "2026-11", "--agency", "nope"])
    assert result.exit_code == 2 and "--agency: unknown agency nope" in result.output
