"""Đường truyền: rtt, loss and jitter of each network link, and the worst links."""

from __future__ import annotations

from typing import Any

from dashboards.common import ROLLUP_SOURCE, Panel, dashboard, metric_over_time, table, thresholds, timeseries

UID = "ioc-links"


def rtt() -> Panel:
    return timeseries("Độ trễ (RTT)", metric_over_time("link", "rtt_ms"), unit="ms", width=24)


def loss() -> Panel:
    return timeseries(
        "Tỷ lệ mất gói", metric_over_time("link", "loss_pct"), unit="percent", min=0, width=12,
        threshold_steps=thresholds((None, "green"), (1, "orange"), (5, "red")),
    )  # fmt: skip


def jitter() -> Panel:
    return timeseries("Độ biến thiên trễ (jitter)", metric_over_time("link", "jitter_ms"), unit="ms", width=12)


def throughput() -> Panel:
    return timeseries(
        "Lưu lượng nhận",
        metric_over_time("link", "rx_bps"),
        unit="bps",
        width=24,
        description="Trung bình mỗi khoảng thời gian của rx_bps.",
    )


def worst_links(limit: int = 10) -> Panel:
    return table(
        f"{limit} đường truyền kém nhất",
        f"""
SELECT coalesce(e.name, s.entity) AS "Đường truyền",
       sum(x.total) FILTER (WHERE s.metric = 'loss_pct') / sum(x.cnt) FILTER (WHERE s.metric = 'loss_pct')
           AS "Mất gói (%)",
       sum(x.total) FILTER (WHERE s.metric = 'rtt_ms') / sum(x.cnt) FILTER (WHERE s.metric = 'rtt_ms')
           AS "RTT trung bình (ms)",
       max(x.max_value) FILTER (WHERE s.metric = 'rtt_ms') AS "RTT cao nhất (ms)"
FROM series s
JOIN {ROLLUP_SOURCE} x ON x.series_id = s.id
LEFT JOIN entities e ON e.kind = s.kind AND e.id = s.entity
WHERE s.kind = 'link' AND s.metric IN ('loss_pct', 'rtt_ms')
GROUP BY 1
ORDER BY 2 DESC NULLS LAST, 3 DESC NULLS LAST
LIMIT {limit}
""",
        width=24,
        height=10,
        overrides=[
            {"matcher": {"id": "byName", "options": "Mất gói (%)"},
             "properties": [{"id": "custom.cellOptions", "value": {"type": "color-background"}},
                            {"id": "thresholds", "value": thresholds((None, "green"), (1, "orange"), (5, "red"))}]},
        ],
    )  # fmt: skip


def build() -> dict[str, Any]:
    return dashboard(
        UID,
        "Đường truyền",
        [rtt(), loss(), jitter(), throughput(), worst_links()],
        description="Chất lượng đường truyền mạng truyền số liệu chuyên dùng và Internet.",
        tags=("duong-truyen",),
    )
