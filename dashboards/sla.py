"""SLA: uptime by agency and by service over the picked range, maintenance excluded (contract section 9).

Every figure comes from `ioc_views.entity_uptime`, the SQL form of the one uptime definition
(ioc/uptime.py): an agency's figure pools its entities' time, 100 x (counted - down) / counted, where
counted is known time outside maintenance and unreachable time is charged to the root cause.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    DEFAULT_CONSOLE_URL,
    agency_variable,
    bargauge,
    cell_colour,
    dashboard,
    entity_link,
    hidden,
    site_variable,
    stat,
    table,
    thresholds,
)
from dashboards.queries import ENTITY_FILTER

UID = "ioc-sla"
UPTIME = "ioc_views.entity_uptime($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"
SLA_COLOURS = thresholds((None, "red"), (99, "orange"), (99.9, "green"))


def pooled(kind: str | None = None) -> str:
    """The pooled uptime of the rows (of one kind): 100 x (counted - down) / counted, NULL without counted time."""
    only = f" FILTER (WHERE e.kind = '{kind}')" if kind else ""
    counted, down = f"sum(u.known_s - u.maintenance_s){only}", f"sum(u.down_s){only}"
    return (
        f"CASE WHEN {counted} > 0 THEN round((100.0 * greatest(0, {counted} - {down}) / {counted})::numeric, 3)::float8"
        " END"
    )


def uptime_cell(panel: Any, column: str) -> Any:
    return panel.override_by_name(
        column,
        [cell_colour(), model.DynamicConfigValue(id_val="decimals", value=3),
         model.DynamicConfigValue(id_val="thresholds", value=SLA_COLOURS.build())],
    )  # fmt: skip


def province_services() -> Any:
    return (
        stat(
            "Uptime hệ thống dịch vụ toàn tỉnh",
            f"""
SELECT {pooled()} AS "Uptime (%)"
FROM {UPTIME} u
JOIN ioc_views.entity_facts e ON e.kind = u.kind AND e.id = u.id
WHERE e.kind = 'service' AND e.assigned AND {ENTITY_FILTER}
""",
            width=6,
            height=6,
            unit="percent",
        )
        .thresholds(SLA_COLOURS)
        .decimals(3)
    )


def by_agency() -> Any:
    panel = table(
        "Uptime theo cơ quan (%)",
        f"""
SELECT coalesce(a.name, e.agency, '(chưa gán)') AS "Cơ quan",
       {pooled()} AS "Tất cả",
       {pooled("service")} AS "Hệ thống dịch vụ",
       {pooled("link")} AS "Đường truyền",
       {pooled("kiosk")} AS "Kiosk",
       sum(u.down_s) AS "Ngừng", sum(u.unreachable_s) AS "Mất kết nối (tính cho nguyên nhân)",
       sum(u.maintenance_s) AS "Bảo trì"
FROM {UPTIME} u
JOIN ioc_views.entity_facts e ON e.kind = u.kind AND e.id = u.id
LEFT JOIN ioc_views.agencies a ON a.id = e.agency
WHERE e.assigned AND {ENTITY_FILTER}
GROUP BY 1
ORDER BY 2 NULLS LAST, 1
""",
        width=18,
        height=6,
    )
    for column in ("Tất cả", "Hệ thống dịch vụ", "Đường truyền", "Kiosk"):
        panel = uptime_cell(panel, column)
    for column in ("Ngừng", "Mất kết nối (tính cho nguyên nhân)", "Bảo trì"):
        panel = panel.override_by_name(column, [model.DynamicConfigValue(id_val="unit", value="s")])
    return panel


def by_service() -> Any:
    panel = table(
        "Uptime theo hệ thống dịch vụ (%)",
        f"""
SELECT e.kind, e.id, coalesce(a.name, e.agency, '(chưa gán)') AS "Cơ quan", e.name AS "Hệ thống",
       u.uptime_pct AS "Uptime (%)", u.down_s AS "Ngừng", u.unreachable_s AS "Mất kết nối",
       u.maintenance_s AS "Bảo trì"
FROM {UPTIME} u
JOIN ioc_views.entity_facts e ON e.kind = u.kind AND e.id = u.id
LEFT JOIN ioc_views.agencies a ON a.id = e.agency
WHERE e.kind = 'service' AND e.assigned AND {ENTITY_FILTER}
ORDER BY u.uptime_pct NULLS LAST, 3, 4
""",
        width=14,
        height=12,
    )
    panel = uptime_cell(panel, "Uptime (%)")
    for column in ("Ngừng", "Mất kết nối", "Bảo trì"):
        panel = panel.override_by_name(column, [model.DynamicConfigValue(id_val="unit", value="s")])
    return panel.override_by_name("kind", [hidden()]).override_by_name("id", [hidden()]).data_links([entity_link()])


def lowest() -> Any:
    return (
        bargauge(
            "10 thực thể uptime thấp nhất",
            f"""
SELECT e.kind, e.id, e.name AS "Thực thể", u.uptime_pct AS "Uptime (%)"
FROM {UPTIME} u
JOIN ioc_views.entity_facts e ON e.kind = u.kind AND e.id = u.id
WHERE e.assigned AND u.uptime_pct IS NOT NULL AND {ENTITY_FILTER}
ORDER BY u.uptime_pct, e.name
LIMIT 10
""",
            width=10,
            height=12,
            unit="percent",
        )
        .min(0)
        .max(100)
        .decimals(3)
        .thresholds(SLA_COLOURS)
        .data_links([entity_link()])
    )


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Cam kết chất lượng dịch vụ (SLA)",
        [province_services(), by_agency(), by_service(), lowest()],
        description="Thời gian hoạt động theo cơ quan và hệ thống trong khoảng đã chọn, không tính thời gian bảo trì.",
        tags=("sla",),
        time_from="now-30d",
        refresh="5m",
        variables=[site_variable(), agency_variable()],
        console_url=console_url,
    )
