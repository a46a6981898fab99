"""Hệ thống dịch vụ: status, uptime, response time, TLS and dossiers of the service systems."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    DEFAULT_CONSOLE_URL,
    agency_variable,
    cell_colour,
    dashboard,
    entity_link,
    entity_table,
    hidden,
    site_variable,
    status_stat,
    table,
    thresholds,
    timeseries,
)
from dashboards.queries import ENTITY_FILTER, entity_list, latest_value, status_counts

UID = "ioc-services"
UPTIME = "ioc_views.entity_uptime($__timeFrom()::timestamptz, $__timeTo()::timestamptz, p_kinds => '{service}')"


def statuses() -> Any:
    return status_stat("Hệ thống theo trạng thái", status_counts("service"))


def service_list() -> Any:
    return entity_table("Danh sách hệ thống", entity_list("service"), width=12, height=10)


def uptime() -> Any:
    """Uptime over the picked range by the one definition (ioc_views.entity_uptime), lowest first."""
    panel = table(
        "Thời gian hoạt động trong khoảng (%)",
        f"""
SELECT e.kind, e.id, e.name AS "Hệ thống", u.uptime_pct AS "Uptime (%)", u.down_s AS "Ngừng",
       u.maintenance_s AS "Bảo trì"
FROM {UPTIME} u
JOIN ioc_views.entity_facts e ON e.kind = u.kind AND e.id = u.id
WHERE e.kind = 'service' AND e.assigned AND {ENTITY_FILTER}
ORDER BY u.uptime_pct NULLS LAST, e.name
""",
        width=12,
        height=10,
    )
    return (
        panel.override_by_name("kind", [hidden()])
        .override_by_name("id", [hidden()])
        .override_by_name(
            "Uptime (%)",
            [
                cell_colour(),
                model.DynamicConfigValue(id_val="decimals", value=3),
                model.DynamicConfigValue(
                    id_val="thresholds", value=thresholds((None, "red"), (99, "orange"), (99.9, "green")).build()
                ),
            ],
        )
        .override_by_name("Ngừng", [model.DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("Bảo trì", [model.DynamicConfigValue(id_val="unit", value="s")])
        .data_links([entity_link()])
    )


def response_p95() -> Any:
    # A percentile needs the raw samples (rollups keep only count, sum, min and max): the last 6 hours of
    # them, whatever the range picked (24 hours of every service's samples took ~0.9 s, bench/dashboards.py).
    # The 87,000 samples are grouped by their bucket's start (date_bin: the same buckets as the time macro's,
    # Grafana's intervals all dividing a day) and the name in the C collation, then the 17,500 groups are
    # labelled and ordered as before: grouping by the macro's numeric and the collated name took ~30 % more.
    return (
        timeseries(
            "Thời gian phản hồi p95 (6 giờ qua)",
            f"""
SELECT $__timeGroupAlias(b.bucket, $__interval), b.metric, b.value
FROM (
    SELECT date_bin(make_interval(secs => $__interval_ms / 1000.0), x.ts, timestamptz 'epoch') AS bucket,
           e.name COLLATE "C" AS metric, percentile_cont(0.95) WITHIN GROUP (ORDER BY x.value) AS value
    FROM ioc_views.series s
    JOIN ioc_views.samples x ON x.series_id = s.id
    JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
    WHERE s.kind = 'service' AND s.metric = 'response_ms' AND $__timeFilter(x.ts) AND {ENTITY_FILTER}
    GROUP BY 1, 2
) b
ORDER BY b.bucket, b.metric COLLATE "default"
""",
            unit="ms",
            width=24,
            interval="5m",
        )
        .time_from("6h")
        .description("Phân vị 95 của các mẫu thời gian phản hồi trong mỗi 5 phút, 6 giờ gần nhất.")
    )


def tls_days_left() -> Any:
    panel = table("Chứng chỉ TLS còn hạn (ngày)", latest_value("service", "tls_days_left", label="Hệ thống"),
                  width=8, height=10)  # fmt: skip
    return (
        panel.override_by_name("kind", [hidden()])
        .override_by_name("id", [hidden()])
        .override_by_name(
            "Giá trị",
            [
                model.DynamicConfigValue(id_val="displayName", value="Số ngày còn lại"),
                cell_colour(),
                model.DynamicConfigValue(
                    id_val="thresholds", value=thresholds((None, "red"), (14, "orange"), (30, "green")).build()
                ),
            ],
        )
        .data_links([entity_link()])
    )


def dossiers() -> Any:
    return table(
        "Hồ sơ thủ tục hành chính",
        f"""
WITH inc AS (
    SELECT c.entity, c.metric, c.increase
    FROM ioc_views.counter_increase($__timeFrom()::timestamptz, $__timeTo()::timestamptz) c
    WHERE c.kind = 'service' AND c.metric IN ('dossiers_received_total', 'dossiers_done_total')
), overdue AS (
    SELECT DISTINCT ON (s.entity) s.entity, l.value
    FROM ioc_views.series s
    CROSS JOIN LATERAL (SELECT x.ts, x.value FROM ioc_views.samples x WHERE x.series_id = s.id AND $__timeFilter(x.ts)
                        ORDER BY x.ts DESC LIMIT 1) l
    WHERE s.kind = 'service' AND s.metric = 'dossiers_overdue'
    ORDER BY s.entity, l.ts DESC
), systems AS (
    SELECT entity FROM inc UNION SELECT entity FROM overdue
)
SELECT e.name AS "Hệ thống",
       (SELECT sum(increase) FROM inc WHERE inc.entity = sy.entity AND metric = 'dossiers_received_total')
           AS "Tiếp nhận",
       (SELECT sum(increase) FROM inc WHERE inc.entity = sy.entity AND metric = 'dossiers_done_total')
           AS "Đã giải quyết",
       (SELECT value FROM overdue WHERE overdue.entity = sy.entity) AS "Quá hạn"
FROM systems sy
JOIN ioc_views.entity_facts e ON e.kind = 'service' AND e.id = sy.entity
WHERE {ENTITY_FILTER}
ORDER BY 1
""",
        width=16,
        height=10,
    ).description("Tiếp nhận và giải quyết trong khoảng thời gian đang xem; quá hạn là số mới nhất.")


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Hệ thống dịch vụ",
        [statuses(), service_list(), uptime(), response_p95(), tls_days_left(), dossiers()],
        description="Cổng dịch vụ công, một cửa điện tử, quản lý văn bản, LGSP và các hệ thống khác.",
        tags=("dich-vu",),
        variables=[site_variable(), agency_variable()],
        console_url=console_url,
    )
