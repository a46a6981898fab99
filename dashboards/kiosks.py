"""Kiosk: device health (cpu, memory, temperature, paper) and the queues they serve."""

from __future__ import annotations

from typing import Any

from dashboards.common import (
    ROLLUP_SOURCE,
    Panel,
    bargauge,
    dashboard,
    latest_value,
    metric_over_time,
    thresholds,
    timeseries,
)

UID = "ioc-kiosks"

SITE_NAME = "coalesce(si.name, e.site, '(chưa gán)')"


def cpu() -> Panel:
    return timeseries("CPU (%)", metric_over_time("kiosk", "cpu_pct"), unit="percent", min=0, max=100)


def memory() -> Panel:
    return timeseries("Bộ nhớ (%)", metric_over_time("kiosk", "mem_pct"), unit="percent", min=0, max=100)


def temperature() -> Panel:
    return timeseries(
        "Nhiệt độ", metric_over_time("kiosk", "temp_c"), unit="celsius",
        threshold_steps=thresholds((None, "green"), (70, "orange"), (80, "red")),
    )  # fmt: skip


def paper() -> Panel:
    return bargauge(
        "Giấy in còn lại (thấp nhất trước)",
        latest_value("kiosk", "printer_paper_pct", label="Kiosk"),
        unit="percent",
        min=0,
        max=100,
        threshold_steps=thresholds((None, "red"), (10, "orange"), (25, "green")),
    )


def per_site(metric: str, value: str, *, per_series: bool = False) -> str:
    """A time series per site of one kiosk metric, from the rollups (or per site and series)."""
    series = ", s.id" if per_series else ""
    return f"""
SELECT $__timeGroupAlias(x.bucket, $__interval), {SITE_NAME} AS metric, {value} AS value
FROM series s
JOIN {ROLLUP_SOURCE} x ON x.series_id = s.id
LEFT JOIN entities e ON e.kind = s.kind AND e.id = s.entity
LEFT JOIN sites si ON si.id = e.site
WHERE s.kind = 'kiosk' AND s.metric = '{metric}'
GROUP BY 1, 2{series}
ORDER BY 1, 2
"""


def queue_waiting() -> Panel:
    # The average per kiosk in each bucket, summed over a site's kiosks: people waiting at the site.
    return timeseries(
        "Người đang chờ theo địa điểm",
        f"""
SELECT "time", metric, sum(value) AS value
FROM ({per_site("queue_waiting", "sum(x.total) / sum(x.cnt)", per_series=True)}) per_kiosk
GROUP BY 1, 2
ORDER BY 1, 2
""",
        unit="short",
    )


def wait_time() -> Panel:
    return timeseries(
        "Thời gian chờ trung bình theo địa điểm",
        per_site("wait_time_s", "sum(x.total) / sum(x.cnt)"),
        unit="s",
    )


def build() -> dict[str, Any]:
    return dashboard(
        UID,
        "Kiosk",
        [cpu(), memory(), temperature(), paper(), queue_waiting(), wait_time()],
        description="Tình trạng kiosk lấy số, tra cứu và đánh giá tại bộ phận một cửa các cấp.",
        tags=("kiosk",),
    )
