"""The dashboards' structure: what Grafana needs to load them, and the committed JSON is current."""

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


def test_at_least_the_wall_displays_exist():
    assert set(DASHBOARDS) >= {"ioc-overview", "ioc-links", "ioc-services", "ioc-kiosks", "ioc-alerts"}


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_structure(uid):
    board = build_all()[uid]
    assert board["uid"] == uid
    assert VIETNAMESE.search(board["title"]) or board["title"] == "Kiosk"
    panels = board["panels"]
    assert panels
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['id']} overlaps another"
        occupied |= cells
        assert panel["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
        assert VIETNAMESE.search(panel["title"]) or panel["title"] in ("CPU (%)",), panel["title"]
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["rawQuery"] is True and target["format"] in ("table", "time_series")
            assert target["rawSql"].strip()


def test_json_has_sorted_keys_and_keeps_vietnamese():
    board = build_all()["ioc-overview"]
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
    for uid, board in build_all().items():
        path = COMMITTED / f"{uid}.json"
        assert path.read_text(encoding="utf-8") == to_json(board), f"run `ioc dashboards build` ({path})"


def test_build_command_writes_every_dashboard(tmp_path):
    result = CliRunner().invoke(app, ["dashboards", "build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == sorted(f"{uid}.json" for uid in DASHBOARDS)
    assert f"wrote {tmp_path / 'out' / 'ioc-links.json'}" in result.output


def test_provisioning_points_at_the_dashboards_and_the_data_source():
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "ioc.yaml").read_text(encoding="utf-8"))
    [source] = sources["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, DATASOURCE_TYPE)
    providers = yaml.safe_load((provisioning / "dashboards" / "ioc.yaml").read_text(encoding="utf-8"))
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
