"""Tổng quan tỉnh: the province overview for the operations centre's main wall display."""

from __future__ import annotations

from typing import Any

from dashboards.common import (
    KIND_TEXT,
    STATUS_TEXT,
    Panel,
    dashboard,
    stat,
    status_column_override,
    table,
    thresholds,
)

UID = "ioc-overview"


def status_counts() -> Panel:
    columns = ",\n       ".join(
        f"count(*) FILTER (WHERE status = '{status}') AS \"{text}\"" for status, (text, _) in STATUS_TEXT.items()
    )
    overrides = [
        {"matcher": {"id": "byName", "options": text},
         "properties": [{"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}}]}
        for text, colour in STATUS_TEXT.values()
    ]  # fmt: skip
    return stat(
        "Số thực thể theo trạng thái",
        f"SELECT {columns}\nFROM entity_status\nWHERE assigned",
        width=24,
        height=5,
        overrides=overrides,
        description="Kiosk, đường truyền và hệ thống dịch vụ trong danh mục, theo trạng thái hiện tại.",
    )


def firing_alerts_count() -> Panel:
    return stat(
        "Cảnh báo đang kích hoạt",
        "SELECT count(*) AS \"Cảnh báo\" FROM alerts WHERE state = 'firing'",
        width=6,
        height=5,
        threshold_steps=thresholds((None, "green"), (1, "orange"), (5, "red")),
    )


def down_entities() -> Panel:
    kinds = " ".join(f"WHEN '{kind}' THEN '{text}'" for kind, text in KIND_TEXT.items())
    return table(
        "Thực thể đang ngừng hoạt động",
        f"""
SELECT CASE e.kind {kinds} END AS "Loại", coalesce(e.name, e.id) AS "Tên", coalesce(si.name, e.site) AS "Địa điểm",
       e.status AS "Trạng thái", e.last_seen AS "Lần cuối nhận dữ liệu"
FROM entity_status e
LEFT JOIN sites si ON si.id = e.site
WHERE e.status IN ('down', 'unreachable')
ORDER BY e.status, e.kind, e.last_seen NULLS FIRST
""",
        width=18,
        height=10,
        overrides=[status_column_override()],
    )


def status_by_site(kind: str) -> Panel:
    columns = ",\n       ".join(
        f"count(*) FILTER (WHERE e.status = '{status}') AS \"{text}\"" for status, (text, _) in STATUS_TEXT.items()
    )
    overrides: list[dict[str, Any]] = [
        {"matcher": {"id": "byName", "options": text},
         "properties": [{"id": "custom.cellOptions", "value": {"type": "color-text"}},
                        {"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}}]}
        for status, (text, colour) in STATUS_TEXT.items() if status != "ok"
    ]  # fmt: skip
    return table(
        f"{KIND_TEXT[kind]} theo địa điểm",
        f"""
SELECT coalesce(si.name, e.site, '(chưa gán)') AS "Địa điểm",
       {columns}
FROM entity_status e
LEFT JOIN sites si ON si.id = e.site
WHERE e.kind = '{kind}' AND e.assigned
GROUP BY 1
ORDER BY count(*) FILTER (WHERE e.status IN ('down', 'unreachable')) DESC, 1
""",
        width=8,
        height=12,
        overrides=overrides,
    )


def build() -> dict[str, Any]:
    return dashboard(
        UID,
        "Tổng quan tỉnh",
        [
            status_counts(),
            firing_alerts_count(),
            down_entities(),
            status_by_site("kiosk"),
            status_by_site("link"),
            status_by_site("service"),
        ],
        description="Tình trạng kiosk, đường truyền và hệ thống dịch vụ công của tỉnh.",
        tags=("tong-quan",),
        time_from="now-1h",
    )
