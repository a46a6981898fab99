"""Cảnh báo: the alerts firing now (what pages, what is a symptom), and how many started over time."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    DEFAULT_CONSOLE_URL,
    SEVERITY_TEXT,
    agency_variable,
    alert_link,
    cell_colour,
    dashboard,
    hidden,
    site_and_agency,
    site_variable,
    stat,
    table,
    thresholds,
    timeseries,
    value_mappings,
)

UID = "ioc-alerts"
FILTER = site_and_agency("a.site", "a.agency")


def counts() -> Any:
    return stat(
        "Cảnh báo đang kích hoạt",
        f"""
SELECT count(*) FILTER (WHERE a.pages) AS "Đang báo động",
       count(*) FILTER (WHERE a.suppressed_by IS NOT NULL) AS "Hệ quả (không báo)",
       count(*) FILTER (WHERE a.muted_by IS NOT NULL AND a.suppressed_by IS NULL) AS "Tạm dừng",
       count(*) FILTER (WHERE a.acked_by IS NOT NULL) AS "Đã xác nhận"
FROM ioc_views.alerts a
WHERE a.state = 'firing' AND {FILTER}
""",
        width=24,
    ).thresholds(thresholds((None, "green"), (1, "orange")))


def firing_alerts() -> Any:
    panel = table(
        "Danh sách cảnh báo đang kích hoạt",
        f"""
SELECT a.id, a.starts_at AS "Bắt đầu", a.severity AS "Mức độ", a.summary AS "Nội dung",
       a.entity_name AS "Thực thể", a.site_name AS "Địa điểm", a.rule AS "Quy tắc",
       CASE WHEN a.pages THEN 'báo động' WHEN a.suppressed_by IS NOT NULL THEN 'hệ quả của ' || a.suppressed_by
            ELSE 'tạm dừng (' || a.muted_by || ')' END AS "Xử lý",
       a.acked_by AS "Người xác nhận"
FROM ioc_views.alerts a
WHERE a.state = 'firing' AND {FILTER}
ORDER BY a.pages DESC, CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, a.starts_at DESC
""",
        width=24,
        height=12,
    )
    return (
        panel.override_by_name("id", [hidden()])
        .override_by_name(
            "Mức độ",
            [
                model.DynamicConfigValue(id_val="mappings", value=value_mappings(SEVERITY_TEXT)),
                cell_colour("color-text"),
            ],
        )
        .data_links([alert_link()])
    )


def started_per_interval() -> Any:
    return timeseries(
        "Cảnh báo bắt đầu theo thời gian",
        f"""
SELECT $__timeGroupAlias(a.starts_at, $__interval), a.severity AS metric, count(*)::float8 AS value
FROM ioc_views.incidents a
WHERE $__timeFilter(a.starts_at) AND {FILTER}
GROUP BY 1, 2
ORDER BY 1, 2
""",
        width=24,
        interval="1h",
    ).description("Chỉ tính cảnh báo gốc (không tính cảnh báo hệ quả).")


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Cảnh báo",
        [counts(), firing_alerts(), started_per_interval()],
        description="Cảnh báo đang kích hoạt và lịch sử cảnh báo.",
        tags=("canh-bao",),
        time_from="now-7d",
        variables=[site_variable(), agency_variable()],
        console_url=console_url,
    )
