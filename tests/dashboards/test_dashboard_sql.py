"""Every panel's SQL, as Grafana sends it (macros and variables expanded), run on both back ends as the
read-only role `ioc_grafana`, answers with the columns its panel type needs."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from numbers import Real

import pytest
from dash_province import DAY, HOUR, grafana_connection, grafana_dsn, run_panel_sql, seed_province

from dashboards import build_all

BOARDS = build_all()
RANGES = {"last hour": (HOUR, "1m"), "last 24 h": (DAY, "1m"), "last week (hour rollups)": (7 * DAY, "1h")}
PICKS = {
    "All": {},
    "one site": {"site": ["xa-phu-vang"]},
    "two sites, one agency": {"site": ["xa-phu-vang", "xa-phu-da"], "agency": ["so-tttt"]},
}


def numeric(value: object) -> bool:
    """What Grafana reads as a number: integer, float and numeric columns."""
    return isinstance(value, Real | Decimal) and not isinstance(value, bool)


def check_columns(panel: dict, target: dict, rows: list[dict], start: float) -> None:
    """What the panel type needs of its query's answer."""
    kind = panel["type"]
    where = f"{panel['title']!r} ({kind})"
    if not rows:
        return
    columns = list(rows[0])
    if target["format"] == "time_series":
        assert kind == "timeseries", where
        assert columns[:2] == ["time", "metric"], (where, columns)
        assert all(numeric(r["value"]) for r in rows), where
        times = [r["time"].timestamp() if isinstance(r["time"], datetime) else float(r["time"]) for r in rows]
        assert times == sorted(times), f"{where}: not sorted by time"
        assert min(times) >= math.floor(start / HOUR) * HOUR - 86400, where
        assert all(isinstance(r["metric"], str) for r in rows), where
        return
    assert len(set(columns)) == len(columns), where
    if kind == "stat":
        assert len(rows) == 1, where
        assert all(numeric(v) or v is None for v in rows[0].values()), (where, rows[0])
    elif kind == "bargauge":
        assert any(numeric(v) for v in rows[0].values()), where
    elif kind == "geomap":
        assert {"latitude", "longitude"} <= set(columns), where
        assert all(-90 <= r["latitude"] <= 90 and -180 <= r["longitude"] <= 180 for r in rows), where
    # Data links name fields of the row (`${__data.fields.X}`): the query must answer them.
    for field_link in panel["fieldConfig"]["defaults"].get("links", []):
        for name in __import__("re").findall(r"\$\{__data\.fields\.(\w+)\}", field_link["url"]):
            assert name in columns, f"{where}: data link needs column {name}"


def every_target():
    for uid, board in BOARDS.items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield uid, board, panel, target


def test_every_panel_answers_as_grafana_runs_it(province):
    answered: set[tuple[str, int]] = set()
    with grafana_connection(grafana_dsn(province.store.dsn)) as conn:
        for uid, board, panel, target in every_target():
            for seconds, interval in RANGES.values():
                for picks in PICKS.values():
                    rows = run_panel_sql(
                        conn, target["rawSql"], board, province.now - seconds, province.now, interval=interval,
                        picks=picks,
                    )  # fmt: skip
                    check_columns(panel, target, rows, province.now - seconds)
                    if rows:
                        answered.add((uid, panel["id"]))
    missing = [
        (uid, panel["title"]) for uid, board in BOARDS.items() for panel in board["panels"]
        if (uid, panel["id"]) not in answered
    ]  # fmt: skip
    assert not missing, f"panels that never answered a row: {missing}"


@pytest.mark.timescaledb
def test_time_groups_with_the_timescaledb_option(any_store):
    """Grafana's TimescaleDB option makes $__timeGroup a time_bucket(): every time series still answers."""
    if any_store.backend != "timescaledb":
        pytest.skip("the TimescaleDB back end is absent here")
    now = seed_province(any_store)
    dsn = grafana_dsn(any_store.dsn)
    for _, board, panel, target in every_target():
        if target["format"] == "time_series":
            rows = run_panel_sql(dsn, target["rawSql"], board, now - DAY, now, timescaledb=True)
            check_columns(panel, target, rows, now - DAY)


def panel(uid: str, title: str) -> tuple[dict, str]:
    [found] = [p for p in BOARDS[uid]["panels"] if p["title"] == title]
    return BOARDS[uid], found["targets"][0]["rawSql"]


def answer(province, uid: str, title: str, seconds: float = HOUR, **kw) -> list[dict]:
    board, sql = panel(uid, title)
    return run_panel_sql(grafana_dsn(province.store.dsn), sql, board, province.now - seconds, province.now, **kw)


