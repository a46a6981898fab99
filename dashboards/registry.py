"""The one table of dashboards, and writing them as JSON with sorted keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards import alerts, kiosks, kpis, links, overview, services, sla
from dashboards.common import DEFAULT_CONSOLE_URL

# uid -> builder. A new dashboard is a module with UID and build(console_url), listed here.
DASHBOARDS: dict[str, Callable[[str], dict[str, Any]]] = {
    overview.UID: overview.build,
    kiosks.UID: kiosks.build,
    links.UID: links.build,
    services.UID: services.build,
    alerts.UID: alerts.build,
    sla.UID: sla.build,
    kpis.UID: kpis.build,
}


def build_all(console_url: str = DEFAULT_CONSOLE_URL) -> dict[str, dict[str, Any]]:
    return {uid: build(console_url) for uid, build in DASHBOARDS.items()}


def to_json(board: dict[str, Any]) -> str:
    """Stable text: sorted keys, UTF-8 Vietnamese kept as is, a newline at the end."""
    return json.dumps(board, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_all(out: Path) -> list[Path]:
    """Write every dashboard to `out/<uid>.json`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, board in build_all().items():
        path = out / f"{uid}.json"
        path.write_text(to_json(board), encoding="utf-8")
        written.append(path)
    return written
