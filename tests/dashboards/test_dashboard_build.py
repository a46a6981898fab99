"""The dashboards' model: what Grafana needs to load them, the wall fits 1080p in kiosk mode, every query
reads only `ioc_views`, and the committed JSON is what the code builds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dashboards import DASHBOARDS, build_all
from dashboards.registry import to_json
from dashboards.sql import DATASOURCE_TYPE, DATASOURCE_UID
from ioc.cli import app

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "deploy" / "grafana" / "dashboards"
VIETNAMESE = re.compile(r"[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.IGNORECASE)
BOARDS = build_all()

# Grafana's grid (public/app/core/constants.ts): 24 columns, rows of 30 px with 8 px between them.
GRID_COLUMNS, ROW_PX, MARGIN_PX = 24, 30, 8
# A 1920x1080 wall in kiosk mode: no top navigation, no variable bar; the dashboard body keeps its
# padding of 16 px above and below (theme.spacing(2)).
SCREEN_PX, KIOSK_PADDING_PX = 1080, 2 * 16


def rows_that_fit(height_px: int = SCREEN_PX - KIOSK_PADDING_PX) -> int:
    """Grid rows whose panels end within `height_px`: n rows take n x 30 + (n - 1) x 8 px."""
    return (height_px + MARGIN_PX) // (ROW_PX + MARGIN_PX)


def test_every_board_exists():
    assert set(DASHBOARDS) == {
        "ioc-overview", "ioc-links", "ioc-services", "ioc-kiosks", "ioc-alerts", "ioc-sla", "ioc-kpis"
    }  # fmt: skip


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_structure(uid):
    board = BOARDS[uid]
    assert board["uid"] == uid
    assert VIETNAMESE.search(board["title"]) or board["title"] == "Kiosk"
    panels = board["panels"]
    assert panels
    ids = [p["id"] for p in panels]
    assert ids == list(range(1, len(panels) + 1))
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['id']} overlaps another"
        occupied |= cells
        assert panel["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
        assert VIETNAMESE.search(panel["title"]) or panel["title"] in ("CPU (%)", "Kiosk"), panel["title"]
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
            assert target["rawQuery"] is True and target["format"] in ("table", "time_series")
            assert target["editorMode"] == "code" and target["rawSql"].strip()
            if target["format"] == "time_series":
                assert panel["type"] == "timeseries"


def test_the_wall_fits_1080p_in_kiosk_mode_without_scrolling():
    board = BOARDS["ioc-overview"]
    assert rows_that_fit() == 27  # (1048 + 8) // 38
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    assert bottom <= rows_that_fit()
    used_px = bottom * ROW_PX + (bottom - 1) * MARGIN_PX + KIOSK_PADDING_PX
    assert used_px <= SCREEN_PX, used_px
    # Rows are filled edge to edge (no half-empty row on a wall).
    for y in {p["gridPos"]["y"] for p in board["panels"]}:
        assert sum(p["gridPos"]["w"] for p in board["panels"] if p["gridPos"]["y"] == y) == GRID_COLUMNS


def test_the_wall_refreshes_every_10_s_and_has_the_site_and_agency_variables():
    board = BOARDS["ioc-overview"]
    assert board["refresh"] == "10s"
    assert {p["type"] for p in board["panels"]} >= {"stat", "table", "geomap", "timeseries"}
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name in ("site", "agency"):
        var = variables[name]
        assert var["type"] == "query" and var["multi"] is True and var["includeAll"] is True
        assert var["allValue"] == "'__all'" and var["current"]["value"] == ["$__all"]
        assert var["datasource"]["uid"] == DATASOURCE_UID and "ioc_views." in var["query"]
    [geomap] = [p for p in board["panels"] if p["type"] == "geomap"]
    [layer] = geomap["options"]["layers"]
    assert layer["location"] == {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_every_query_reads_only_ioc_views(uid):
    board = BOARDS[uid]
    queries = [t["rawSql"] for p in board["panels"] for t in p["targets"]]
    queries += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    for sql in queries:
        ctes = set(re.findall(r"(?:WITH|,)\s*(\w+)\s+AS\s*\(", sql))
        no_extract = re.sub(r"extract\(\w+ FROM", "extract(", sql, flags=re.IGNORECASE)
        for name in re.findall(r"\b(?:FROM|JOIN)\s+(?!LATERAL\b)([A-Za-z_][\w.]*)", no_extract):
            assert name.startswith("ioc_views.") or name in ctes, f"{uid}: {name} in {sql}"


def test_data_links_open_console_pages():
    from ioc.console import pages

    routes = {route.path for route in pages.router.routes}  # type: ignore[attr-defined]
    seen = set()
    for board in BOARDS.values():
        for panel in board["panels"]:
            for field_link in panel["fieldConfig"]["defaults"].get("links", []) + panel.get("links", []):
                url = field_link["url"]
                assert url.startswith("${console}/ui/"), url
                path = re.sub(r"\$\{__data\.fields\.(\w+)\}", r"{\1}", url.removeprefix("${console}"))
                shape = re.sub(r"\{\w+\}", "{}", path)
                assert shape in {re.sub(r"\{\w+\}", "{}", r) for r in routes}, url
                seen.add(shape)
    assert seen >= {"/ui/entities/{}/{}", "/ui/alerts/{}", "/ui/dead-letters"}


def test_json_has_sorted_keys_and_keeps_vietnamese():
    board = BOARDS["ioc-overview"]
    text = to_json(board)
    assert "Tổng quan tỉnh" in text  # not \\u escapes
    assert json.loads(text) == board

    def keys_sorted(node):
        if isinstance(node, dict):
            assert list(node) == sorted(node)
            for value in node.values():
                keys_sorted(value)
        elif isinstance(node, list):
            for value in node:
                keys_sorted(value)

    keys_sorted(json.loads(text))


def test_committed_dashboards_are_what_the_code_builds():
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(f"{uid}.json" for uid in DASHBOARDS)
    for uid, board in BOARDS.items():
        path = COMMITTED / f"{uid}.json"
        assert path.read_text(encoding="utf-8") == to_json(board), f"run `ioc dashboards build` ({path})"


def test_build_command_writes_every_dashboard(tmp_path):
    result = CliRunner().invoke(app, ["dashboards", "build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == sorted(f"{uid}.json" for uid in DASHBOARDS)
    assert f"wrote {tmp_path / 'out' / 'ioc-links.json'}" in result.output
    for uid in DASHBOARDS:
        assert (tmp_path / "out" / f"{uid}.json").read_text(encoding="utf-8") == to_json(BOARDS[uid])


def test_provisioning_points_at_the_dashboards_and_the_data_source():
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "ioc.yaml").read_text(encoding="utf-8"))
    [source] = sources["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, DATASOURCE_TYPE)
    providers = yaml.safe_load((provisioning / "dashboards" / "ioc.yaml").read_text(encoding="utf-8"))
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
