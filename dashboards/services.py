"""Hệ thống dịch vụ: availability, response time, TLS and dossiers of the service systems."""

from __future__ import annotations

from typing import Any

from dashboards.common import (
    ENTITY_NAME,
    Panel,
    dashboard,
    latest_value,
    metric_over_time,
    table,
    thresholds,
    timeseries,
)

UID = "ioc-services"


def availability() -> Panel:
    return timeseries(
        "Sẵn sàng (%)",
        metric_over_time("service", "up", value="100.0 * sum(x.total) / sum(x.cnt)"),
        unit="percent",
        min=0,
        max=100,
        width=24,
        threshold_steps=thresholds((None, "red"), (95, "orange"), (99, "green")),
    )


def response_p95() -> Panel:
    # A percentile needs the raw samples; rollups keep only count, sum, min and max.
    return timeseries(
        "Thời gian phản hồi p95",
        f"""
SELECT $__timeGroupAlias(x.ts, $__interval), {ENTITY_NAME} AS metric,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY x.value) AS value
FROM series s
JOIN samples x ON x.series_id = s.id
LEFT JOIN entities e ON e.kind = s.kind AND e.id = s.entity
WHERE s.kind = 'service' AND s.metric = 'response_ms' AND $__timeFilter(x.ts)
GROUP BY 1, 2
ORDER BY 1, 2
""",
        unit="ms",
        width=24,
    )


def tls_days_left() -> Panel:
    return table(
        "Chứng chỉ TLS còn hạn (ngày)",
        latest_value("service", "tls_days_left", label="Hệ thống"),
        width=8,
        height=10,
        overrides=[
            {"matcher": {"id": "byName", "options": "Giá trị"},
             "properties": [{"id": "displayName", "value": "Số ngày còn lại"},
                            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                            {"id": "thresholds", "value": thresholds((None, "red"), (14, "orange"), (30, "green"))}]},
        ],
    )  # fmt: skip


def dossiers() -> Panel:
    increase = """
    SELECT s.entity, s.metric, sum(CASE WHEN d.delta >= 0 THEN d.delta ELSE d.value END) AS increase
    FROM series s
    JOIN LATERAL (
        SELECT x.value, x.value - lag(x.value) OVER (ORDER BY x.ts) AS delta
        FROM samples x WHERE x.series_id = s.id AND $__timeFilter(x.ts)
    ) d ON d.delta IS NOT NULL
    WHERE s.kind = 'service' AND s.metric IN ('dossiers_received_total', 'dossiers_done_total')
    GROUP BY 1, 2"""
    return table(
        "Hồ sơ thủ tục hành chính",
        f"""
WITH inc AS ({increase}
), overdue AS (
    SELECT DISTINCT ON (s.entity) s.entity, x.value
    FROM series s JOIN samples x ON x.series_id = s.id
    WHERE s.kind = 'service' AND s.metric = 'dossiers_overdue' AND $__timeFilter(x.ts)
    ORDER BY s.entity, x.ts DESC
), systems AS (
    SELECT entity FROM inc UNION SELECT entity FROM overdue
)
SELECT coalesce(e.name, sy.entity) AS "Hệ thống",
       (SELECT increase FROM inc WHERE inc.entity = sy.entity AND metric = 'dossiers_received_total')
           AS "Tiếp nhận",
       (SELECT increase FROM inc WHERE inc.entity = sy.entity AND metric = 'dossiers_done_total')
           AS "Đã giải quyết",
       (SELECT value FROM overdue WHERE overdue.entity = sy.entity) AS "Quá hạn"
FROM systems sy
LEFT JOIN entities e ON e.kind = 'service' AND e.id = sy.entity
ORDER BY 1
""",
        width=16,
        height=10,
        description="Tiếp nhận và giải quyết trong khoảng thời gian đang xem; quá hạn là số mới nhất.",
    )


def build() -> dict[str, Any]:
    return dashboard(
        UID,
        "Hệ thống dịch vụ",
        [availability(), response_p95(), tls_days_left(), dossiers()],
        description="Cổng dịch vụ công, một cửa điện tử, quản lý văn bản, LGSP và các hệ thống khác.",
        tags=("dich-vu",),
    )
