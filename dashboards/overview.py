"""Tổng quan tỉnh: the wall of the operations centre (1920x1080, kiosk mode, no scrolling).

Four rows of the 24-column grid, 26 rows tall in all (`tests/dashboards` computes what fits 1080 px):
what pages now, in total and per kind, and ingest health; the province map beside what is down now and
for how long; the last 24 hours' incidents beside the samples stored per second.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap as geomap_builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import geomap as geomap_model

from dashboards.common import (
    DEFAULT_CONSOLE_URL,
    KIND_TEXT,
    agency_variable,
    alert_link,
    cell_colour,
    dashboard,
    entity_link,
    hidden,
    in_variable,
    link,
    site_and_agency,
    site_variable,
    stat,
    status_column,
    table,
    thresholds,
    timeseries,
)
from dashboards.sql import SqlQuery, datasource_ref

UID = "ioc-overview"
FILTER = site_and_agency("a.site", "a.agency")
PAGING = thresholds((None, "green"), (1, "red"))


def paging_now() -> Any:
    """Alerts that page now: firing, not a topology symptom, not muted. One downed link is 1, not 21."""
    return (
        stat(
            "Cảnh báo đang báo động",
            f'SELECT count(*) AS "Đang báo động" FROM ioc_views.alerts a WHERE a.pages AND {FILTER}',
            width=4,
        )
        .thresholds(PAGING)
        .description(
            "Cảnh báo đang kích hoạt, không tính cảnh báo hệ quả (mất kết nối do thiết bị phía trước) "
            "và cảnh báo đang tạm dừng."
        )
    )


def paging_by_kind(kind: str) -> Any:
    return stat(
        KIND_TEXT[kind],
        f'SELECT count(*) AS "{KIND_TEXT[kind]}" FROM ioc_views.alerts a\n'
        f"WHERE a.pages AND a.kind = '{kind}' AND {FILTER}",
        width=3,
    ).thresholds(PAGING)


def samples_per_second() -> Any:
    return (
        stat(
            "Mẫu/giây (5 phút)",
            """
SELECT coalesce(sum(x.cnt), 0)::float8 / 300 AS "Mẫu/giây"
FROM ioc_views.samples_1m x
WHERE x.bucket >= date_trunc('minute', now()) - interval '5 minutes' AND x.bucket < date_trunc('minute', now())
""",
            width=4,
        )
        .thresholds(thresholds((None, "red"), (0.001, "green")))
        .decimals(1)
    )


def dead_letters() -> Any:
    return (
        stat(
            "Thư lỗi (1 giờ)",
            "SELECT count(*) AS \"Thư lỗi\" FROM ioc_views.dead_letters WHERE received_at > now() - interval '1 hour'",
            width=3,
        )
        .thresholds(thresholds((None, "green"), (1, "orange"), (100, "red")))
        .links([link("Thư lỗi trong console", "${console}/ui/dead-letters")])
    )


def broker_drops() -> Any:
    return stat(
        "Broker bỏ tin (/phút)",
        """
SELECT coalesce(sum(l.value), 0) AS "Bỏ tin/phút"
FROM ioc_views.series s
CROSS JOIN LATERAL (SELECT value FROM ioc_views.samples WHERE series_id = s.id AND ts > now() - interval '5 minutes'
                    ORDER BY ts DESC LIMIT 1) l
WHERE s.metric = 'mqtt_broker_dropped_per_min'
""",
        width=4,
    ).thresholds(thresholds((None, "green"), (0.001, "red")))


def province_map() -> Any:
    """The sites on the province map, coloured by the worst status of what is there."""
    sql = f"""
SELECT si.id, si.name AS "Địa điểm", si.lat AS latitude, si.lon AS longitude,
       count(e.id) AS "Thực thể",
       count(e.id) FILTER (WHERE e.status = 'down') AS "Ngừng",
       count(e.id) FILTER (WHERE e.status = 'unreachable') AS "Mất kết nối",
       coalesce(max(CASE e.status WHEN 'down' THEN 3 WHEN 'unreachable' THEN 2 WHEN 'degraded' THEN 1 ELSE 0 END), 0)
           AS "Mức"
