"""Kiosk: device health (cpu, memory, temperature, paper) and the queues they serve."""

from __future__ import annotations

from typing import Any

from dashboards.common import (
    DEFAULT_CONSOLE_URL,
    agency_variable,
    bargauge,
    dashboard,
    entity_link,
    entity_table,
    site_variable,
    status_stat,
    thresholds,
    timeseries,
)
from dashboards.queries import entity_list, latest_value, metric_over_time, per_site, status_counts

UID = "ioc-kiosks"


def statuses() -> Any:
    return status_stat("Kiosk theo trạng thái", status_counts("kiosk"))


def kiosk_list() -> Any:
    return entity_table("Danh sách kiosk", entity_list("kiosk"), height=10)


def cpu() -> Any:
    return timeseries("CPU (%)", metric_over_time("kiosk", "cpu_pct"), unit="percent").min(0).max(100)


def memory() -> Any:
    return timeseries("Bộ nhớ (%)", metric_over_time("kiosk", "mem_pct"), unit="percent").min(0).max(100)


def temperature() -> Any:
    return timeseries("Nhiệt độ", metric_over_time("kiosk", "temp_c"), unit="celsius").thresholds(
        thresholds((None, "green"), (70, "orange"), (80, "red"))
    )


def paper() -> Any:
    return (
        bargauge(
            "Giấy in còn lại (thấp nhất trước)",
            latest_value("kiosk", "printer_paper_pct", label="Kiosk"),
            unit="percent",
        )
        .min(0)
        .max(100)
        .thresholds(thresholds((None, "red"), (10, "orange"), (25, "green")))
        .data_links([entity_link()])
    )


def queue_waiting() -> Any:
    return timeseries("Người đang chờ theo địa điểm", per_site("kiosk", "queue_waiting"), unit="short")


def wait_time() -> Any:
    return timeseries("Thời gian chờ trung bình theo địa điểm", per_site("kiosk", "wait_time_s"), unit="s")


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Kiosk",
        [statuses(), kiosk_list(), cpu(), memory(), temperature(), paper(), queue_waiting(), wait_time()],
        description="Tình trạng kiosk lấy số, tra cứu và đánh giá tại bộ phận một cửa các cấp.",
        tags=("kiosk",),
        variables=[site_variable(), agency_variable()],
        console_url=console_url,
    )
