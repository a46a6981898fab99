"""Đường truyền: rtt, loss and jitter of each network link, and the worst links."""

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
from dashboards.queries import ENTITY_FILTER, ROLLUP, entity_list, metric_over_time, status_counts

UID = "ioc-links"


def statuses() -> Any:
    return status_stat("Đường truyền theo trạng thái", status_counts("link"))


def link_list() -> Any:
    return entity_table("Danh sách đường truyền", entity_list("link"), width=12, height=10)


def worst_links(limit: int = 10) -> Any:
    panel = table(
        f"{limit} đường truyền kém nhất",
        f"""
SELECT e.kind, e.id, e.name AS "Đường truyền",
       sum(x.total) FILTER (WHERE s.metric = 'loss_pct') / nullif(sum(x.cnt) FILTER (WHERE s.metric = 'loss_pct'), 0)
           AS "Mất gói (%)",
       sum(x.total) FILTER (WHERE s.metric = 'rtt_ms') / nullif(sum(x.cnt) FILTER (WHERE s.metric = 'rtt_ms'), 0)
           AS "RTT trung bình (ms)",
       max(x.max_value) FILTER (WHERE s.metric = 'rtt_ms') AS "RTT cao nhất (ms)"
FROM ioc_views.series s
JOIN {ROLLUP} x ON x.series_id = s.id
JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
WHERE s.kind = 'link' AND s.metric IN ('loss_pct', 'rtt_ms') AND {ENTITY_FILTER}
GROUP BY e.kind, e.id, e.name
ORDER BY 4 DESC NULLS LAST, 5 DESC NULLS LAST
LIMIT {limit}
""",
        width=12,
        height=10,
    )
    return (
        panel.override_by_name("kind", [hidden()])
        .override_by_name("id", [hidden()])
        .override_by_name(
            "Mất gói (%)",
            [
                cell_colour(),
                model.DynamicConfigValue(
                    id_val="thresholds", value=thresholds((None, "green"), (1, "orange"), (5, "red")).build()
                ),
            ],
        )
        .data_links([entity_link()])
    )


def rtt() -> Any:
    return timeseries("Độ trễ (RTT)", metric_over_time("link", "rtt_ms"), unit="ms", width=24)


def loss() -> Any:
    return (
        timeseries("Tỷ lệ mất gói", metric_over_time("link", "loss_pct"), unit="percent")
        .min(0)
        .thresholds(thresholds((None, "green"), (1, "orange"), (5, "red")))
    )


def jitter() -> Any:
    return timeseries("Độ biến thiên trễ (jitter)", metric_over_time("link", "jitter_ms"), unit="ms")


def throughput() -> Any:
    return timeseries("Lưu lượng nhận", metric_over_time("link", "rx_bps"), unit="bps", width=24).description(
        "Trung bình mỗi khoảng thời gian của rx_bps."
    )


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Đường truyền",
        [statuses(), link_list(), worst_links(), rtt(), loss(), jitter(), throughput()],
        description="Chất lượng đường truyền mạng truyền số liệu chuyên dùng và Internet.",
        tags=("duong-truyen",),
        variables=[site_variable(), agency_variable()],
        console_url=console_url,
    )
