"""Chỉ số 766: the e-government figures of Decision 766/QĐ-TTg per agency over the picked range.

From `ioc_views.agency_kpis`, the SQL form of ioc/kpis.py (the same figures as
GET /api/v1/agencies/{id}/kpis): counter increases of the agency's services and kiosks, a drop
being a reset, shares null with a zero denominator.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    DEFAULT_CONSOLE_URL,
    agency_variable,
    bargauge,
    cell_colour,
    dashboard,
    in_variable,
    table,
    thresholds,
    timeseries,
)

UID = "ioc-kpis"
KPIS = "ioc_views.agency_kpis($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"
AGENCY = in_variable("k.agency", "agency")
SHARE_COLOURS = thresholds((None, "red"), (80, "orange"), (90, "green"))
COLUMNS = {
    "dossiers_received": "Hồ sơ tiếp nhận",
    "online_share_pct": "Trực tuyến (%)",
    "ontime_share_pct": "Đúng hạn (%)",
    "dossiers_overdue": "Quá hạn",
    "online_payment_share_pct": "Thanh toán trực tuyến (%)",
    "satisfaction_pct": "Hài lòng (%)",
}


def kpi_table() -> Any:
    columns = ",\n       ".join(f'k.{name} AS "{text}"' for name, text in COLUMNS.items())
    panel = table(
        "Chỉ số theo cơ quan",
        f"""
SELECT k.agency_name AS "Cơ quan",
       {columns}
FROM {KPIS} k
WHERE {AGENCY}
ORDER BY k.agency_name
""",
        width=24,
        height=8,
    )
    for name, text in COLUMNS.items():
        if name.endswith("_pct"):
            panel = panel.override_by_name(
                text, [cell_colour(), model.DynamicConfigValue(id_val="thresholds", value=SHARE_COLOURS.build())]
            )
    return panel.override_by_name("Quá hạn", [cell_colour("color-text"), model.DynamicConfigValue(
        id_val="thresholds", value=thresholds((None, "green"), (1, "red")).build())])  # fmt: skip


def share_by_agency(name: str) -> Any:
    return (
        bargauge(
            COLUMNS[name],
            f'SELECT k.agency_name AS "Cơ quan", k.{name} AS "{COLUMNS[name]}"\nFROM {KPIS} k\n'
            f"WHERE k.{name} IS NOT NULL AND {AGENCY}\nORDER BY 2",
            width=8,
            height=8,
            unit="percent",
        )
        .min(0)
        .max(100)
        .thresholds(SHARE_COLOURS)
    )


def received_over_time() -> Any:
    """Dossiers received per hour and agency, from the hour rollup as ioc/store/kpis.py reads it: an hour
    that does not go below the hour before adds its largest value minus that one; after a reset, its
    largest value (the count since the reset)."""
    return timeseries(
        "Hồ sơ tiếp nhận theo giờ",
        f"""
SELECT $__timeGroupAlias(h.bucket, $__interval), coalesce(a.name, h.agency) AS metric,
       sum(CASE WHEN h.prev_max IS NULL OR h.prev_bucket <> h.bucket - interval '1 hour' THEN 0
                WHEN h.min_value >= h.prev_max THEN h.max_value - h.prev_max
                ELSE h.max_value END) AS value
FROM (
    SELECT e.agency, x.bucket, x.min_value, x.max_value,
           lag(x.max_value) OVER w AS prev_max, lag(x.bucket) OVER w AS prev_bucket
    FROM ioc_views.series s
    JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
    JOIN ioc_views.samples_1h x ON x.series_id = s.id
    WHERE s.metric = 'dossiers_received_total' AND e.kind IN ('service', 'kiosk') AND e.agency IS NOT NULL
      AND {in_variable("e.agency", "agency")}
      AND x.bucket >= date_trunc('hour', $__timeFrom()::timestamptz) - interval '1 hour'
      AND x.bucket < $__timeTo()::timestamptz
    WINDOW w AS (PARTITION BY s.id ORDER BY x.bucket)
) h
LEFT JOIN ioc_views.agencies a ON a.id = h.agency
WHERE $__timeFilter(h.bucket)
GROUP BY 1, 2
ORDER BY 1, 2
""",
        width=24,
        interval="1h",
        unit="short",
    ).draw_style(common_model.GraphDrawStyle.BARS)


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Chỉ số dịch vụ công (Quyết định 766)",
        [
            kpi_table(),
            share_by_agency("online_share_pct"),
            share_by_agency("ontime_share_pct"),
            share_by_agency("satisfaction_pct"),
            received_over_time(),
        ],
        description="Bộ chỉ số chỉ đạo, điều hành và đánh giá chất lượng phục vụ người dân, doanh nghiệp.",
        tags=("kpi",),
        time_from="now-30d",
        refresh="5m",
        variables=[agency_variable()],
        console_url=console_url,
    )
