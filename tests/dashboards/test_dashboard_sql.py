"""Every panel's SQL, with Grafana's macros rendered for a real range, runs on both back ends and answers."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row

from dashboards import build_all
from dashboards.sql import expand_macros

HOUR = 3600.0


@pytest.fixture
def province(any_store):
    """Four hours of every standard metric the dashboards show, every minute, and a week every 10 minutes."""
    now = math.floor(time.time())
    any_store.load_inventory()
    recent = [now - 4 * HOUR + i * 60 for i in range(240)]
    week = [now - 7 * 24 * HOUR + i * 600 for i in range(7 * 24 * 6 - 24 * 6)]
    times = week + recent

    def put(kind, entity, metric, value_of):
        any_store.samples(kind, entity, metric, [(ts, float(value_of(i))) for i, ts in enumerate(times)])

    for link, loss, rtt in (("wan-xa-phu-vang", 0.5, 20.0), ("wan-xa-la", 7.0, 80.0)):  # the second: unassigned
        put("link", link, "rtt_ms", lambda i, rtt=rtt: rtt + i % 3)
        put("link", link, "loss_pct", lambda i, loss=loss: loss)
        put("link", link, "jitter_ms", lambda i: 1 + i % 2)
        put("link", link, "rx_bps", lambda i: 1e6)
    for n, kiosk in enumerate(("kiosk-pv-01", "kiosk-pd-01")):
        put("kiosk", kiosk, "cpu_pct", lambda i: 10 + i % 50)
        put("kiosk", kiosk, "mem_pct", lambda i: 40)
        put("kiosk", kiosk, "temp_c", lambda i: 50)
        put("kiosk", kiosk, "printer_paper_pct", lambda i, n=n: 80 - 70 * n)
        put("kiosk", kiosk, "queue_waiting", lambda i, n=n: 3 + n)
        put("kiosk", kiosk, "wait_time_s", lambda i: 120)
    put("service", "dvc-portal", "up", lambda i: 0 if i % 10 == 0 else 1)
    put("service", "dvc-portal", "response_ms", lambda i: 100 + i % 100)
    put("service", "dvc-portal", "tls_days_left", lambda i: 12)
    put("service", "dvc-portal", "dossiers_overdue", lambda i: 4)
    # Counters over the last 4 hours: received grows by 5 a minute and resets once; done by 2.
    received = [(ts, 0.0) for ts in recent]
    total = 100.0
    for i, ts in enumerate(recent):
        total = 3.0 if i == 120 else total + 5.0
        received[i] = (ts, total)
    any_store.samples("service", "dvc-portal", "dossiers_received_total", received)
    any_store.samples(
        "service", "dvc-portal", "dossiers_done_total", [(ts, 10.0 + 2 * i) for i, ts in enumerate(recent)]
    )

    any_store.seen("link", "wan-xa-phu-vang", now - 600)  # down
    any_store.seen("kiosk", "kiosk-pv-01", now - 600)  # unreachable behind it
    any_store.seen("kiosk", "kiosk-pd-01", now - 5)
    any_store.seen("service", "dvc-portal", now - 5)
    any_store.seen("link", "wan-xa-la", now - 5)
    any_store.alert("kiosk", "kiosk-pd-01", "critical")
    with any_store.connect() as conn:
        conn.execute(
            "UPDATE alerts SET summary = 'Kiosk hết giấy in', site = 'xa-phu-da', starts_at = to_timestamp(%s)",
            (now - 600,),
        )
    return now


def run(dsn: str, sql: str, start: float, end: float, interval: str) -> list[dict]:
    rendered = expand_macros(sql, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC), interval)
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        conn.execute("SET statement_timeout = '10s'")
        return conn.execute(rendered).fetchall()  # type: ignore[arg-type]


RANGES = {"last hour": (HOUR, "1m"), "last week (hour rollups)": (7 * 24 * HOUR, "1h")}


def test_every_panel_runs_and_answers(any_store, province):
    answered = []
    for uid, board in build_all().items():
        for panel in board["panels"]:
            for seconds, interval in RANGES.values():
                for target in panel["targets"]:
                    rows = run(any_store.dsn, target["rawSql"], province - seconds, province, interval)
                    assert rows, f"{uid} panel {panel['title']!r} answered nothing over {seconds} s"
                    if target["format"] == "time_series":
                        assert list(rows[0])[:2] == ["time", "metric"], rows[0]
                        assert all(isinstance(r["value"], float) for r in rows)
                        times = [r["time"] for r in rows]
                        assert times == sorted(times)
                        assert min(times) >= math.floor((province - seconds) / 3600) * 3600
                    answered.append((uid, panel["id"]))
    assert len(answered) >= 2 * 20


def panel_sql(uid: str, title: str) -> str:
    [panel] = [p for p in build_all()[uid]["panels"] if p["title"] == title]
    return panel["targets"][0]["rawSql"]


def test_overview_counts_and_down_list(any_store, province):
    [counts] = run(
        any_store.dsn, panel_sql("ioc-overview", "Số thực thể theo trạng thái"), province - HOUR, province, "1m"
    )
    assert counts == {
        "Bình thường": 1,  # dvc-portal; wan-xa-la is fine too but not in the inventory
        "Suy giảm": 1,
        "Ngừng hoạt động": 1,
        "Mất kết nối": 1,
        "Bảo trì": 0,
        "Chưa có dữ liệu": 2,  # mot-cua, edoc
    }
    down = run(
        any_store.dsn, panel_sql("ioc-overview", "Thực thể đang ngừng hoạt động"), province - HOUR, province, "1m"
    )
    assert [(r["Tên"], r["Trạng thái"], r["Địa điểm"]) for r in down] == [
        ("Đường truyền xã Phú Vang", "down", "UBND xã Phú Vang"),
        ("Kiosk lấy số 01", "unreachable", "UBND xã Phú Vang"),
    ]
    by_site = run(any_store.dsn, panel_sql("ioc-overview", "Kiosk theo địa điểm"), province - HOUR, province, "1m")
    assert by_site[0]["Địa điểm"] == "UBND xã Phú Vang" and by_site[0]["Mất kết nối"] == 1


def test_worst_links_first(any_store, province):
    rows = run(any_store.dsn, panel_sql("ioc-links", "10 đường truyền kém nhất"), province - HOUR, province, "1m")
    assert [r["Đường truyền"] for r in rows] == ["wan-xa-la", "Đường truyền xã Phú Vang"]
    assert rows[0]["Mất gói (%)"] == pytest.approx(7.0)
    assert rows[1]["RTT trung bình (ms)"] == pytest.approx(21.0, abs=0.05)


def test_services_tables(any_store, province):
    [dossiers] = run(
        any_store.dsn, panel_sql("ioc-services", "Hồ sơ thủ tục hành chính"), province - 5 * HOUR, province, "1m"
    )
    # 239 steps: 119 of +5 before the reset, the reset counts 3, then 119 of +5.
    assert dossiers == {"Hệ thống": "Cổng Dịch vụ công tỉnh", "Tiếp nhận": 119 * 5 + 3 + 119 * 5, "Đã giải quyết": 478,
                        "Quá hạn": 4.0}  # fmt: skip
    tls = run(any_store.dsn, panel_sql("ioc-services", "Chứng chỉ TLS còn hạn (ngày)"), province - HOUR, province, "1m")
    assert tls == [{"Hệ thống": "Cổng Dịch vụ công tỉnh", "Giá trị": 12.0}]


def test_availability_from_hour_rollups_matches_minute_rollups(any_store, province):
    sql = panel_sql("ioc-services", "Sẵn sàng (%)")
    week = run(any_store.dsn, sql, province - 7 * 24 * HOUR, province, "1h")
    day = run(any_store.dsn, sql, province - 24 * HOUR, province, "1h")
    assert all(0 <= r["value"] <= 100 for r in week)
    # Whole hours inside both ranges agree: same samples, read from samples_1h and samples_1m.
    common = {r["time"]: r["value"] for r in day} | {}
    matched = [(r["value"], common[r["time"]]) for r in week[1:-1] if r["time"] in common]
    assert matched
    for from_hours, from_minutes in matched[1:-1]:
        assert from_hours == pytest.approx(from_minutes, rel=1e-12)


def test_kiosk_paper_lowest_first_and_queue_per_site(any_store, province):
    paper = run(
        any_store.dsn, panel_sql("ioc-kiosks", "Giấy in còn lại (thấp nhất trước)"), province - HOUR, province, "1m"
    )
    assert [(r["Kiosk"], r["Giá trị"]) for r in paper] == [("Kiosk tra cứu Phú Đa", 10.0), ("Kiosk lấy số 01", 80.0)]
    queue = run(any_store.dsn, panel_sql("ioc-kiosks", "Người đang chờ theo địa điểm"), province - HOUR, province, "5m")
    assert {r["metric"]: r["value"] for r in queue} == {"UBND xã Phú Vang": 3.0, "UBND xã Phú Đa": 4.0}


def test_firing_alerts_panel(any_store, province):
    rows = run(any_store.dsn, panel_sql("ioc-alerts", "Cảnh báo đang kích hoạt"), province - HOUR, province, "1m")
    assert [(r["Mức độ"], r["Nội dung"], r["Thực thể"], r["Địa điểm"]) for r in rows] == [
        ("critical", "Kiosk hết giấy in", "Kiosk tra cứu Phú Đa", "UBND xã Phú Đa")
    ]
