"""Shared factories over grafana-foundation-sdk: dashboards, panels, variables, links, status colours.

Every panel is built with the SDK's typed builders (`grafana_foundation_sdk.builders.*`) and placed by its
dashboard builder, which flows panels left to right in rows of 24 columns. The SQL targets are
`dashboards.sql.SqlQuery` (the SDK has no SQL data source builder) and read only `ioc_views`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import bargauge as bargauge_builder
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from dashboards.sql import SqlQuery, datasource_ref

GRID_WIDTH = 24
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8000"  # IOC_PUBLIC_URL's default; `ioc dashboards push` uses the setting

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

# The value a multi-value variable takes for "All" (Grafana inserts a custom allValue unquoted).
ALL = "'__all'"

PanelBuilder = cogbuilder.Builder[model.Panel]


# --- variables and filters -------------------------------------------------------------------------


def query_variable(name: str, label: str, sql: str) -> dash.QueryVariable:
    """A multi-value variable from SQL returning `__value` and `__text`, with "All" as `ALL`."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(datasource_ref())
        .query(sql.strip())
        .multi(True)
        .include_all(True)
        .all_value(ALL)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def site_variable() -> dash.QueryVariable:
    return query_variable("site", "Địa điểm", "SELECT id AS __value, name AS __text FROM ioc_views.sites ORDER BY name")


def agency_variable() -> dash.QueryVariable:
    return query_variable(
        "agency", "Cơ quan", "SELECT id AS __value, name AS __text FROM ioc_views.agencies ORDER BY name"
    )


def console_variable(url: str) -> dash.TextBoxVariable:
    """Where the operator console is (data links open its pages); `?var-console=` overrides it."""
    return (
        dash.TextBoxVariable("console")
        .label("Console")
        .default_value(url)
        .current(model.VariableOption(selected=True, text=url, value=url))
        .hide(model.VariableHide.HIDE_VARIABLE)
    )


def in_variable(column: str, variable: str) -> str:
    """`column` among the picked values of a multi-value variable, or anything (NULL too) for "All"."""
    return f"({column} IN (${{{variable}}}) OR {ALL} IN (${{{variable}}}))"


def site_and_agency(site_column: str, agency_column: str) -> str:
    return f"{in_variable(site_column, 'site')} AND {in_variable(agency_column, 'agency')}"


# --- panel parts ------------------------------------------------------------------------------------


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """`thresholds((None, "green"), (80, "orange"), (95, "red"))`: colour from each value upward."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=colour) for value, colour in steps])
    )


def value_mappings(texts: dict[str, tuple[str, str]]) -> list[model.ValueMapping]:
    """Grafana value mappings that show a word in Vietnamese and colour it."""
    options = {
        value: model.ValueMappingResult(text=text, color=colour, index=index)
        for index, (value, (text, colour)) in enumerate(texts.items())
    }
    return [model.ValueMap(options=options)]


def link(title: str, url: str) -> dash.DashboardLink:
    """A data link (field link): `url` may use `${__data.fields.NAME}` and `${console}`."""
    return dash.DashboardLink(title).type(model.DashboardLinkType.LINK).url(url).target_blank(True)


def entity_link() -> dash.DashboardLink:
    return link("Mở trong console", "${console}/ui/entities/${__data.fields.kind}/${__data.fields.id}")


def alert_link() -> dash.DashboardLink:
    return link("Mở cảnh báo trong console", "${console}/ui/alerts/${__data.fields.id}")


def hidden() -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val="custom.hidden", value=True)


def cell_colour(mode: str = "color-background") -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": mode})


# --- panel factories --------------------------------------------------------------------------------


def stat(title: str, sql: str, *, width: int = 4, height: int = 4, unit: str | None = None) -> stat_builder.Panel:
    panel = (
        stat_builder.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql, "table"))
        .span(width)
        .height(height)
        .color_mode(common_model.BigValueColorMode.BACKGROUND)
        .graph_mode(common_model.BigValueGraphMode.NONE)
        .justify_mode(common_model.BigValueJustifyMode.CENTER)
        .text_mode(common_model.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields(""))
    )
    if unit:
        panel = panel.unit(unit)
    return panel


def table(title: str, sql: str, *, width: int = 12, height: int = 8) -> table_builder.Panel:
    return (
        table_builder.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql, "table"))
        .span(width)
        .height(height)
        .cell_height(common_model.TableCellHeight.SM)
        .show_header(True)
    )


def timeseries(
    title: str, sql: str, *, width: int = 12, height: int = 8, unit: str | None = None, interval: str = "1m"
) -> timeseries_builder.Panel:
    panel = (
        timeseries_builder.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql, "time_series"))
        .span(width)
        .height(height)
        .interval(interval)
        .line_width(1)
        .fill_opacity(10)
        .span_nulls(False)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["mean", "max"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common_model.TooltipDisplayMode.MULTI)
            .sort(common_model.SortOrder.DESCENDING)
        )
    )
    if unit:
        panel = panel.unit(unit)
    return panel


def bargauge(
    title: str, sql: str, *, width: int = 12, height: int = 8, unit: str | None = None
) -> bargauge_builder.Panel:
    panel = (
        bargauge_builder.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(SqlQuery(sql, "table"))
        .span(width)
        .height(height)
        .display_mode(common_model.BarGaugeDisplayMode.GRADIENT)
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(True).fields(""))
    )
    if unit:
        panel = panel.unit(unit)
    return panel


def status_column(panel: Any, column: str = "Trạng thái") -> Any:
    """Colour a table's status column by the status word, and show it in Vietnamese."""
    return panel.override_by_name(
        column,
        [model.DynamicConfigValue(id_val="mappings", value=value_mappings(STATUS_TEXT)), cell_colour()],
    )


def status_stat(title: str, sql: str, *, width: int = 24, height: int = 4) -> Any:
    """A stat of one value per status column, each in its status colour."""
    panel = stat(title, sql, width=width, height=height)
    for text, colour in STATUS_TEXT.values():
        panel = panel.override_by_name(
            text, [model.DynamicConfigValue(id_val="color", value={"fixedColor": colour, "mode": "fixed"})]
        )
    return panel


def entity_table(title: str, sql: str, *, width: int = 24, height: int = 10) -> Any:
    """A table of entities (columns kind and id hidden) whose rows open the entity's console page."""
    panel = status_column(table(title, sql, width=width, height=height))
    return (
        panel.override_by_name("kind", [hidden()])
        .override_by_name("id", [hidden()])
        .override_by_name("Lần cuối nhận dữ liệu", [model.DynamicConfigValue(id_val="unit", value="dateTimeAsLocal")])
        .data_links([entity_link()])
    )


# --- dashboards -------------------------------------------------------------------------------------


def dashboard(
    uid: str,
    title: str,
    panels: Sequence[Any],
    *,
    description: str = "",
    tags: tuple[str, ...] = (),
    time_from: str = "now-6h",
    refresh: str = "30s",
    variables: Sequence[cogbuilder.Builder[model.VariableModel]] = (),
    console_url: str = DEFAULT_CONSOLE_URL,
) -> dict[str, Any]:
    """A whole dashboard as Grafana's JSON model (via the SDK's encoder), panels numbered from 1."""
    builder = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["ioc", *tags])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .timezone("browser")
        .time(time_from, "now")
        .refresh(refresh)
        .version(1)
    )
    for variable in (*variables, console_variable(console_url)):
        builder = builder.with_variable(variable)
    for number, panel in enumerate(panels, start=1):
        builder = builder.with_panel(panel.id(number))
    encoded: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))
    return encoded
