"""Cảnh báo: the alerts firing now, and how many started over time."""

from __future__ import annotations

from typing import Any

from dashboards.common import SEVERITY_TEXT, Panel, dashboard, table, timeseries, value_mappings

UID = "ioc-alerts"


def firing_alerts() -> Panel:
    return table(
        "Cảnh báo đang kích hoạt",
        """
SELECT a.starts_at AS "Bắt đầu", a.severity AS "Mức độ", a.summary AS "Nội dung",
       coalesce(e.name, a.entity) AS "Thực thể", coalesce(si.name, a.site) AS "Địa điểm",
       a.rule AS "Quy tắc", a.acked_by AS "Người xác nhận"
FROM alerts a
LEFT JOIN entities e ON e.kind = a.kind AND e.id = a.entity
LEFT JOIN sites si ON si.id = a.site
WHERE a.state = 'firing'
ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, a.starts_at DESC
""",
        width=24,
        height=12,
        overrides=[
            {"matcher": {"id": "byName", "options": "Mức độ"},
             "properties": [{"id": "mappings", "value": value_mappings(SEVERITY_TEXT)},
                            {"id": "custom.cellOptions", "value": {"type": "color-background"}}]},
        ],
    )  # fmt: skip


def alerts_started() -> Panel:
    return timeseries(
        "Số cảnh báo phát sinh",
        """
SELECT $__timeGroupAlias(starts_at, '1h'), severity AS metric, count(*)::float8 AS value
FROM alerts
WHERE starts_at IS NOT NULL AND $__timeFilter(starts_at)
GROUP BY 1, 2
ORDER BY 1, 2
""",
        unit="short",
        width=24,
        custom={"drawStyle": "bars", "fillOpacity": 60, "lineWidth": 1, "stacking": {"mode": "normal"}},
        interval="1h",
    )


def build() -> dict[str, Any]:
    return dashboard(
        UID,
        "Cảnh báo",
        [firing_alerts(), alerts_started()],
        description="Cảnh báo đang kích hoạt trên toàn tỉnh.",
        tags=("canh-bao",),
        time_from="now-24h",
    )
