"""The public status page: each service system's status and 24 h uptime, for citizens and wall displays.

Needs no key and shows nothing but names, statuses and uptimes (no URLs, attributes or keys).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, SettingsDep
from ioc.api.params import rfc3339
from ioc.model import KINDS, STATUSES
from ioc.store.health import services_health
from ioc.store.queries import agency_names, entity_statuses

router = APIRouter(tags=["status page"])

REFRESH_S = 60

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Tình trạng hệ thống dịch vụ",
        "heading": "Tình trạng các hệ thống dịch vụ công",
        "service": "Hệ thống",
        "agency": "Đơn vị",
        "status": "Trạng thái",
        "uptime": "Sẵn sàng 24 giờ",
        "updated": "Cập nhật lúc",
        "no_data": "chưa có dữ liệu",
        "none": "Chưa có hệ thống nào được khai báo.",
        "summary": "Tổng quan thiết bị và đường truyền",
        "kiosk": "Kiosk",
        "link": "Đường truyền",
        "service_kind": "Hệ thống dịch vụ",
        "ok": "Hoạt động bình thường",
        "degraded": "Suy giảm",
        "down": "Ngừng hoạt động",
        "unreachable": "Mất kết nối",
        "maintenance": "Đang bảo trì",
        "unknown": "Chưa có dữ liệu",
    },
    "en": {
        "title": "Service status",
        "heading": "Status of public service systems",
        "service": "System",
        "agency": "Agency",
        "status": "Status",
        "uptime": "24 h availability",
        "updated": "Updated at",
        "no_data": "no data",
        "none": "No service systems are declared yet.",
        "summary": "Devices and links at a glance",
        "kiosk": "Kiosks",
        "link": "Links",
        "service_kind": "Service systems",
        "ok": "Operational",
        "degraded": "Degraded",
        "down": "Down",
        "unreachable": "Unreachable",
        "maintenance": "Under maintenance",
        "unknown": "No data",
    },
}

COLOURS = {
    "ok": "#1a7f37",
    "degraded": "#bf8700",
    "down": "#cf222e",
    "unreachable": "#8250df",
    "maintenance": "#0969da",
    "unknown": "#6e7781",
}


def status_document(conn: psycopg.Connection, now: float, language: str) -> dict[str, Any]:
    """What the page shows, as JSON: services with status and 24 h uptime, and counts per kind."""
    texts = TEXTS[language]
    agencies = agency_names(conn)
    services = [
        {
            "id": s.id,
            "name": s.name or s.id,
            "agency": agencies.get(s.agency, s.agency) if s.agency else None,
            "status": s.status,
            "status_text": texts[s.status],
            "uptime_24h_pct": s.uptime_pct["24h"],
        }
        for s in services_health(conn, now)
    ]
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for entity in entity_statuses(conn, now):
        if entity.row.assigned:
            counts[entity.row.kind][entity.status] += 1
    summary = {kind: {s: counts[kind][s] for s in STATUSES if counts[kind][s]} for kind in KINDS}
    return {"generated_at": rfc3339(now), "services": services, "summary": summary}


def _uptime_text(value: float | None, texts: dict[str, str]) -> str:
    return texts["no_data"] if value is None else f"{value:.2f} %".replace(".", ",")


def render_html(doc: dict[str, Any], language: str, timezone: str) -> str:
    texts = TEXTS[language]
    local = datetime.fromisoformat(doc["generated_at"]).astimezone(ZoneInfo(timezone))
    rows = []
    for s in doc["services"]:
        colour = COLOURS[s["status"]]
        rows.append(
            "<tr>"
            f"<td>{escape(s['name'])}</td>"
            f"<td>{escape(s['agency'] or '')}</td>"
            f'<td><span class="dot" style="background:{colour}"></span>'
            f'<span class="status-{s["status"]}">{escape(s["status_text"])}</span></td>'
            f'<td class="num">{escape(_uptime_text(s["uptime_24h_pct"], texts))}</td>'
            "</tr>"
        )
    table = (
        f"<table><thead><tr><th>{texts['service']}</th><th>{texts['agency']}</th><th>{texts['status']}</th>"
        f"<th>{texts['uptime']}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else f"<p>{texts['none']}</p>"
    )
    tiles = []
    for kind, kind_text in (("kiosk", texts["kiosk"]), ("link", texts["link"]), ("service", texts["service_kind"])):
        parts = [
            f'<li><span class="dot" style="background:{COLOURS[s]}"></span>{escape(texts[s])}: <b>{n}</b></li>'
            for s, n in doc["summary"][kind].items()
        ]
        tiles.append(f'<section class="tile"><h3>{kind_text}</h3><ul>{"".join(parts)}</ul></section>')
    return f"""<!DOCTYPE html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>{texts["title"]}</title>
<style>
body {{ font-family: "Noto Sans", "Segoe UI", Roboto, Arial, sans-serif; background: #0d1117; color: #e6edf3;
       margin: 2rem; font-size: 1.25rem; }}
h1 {{ font-size: 2rem; margin: 0 0 .25rem; }}
.updated {{ color: #9da7b3; margin-bottom: 1.5rem; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .6rem .8rem; border-bottom: 1px solid #30363d; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.dot {{ display: inline-block; width: .9rem; height: .9rem; border-radius: 50%; margin-right: .5rem; }}
.tiles {{ display: flex; gap: 1.5rem; margin-top: 2rem; flex-wrap: wrap; }}
.tile {{ background: #161b22; border-radius: .5rem; padding: 1rem 1.5rem; min-width: 16rem; }}
.tile ul {{ list-style: none; padding: 0; margin: 0; }}
</style>
</head>
<body>
<h1>{texts["heading"]}</h1>
<div class="updated">{texts["updated"]} {local.strftime("%H:%M %d/%m/%Y")}</div>
{table}
<h2>{texts["summary"]}</h2>
<div class="tiles">{"".join(tiles)}</div>
</body>
</html>
"""


@router.get("/status.json")
def status_json(conn: ConnDep, settings: SettingsDep, now: NowDep) -> dict[str, Any]:
    """The public status of every service system, as JSON (no key needed)."""
    return status_document(conn, now, settings.language)


@router.get("/status", response_class=HTMLResponse)
def status_html(conn: ConnDep, settings: SettingsDep, now: NowDep) -> HTMLResponse:
    """The public status page, in Vietnamese by default (no key needed)."""
    doc = status_document(conn, now, settings.language)
    return HTMLResponse(render_html(doc, settings.language, settings.timezone))