FROM ioc_views.sites si
LEFT JOIN ioc_views.entities e ON e.site = si.id AND e.assigned AND {in_variable("e.agency", "agency")}
WHERE si.lat IS NOT NULL AND {in_variable("si.id", "site")}
GROUP BY si.id, si.name, si.lat, si.lon
ORDER BY "Mức" DESC, si.name
"""
    markers = (
        common_builder.MapLayerOptions()
        .type("markers")
        .name("Địa điểm")
        .location(
            common_builder.FrameGeometrySource()
            .mode(common_model.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .config(
            {
                "showLegend": False,
                "style": {
                    "color": {"field": "Mức"},
                    "size": {"fixed": 8, "min": 6, "max": 16, "field": "Thực thể"},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                    "opacity": 0.8,
                    "text": {"field": "Địa điểm", "mode": "field"},
                    "textConfig": {"fontSize": 10, "offsetY": -14, "textAlign": "center", "textBaseline": "bottom"},
                },
            }
        )
    )
    return (
        geomap_builder.Panel()
        .title("Bản đồ tỉnh")
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql, "table"))
        .span(12)
        .height(14)
        .view(geomap_builder.MapViewConfig().id("fit").zoom(9).all_layers(True))
        .controls(geomap_builder.ControlsOptions().show_zoom(False).mouse_wheel_zoom(False).show_attribution(True))
        .basemap(common_builder.MapLayerOptions().type("osm-standard").name("Bản đồ nền"))
        .layers([markers])
        .tooltip(geomap_builder.TooltipOptions().mode(geomap_model.TooltipMode.DETAILS))
        .thresholds(thresholds((None, "green"), (1, "yellow"), (2, "purple"), (3, "red")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .override_by_name("Mức", [model.DynamicConfigValue(id_val="unit", value="none")])
    )


def down_now() -> Any:
    """What is down or unreachable now, longest first, with for how long; a row opens the entity."""
    panel = table(
        "Đang ngừng hoạt động",
        f"""
SELECT e.kind, e.id, e.name AS "Tên", coalesce(e.site_name, e.site) AS "Địa điểm", e.status AS "Trạng thái",
       e.down_since AS "Từ lúc",
       extract(epoch FROM now() - e.down_since)::float8 AS "Đã kéo dài"
FROM ioc_views.entities e
WHERE e.status IN ('down', 'unreachable') AND e.assigned AND {site_and_agency("e.site", "e.agency")}
ORDER BY e.status, e.down_since NULLS LAST, e.kind, e.id
""",
        width=12,
        height=14,
    )
    panel = status_column(panel)
    return (
        panel.override_by_name("kind", [hidden()])
        .override_by_name("id", [hidden()])
        .override_by_name("Đã kéo dài", [model.DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("Từ lúc", [model.DynamicConfigValue(id_val="unit", value="dateTimeAsLocal")])
        .data_links([entity_link()])
    )


def incidents_24h() -> Any:
    panel = table(
        "Sự cố 24 giờ qua",
        f"""
SELECT a.id, a.starts_at AS "Bắt đầu", a.ends_at AS "Kết thúc", a.severity AS "Mức độ",
       a.entity_name AS "Thực thể", a.summary AS "Nội dung", a.duration_s AS "Thời lượng"
FROM ioc_views.incidents a
WHERE (a.starts_at > now() - interval '24 hours' OR a.open) AND {FILTER}
ORDER BY a.starts_at DESC
LIMIT 50
""",
        width=12,
        height=8,
    )
    return (
        panel.override_by_name("id", [hidden()])
        .override_by_name("Thời lượng", [model.DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("Mức độ", [cell_colour("color-text")])
        .data_links([alert_link()])
    )


def ingest_rate() -> Any:
    return timeseries(
        "Mẫu lưu mỗi giây",
        """
SELECT $__timeGroupAlias(x.bucket, $__interval), 'Mẫu/giây' AS metric,
       sum(x.cnt)::float8 / greatest($__interval_ms / 1000.0,
           CASE WHEN $__timeTo()::timestamptz - $__timeFrom()::timestamptz > interval '6 hours' THEN 3600 ELSE 60 END)
           AS value
FROM ioc_views.ingest_counts($__timeFrom()::timestamptz, $__timeTo()::timestamptz) x
GROUP BY 1, 2
ORDER BY 1, 2
""",
        width=12,
        height=8,
        unit="short",
    )


def build(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, Any]:
    return dashboard(
        UID,
        "Tổng quan tỉnh",
        [
            paging_now(),
            paging_by_kind("kiosk"),
            paging_by_kind("link"),
            paging_by_kind("service"),
            samples_per_second(),
            dead_letters(),
            broker_drops(),
            province_map(),
            down_now(),
            incidents_24h(),
            ingest_rate(),
        ],
        description="Tình trạng kiosk, đường truyền và hệ thống dịch vụ công của tỉnh, cho màn hình tường.",
        tags=("tong-quan",),
        time_from="now-24h",
        refresh="10s",
        variables=[site_variable(), agency_variable()],
        console_url=console_url,
    )