def test_a_downed_link_with_20_kiosks_behind_it_pages_once(province):
    assert answer(province, "ioc-overview", "Cảnh báo đang báo động") == [{"Đang báo động": 1}]
    assert answer(province, "ioc-overview", "Đường truyền") == [{"Đường truyền": 1}]
    assert answer(province, "ioc-overview", "Kiosk") == [{"Kiosk": 0}]
    # The muted edoc alert is firing too, and does not page either.
    assert answer(province, "ioc-overview", "Hệ thống dịch vụ") == [{"Hệ thống dịch vụ": 0}]
    [counts] = answer(province, "ioc-alerts", "Cảnh báo đang kích hoạt")
    assert counts == {"Đang báo động": 1, "Hệ quả (không báo)": 20, "Tạm dừng": 1, "Đã xác nhận": 0}
    # Picking the other commune shows nothing paging.
    assert answer(province, "ioc-overview", "Cảnh báo đang báo động", picks={"site": ["xa-phu-da"]}) == [
        {"Đang báo động": 0}
    ]


def test_down_now_with_for_how_long(province):
    rows = answer(province, "ioc-overview", "Đang ngừng hoạt động")
    assert [(r["Tên"], r["Trạng thái"]) for r in rows[:2]] == [
        ("Đường truyền xã Phú Vang", "down"),
        ("Kiosk Phú Vang 01", "unreachable"),
    ]
    assert len(rows) == 21
    # Silent since now - 600 with a 30 s heartbeat: down since now - 570.
    assert rows[0]["Đã kéo dài"] == pytest.approx(570, abs=30)
    assert {r["kind"] for r in rows} == {"link", "kiosk"} and all(r["id"] for r in rows)


def test_map_has_every_site_with_its_worst_status(province):
    rows = answer(province, "ioc-overview", "Bản đồ tỉnh")
    by_site = {r["id"]: r for r in rows}
    assert set(by_site) == {"dc-tinh", "xa-phu-vang", "xa-phu-da"}
    assert by_site["xa-phu-vang"]["Mức"] == 3 and by_site["xa-phu-vang"]["Mất kết nối"] == 20
    assert by_site["xa-phu-vang"]["latitude"] == pytest.approx(16.5156)
    assert by_site["xa-phu-da"]["Mức"] == 0
    only = answer(province, "ioc-overview", "Bản đồ tỉnh", picks={"site": ["xa-phu-da"]})
    assert [r["id"] for r in only] == ["xa-phu-da"]


def test_incidents_of_the_last_24_hours(province):
    rows = answer(province, "ioc-overview", "Sự cố 24 giờ qua")
    # Newest first: the muted edoc alert (muted, still an incident), the link, yesterday's portal outage.
    assert [r["Thực thể"] for r in rows] == [
        "Quản lý văn bản điều hành", "Đường truyền xã Phú Vang", "Cổng Dịch vụ công tỉnh"
    ]  # fmt: skip
    assert "Kiosk Phú Vang 01" not in {r["Thực thể"] for r in rows}  # symptoms are not incidents
    assert rows[-1]["Thời lượng"] == pytest.approx(3600)


def test_ingest_health(province):
    [rate] = answer(province, "ioc-overview", "Mẫu/giây (5 phút)")
    assert rate["Mẫu/giây"] > 0
    assert answer(province, "ioc-overview", "Thư lỗi (1 giờ)") == [{"Thư lỗi": 1}]
    assert answer(province, "ioc-overview", "Broker bỏ tin (/phút)") == [{"Bỏ tin/phút": 0.0}]
    series = answer(province, "ioc-overview", "Mẫu lưu mỗi giây")
    assert series and all(r["value"] > 0 for r in series)


def test_worst_links_first(province):
    rows = answer(province, "ioc-links", "10 đường truyền kém nhất")
    assert [r["Đường truyền"] for r in rows] == ["Đường truyền xã Phú Đa", "Đường truyền xã Phú Vang"]
    assert rows[0]["Mất gói (%)"] == pytest.approx(7.0)


def test_kiosk_paper_lowest_first_and_queue_per_site(province):
    paper = answer(province, "ioc-kiosks", "Giấy in còn lại (thấp nhất trước)")
    assert [(r["Kiosk"], r["Giá trị"]) for r in paper] == [("Kiosk tra cứu Phú Đa", 10.0), ("Kiosk Phú Vang 01", 80.0)]
    queue = answer(province, "ioc-kiosks", "Người đang chờ theo địa điểm", interval="5m")
    assert {r["metric"]: r["value"] for r in queue} == {"UBND xã Phú Vang": 3.0, "UBND xã Phú Đa": 4.0}


def test_services_dossiers_count_resets_as_increase(province):
    [dossiers] = answer(province, "ioc-services", "Hồ sơ thủ tục hành chính", seconds=5 * HOUR)
    # 239 steps: 119 of +5 before the reset, the reset counts 3, then 119 of +5.
    assert dossiers == {"Hệ thống": "Cổng Dịch vụ công tỉnh", "Tiếp nhận": 119 * 5 + 3 + 119 * 5,
                        "Đã giải quyết": 478.0, "Quá hạn": 4.0}  # fmt: skip
