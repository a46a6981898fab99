"""Shared factories: dashboards, panels, layout, status colours, and SQL fragments over our schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboards.sql import SqlQuery, datasource_ref

SCHEMA_VERSION = 39
GRID_WIDTH = 24

# Status words of contract section 4, in Vietnamese, with the colour each shows in.
STATUS_TEXT = {
    "ok": ("Bình thường", "green"),
    "degraded": ("Suy giảm", "yellow"),
    "down": ("Ngừng hoạt động", "red"),
    "unreachable": ("Mất kết nối", "purple"),
    "maintenance": ("Bảo trì", "blue"),
    "unknown": ("Chưa có dữ liệu", "text"),
}
KIND_TEXT = {"kiosk": "Kiosk", "link": "Đường truyền", "service": "Hệ thống dịch vụ"}
SEVERITY_TEXT = {"critical": ("Nghiêm trọng", "red"), "warning": ("Cảnh báo", "orange"), "info": ("Thông tin", "blue")}


def value_mappings(texts: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Grafana value mappings that show a word in Vietnamese and colour it."""
    options = {
        value: {"color": colour, "index": index, "text": text}
        for index, (value, (text, colour)) in enumerate(texts.items())
    }
    return [{"type": "value", "options": options}]


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    """`thresholds((None, "green"), (80, "orange"), (95, "red"))`: colour from each value upward."""
    return {"mode": "absolute", "steps": [{"color": colour, "value": value} for value, colour in steps]}


@dataclass
class Panel:
    """A panel before layout: its size; `id` and `gridPos` are given when the dashboard is built."""

    type: str
    title: str
    targets: list[SqlQuery]
    width: int = 12
    height: int = 8
    description: str = ""
    unit: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    threshold_steps: dict[str, Any] | None = None
    mappings: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    interval: str | None = None

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"custom": self.custom, "mappings": self.mappings}
        for key in ("unit", "decimals", "min", "max"):
            if getattr(self, key) is not None:
                defaults[key] = getattr(self, key)
        defaults["thresholds"] = self.threshold_steps or thresholds((None, "green"))
        panel: dict[str, Any] = {
            "datasource": datasource_ref(),
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": self.options,
            "targets": [t.to_json() for t in self.targets],
            "title": self.title,
            "transformations": self.transformations,
            "type": self.type,
        }
        if self.interval:
            panel["interval"] = self.interval
        return panel


def layout(panels: list[Panel]) -> list[dict[str, Any]]:
    """Place panels left to right in rows of 24 columns, numbering them from 1."""
    placed = []
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(panel.to_json(panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def dashboard(
    uid: str,
    title: str,
    panels: list[Panel],
    *,
    description: str = "",
    tags: tuple[str, ...] = (),
    time_from: str = "now-6h",
    refresh: str = "30s",
) -> dict[str, Any]:
    """A whole dashboard, ready for Grafana's provisioning or its HTTP API."""
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "graphTooltip": 1,
        "links": [],
        "panels": layout(panels),
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["ioc", *tags],
        "templating": {"list": []},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
    }


# --- panel factories -----------------------------------------------------------------------------


def timeseries(title: str, sql: str, *, unit: str | None = None, **kw: Any) -> Panel:
    kw.setdefault("custom", {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "spanNulls": False})
    kw.setdefault(
        "options",
        {"legend": {"displayMode": "table", "placement": "right", "calcs": ["mean", "max"], "showLegend": True},
         "tooltip": {"mode": "multi", "sort": "desc"}},
    )  # fmt: skip
    kw.setdefault("interval", "1m")
    return Panel("timeseries", title, [SqlQuery(sql, "time_series")], unit=unit, **kw)


def table(title: str, sql: str, **kw: Any) -> Panel:
    kw.setdefault("options", {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True})
    return Panel("table", title, [SqlQuery(sql, "table")], **kw)


def stat(title: str, sql: str, **kw: Any) -> Panel:
    kw.setdefault(
        "options",
        {"colorMode": "background", "graphMode": "none", "justifyMode": "center", "orientation": "auto",
         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "textMode": "value_and_name"},
    )  # fmt: skip
    kw.setdefault("width", 4)
    kw.setdefault("height", 4)
    return Panel("stat", title, [SqlQuery(sql, "table")], **kw)


def bargauge(title: str, sql: str, **kw: Any) -> Panel:
    kw.setdefault(
        "options",
        {"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True}},
    )  # fmt: skip
    return Panel("bargauge", title, [SqlQuery(sql, "table")], **kw)


def status_column_override(column: str = "Trạng thái") -> dict[str, Any]:
    """Colour a table's status column by the status word."""
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [
            {"id": "mappings", "value": value_mappings(STATUS_TEXT)},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }


# --- SQL fragments over our schema ----------------------------------------------------------------

# Dashboards read minute rollups for ranges up to this long, hour rollups beyond (both back ends).
MINUTE_ROLLUP_MAX_RANGE = "2 days"

ROLLUP_SOURCE = f"""(
    SELECT series_id, bucket, cnt, total, min_value, max_value FROM samples_1m
    WHERE $__timeFilter(bucket)
      AND $__timeTo()::timestamptz - $__timeFrom()::timestamptz <= interval '{MINUTE_ROLLUP_MAX_RANGE}'
    UNION ALL
    SELECT series_id, bucket, cnt, total, min_value, max_value FROM samples_1h
    WHERE $__timeFilter(bucket)
      AND $__timeTo()::timestamptz - $__timeFrom()::timestamptz > interval '{MINUTE_ROLLUP_MAX_RANGE}'
)"""

ENTITY_NAME = "coalesce(e.name, s.entity)"


def metric_over_time(
    kind: str,
    metric: str,
    *,
    value: str = "sum(x.total) / sum(x.cnt)",
    legend: str = ENTITY_NAME,
    where: str = "",
) -> str:
    """A time series per entity (or per `legend`) of one metric, from the rollups."""
    extra = f"\n  AND {where}" if where else ""
    return f"""
SELECT $__timeGroupAlias(x.bucket, $__interval), {legend} AS metric, {value} AS value
FROM series s
JOIN {ROLLUP_SOURCE} x ON x.series_id = s.id
LEFT JOIN entities e ON e.kind = s.kind AND e.id = s.entity
WHERE s.kind = '{kind}' AND s.metric = '{metric}'{extra}
GROUP BY 1, 2
ORDER BY 1, 2
"""


def latest_value(kind: str, metric: str, *, label: str, order: str = "value") -> str:
    """The last sample in the range of one metric, per entity, as a table of name and value."""
    return f"""
SELECT name AS "{label}", value AS "Giá trị"
FROM (
    SELECT DISTINCT ON (s.entity) {ENTITY_NAME} AS name, x.value
    FROM series s
    JOIN samples x ON x.series_id = s.id
    LEFT JOIN entities e ON e.kind = s.kind AND e.id = s.entity
    WHERE s.kind = '{kind}' AND s.metric = '{metric}' AND $__timeFilter(x.ts)
    ORDER BY s.entity, x.ts DESC
) latest
ORDER BY {order}, 1
"""
