"""The public status pages (contract section 9): the province and each public agency, as HTML (Vietnamese
first, `?lang=en`), as JSON, as an Atom feed; and uptime badges. No key needed.

HTML comes from the Jinja2 templates in `templates/`, autoescaped.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, SettingsDep
from ioc.api.errors import json_errors
from ioc.api.params import bad_parameter, rfc3339
from ioc.api.status_document import (
    PublicAgency,
    private_agencies,
    public_agencies,
    response_sparklines,
    status_document,
)
from ioc.model import ENTITY_ID_RE, KINDS, STATUSES
from ioc.store.queries import entity_statuses
from ioc.store.uptime import PERIODS, uptimes

router = APIRouter(tags=["status page"])

REFRESH_S = 60
LANGUAGES = (("vi", "Tiếng Việt"), ("en", "English"))

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Tình trạng hệ thống dịch vụ",
        "heading": "Tình trạng các hệ thống dịch vụ công",
        "updated": "Cập nhật lúc",
        "back": "← Toàn tỉnh",
        "feed": "Sự cố và bảo trì (Atom)",
        "none": "Chưa có hệ thống nào được khai báo.",
        "all_ok": "Tất cả hệ thống hoạt động bình thường",
        "one_bad": "1 hệ thống đang gặp sự cố",
        "some_bad": "{n} hệ thống đang gặp sự cố",
        "services_heading": "Hệ thống dịch vụ",
        "maintenance_heading": "Bảo trì đang diễn ra và sắp tới",
        "incidents_heading": "Sự cố trong 90 ngày qua",
        "agencies_heading": "Trang của từng đơn vị",
        "no_incidents": "Không có sự cố nào trong 90 ngày qua.",
        "summary": "Thiết bị và đường truyền",
        "kiosk": "Kiosk",
        "link": "Đường truyền",
        "now": "đang diễn ra",
        "duration": "kéo dài",
        "ongoing": "chưa khắc phục",
        "days_short": "ngày",
        "days_ago": "90 ngày trước",
        "today": "Hôm nay",
        "bars_label": "Mức sẵn sàng theo ngày, 90 ngày qua",
        "response": "Thời gian phản hồi 24 giờ",
        "maintenance_day": "bảo trì",
        "no_data": "chưa có dữ liệu",
        "down_min": "ngừng",
        "maint_min": "bảo trì",
        "minutes": "phút",
        "hours": "giờ",
        "uptime": "sẵn sàng",
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
        "updated": "Updated at",
        "back": "← Whole province",
        "feed": "Incidents and maintenance (Atom)",
        "none": "No service systems are declared yet.",
        "all_ok": "All systems operational",
        "one_bad": "1 system has a problem",
        "some_bad": "{n} systems have a problem",
        "services_heading": "Service systems",
        "maintenance_heading": "Maintenance now and coming",
        "incidents_heading": "Incidents in the last 90 days",
        "agencies_heading": "Each agency's page",
        "no_incidents": "No incidents in the last 90 days.",
        "summary": "Devices and links",
        "kiosk": "Kiosks",
        "link": "Links",
        "now": "in progress",
        "duration": "lasted",
        "ongoing": "not yet resolved",
        "days_short": "days",
        "days_ago": "90 days ago",
        "today": "Today",
        "bars_label": "Availability per day, last 90 days",
        "response": "Response time, 24 h",
        "maintenance_day": "maintenance",
        "no_data": "no data",
        "down_min": "down",
        "maint_min": "maintenance",
        "minutes": "min",
        "hours": "h",
        "uptime": "uptime",
        "ok": "Operational",
        "degraded": "Degraded",
        "down": "Down",
        "unreachable": "Unreachable",
        "maintenance": "Under maintenance",
        "unknown": "No data",
    },
}

TROUBLED = frozenset({"down", "degraded", "unreachable"})
BADGE_COLOURS = ((99.9, "#2da44e"), (99.0, "#a3c93a"), (95.0, "#d4a72c"), (0.0, "#cf222e"))


@cache
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("ioc.api", "templates"),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        trim_blocks=False,
        lstrip_blocks=False,
    )


# --- formatting ----------------------------------------------------------------------------------


def fmt_pct(value: float | None, lang: str, digits: int = 2) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") + " %" if lang == "vi" else text + "%"


def fmt_duration(seconds: float, lang: str) -> str:
    t = TEXTS[lang]
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} {t['hours']} {minutes} {t['minutes']}" if minutes else f"{hours} {t['hours']}"
    return f"{minutes} {t['minutes']}"


def fmt_local(ts: str | None, zone: ZoneInfo) -> str:
    if ts is None:
        return ""
    return datetime.fromisoformat(ts).astimezone(zone).strftime("%H:%M %d/%m/%Y")


def day_class(day: dict[str, Any]) -> str:
    value = day["uptime_pct"]
    if value is None:
        return "u-maint" if day["maintenance_s"] else "u-none"
    for limit, cls in ((99.9, "u-good"), (99.0, "u-fair"), (95.0, "u-poor")):
        if value >= limit:
            return cls
    return "u-bad"


def sparkline(values: list[float | None]) -> dict[str, str] | None:
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return None
    lo, hi = min(v for _, v in known), max(v for _, v in known)
    span = (hi - lo) or 1.0
    step = 240 / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{26 - (v - lo) / span * 24:.1f}" for i, v in known)
    return {"points": points, "last": f"{known[-1][1]:.0f} ms"}


# --- pages ---------------------------------------------------------------------------------------


def _lang(value: str | None, default: str) -> str:
    lang = value or default
    if lang not in TEXTS:
        raise bad_parameter("lang", f"unknown language {value!r} (expected vi or en)")
    return lang


LangQuery = Annotated[str | None, Query(description="vi (default) or en", json_schema_extra={"pattern": "^(vi|en)?$"})]


def _agency(conn: psycopg.Connection, agency_id: str) -> PublicAgency:
    agency = public_agencies(conn).get(agency_id)
    if agency is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown agency {agency_id}")
    return agency


def render_page(
    conn: psycopg.Connection,
    doc: dict[str, Any],
    *,
    lang: str,
    timezone: str,
    now: float,
    agency: PublicAgency | None,
    base: str,
) -> str:
    t = TEXTS[lang]
    zone = ZoneInfo(timezone)
    agencies = public_agencies(conn)
    names = {s["id"]: s["name"] for s in doc["services"]}
    sparks = response_sparklines(conn, list(names), now)
    service_agency = {e.row.id: e.row.agency for e in entity_statuses(conn, now) if e.row.kind == "service"}
    services = []
    for s in doc["services"]:
        days = []
        for d in s["days"]:
            tip = f"{d['date']}: {t['uptime']} {fmt_pct(d['uptime_pct'], lang)}"
            tip += f", {t['down_min']} {round(d['down_s'] / 60)} {t['minutes']}"
            tip += f", {t['maint_min']} {round(d['maintenance_s'] / 60)} {t['minutes']}"
            days.append({"cls": day_class(d), "tip": tip})
        owner = agencies.get(service_agency.get(s["id"]) or "")
        services.append(
            {
                "id": s["id"],
                "name": s["name"],
                "status": s["status"],
                "agency_name": owner.name if owner and agency is None else None,
                "fig": {p: fmt_pct(s["uptime_pct"][p], lang) for p in ("24h", "30d", "90d")},
                "days": days,
                "spark": sparkline(sparks[s["id"]]) if s["id"] in sparks else None,
            }
        )
    services.sort(key=lambda s: s["status"] not in TROUBLED)  # problems first, then as listed
    maintenance = [
        {
            "when": f"{fmt_local(m['starts_at'], zone)} – {fmt_local(m['ends_at'], zone)}",
            "names": ", ".join(names.get(i, i) for i in m["services"]),
            "comment": m["comment"],
            "active": datetime.fromisoformat(m["starts_at"]).timestamp() <= now,
        }
        for m in doc["maintenance"]
    ]
    incidents = [
        {
            "title": i["title"],
            "when": fmt_local(i["started_at"], zone),
            "duration": fmt_duration(i["duration_s"], lang),
            "open": i["ended_at"] is None,
        }
        for i in doc["incidents"]
    ]
    summary = []
    if agency is None:
        hidden = private_agencies(conn)
        counts: dict[str, Counter[str]] = {k: Counter() for k in KINDS if k != "service"}
        for e in entity_statuses(conn, now):
            if e.row.assigned and e.row.kind in counts and e.row.agency not in hidden:
                counts[e.row.kind][e.status] += 1
        summary = [(t[k], [(st, c[st]) for st in STATUSES if c[st]]) for k, c in counts.items() if c]
    troubled = sum(1 for s in doc["services"] if s["status"] in TROUBLED)
    heading = agency.name if agency else t["heading"]
    return (
        templates()
        .get_template("status.html")
        .render(
            lang=lang,
            t=t,
            title=f"{heading} – {t['title']}" if agency else t["title"],
            heading=heading,
            refresh_s=REFRESH_S,
            updated_local=fmt_local(doc["updated_at"], zone),
            languages=LANGUAGES,
            services=services,
            troubled=troubled,
            legend=[fmt_pct(v, lang, 1).replace(",0 ", " ").replace(".0%", "%") for v in (99.9, 99.0, 95.0)],
            maintenance=maintenance,
            incidents=incidents,
            summary=summary,
            agencies=[]
            if agency
            else [{"name": a.name, "url": f"{base}/status/{a.id}?lang={lang}"} for a in agencies.values()],
            parent_url=f"{base}/status?lang={lang}" if agency else None,
            feed_url=f"{base}/status/{agency.id}/feed.atom" if agency else None,
        )
    )


CACHE_S = 30.0  # public pages refresh every minute; a document is computed at most once per 30 s
_cache_lock = threading.Lock()


def cached_document(
    request: Request, conn: psycopg.Connection, now: float, timezone: str, agency: PublicAgency | None
) -> dict[str, Any]:
    """The status document, computed at most once per `CACHE_S` per app (many citizens, one computation)."""
    state = request.app.state
    with _cache_lock:
        if not hasattr(state, "status_cache"):
            state.status_cache = {}
        cache: dict[str | None, tuple[float, dict[str, Any]]] = state.status_cache
        hit = cache.get(agency.id if agency else None)
    if hit is not None and hit[0] <= now < hit[0] + CACHE_S:
        return hit[1]
    doc = status_document(conn, now, timezone, agency)
    with _cache_lock:
        cache[agency.id if agency else None] = (now, doc)
    return doc


def _content(code: int, media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry for a body that is not JSON."""
    return {code: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}}


def _json_document() -> dict[int | str, dict[str, Any]]:
    """The status document, written by orjson (a `dict` return would go through FastAPI's slower encoder)."""
    return {
        200: {"description": "the status document", "content": {"application/json": {"schema": {"type": "object"}}}}
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def json_response(doc: dict[str, Any]) -> Response:
    """The document as JSON by orjson: FastAPI's own encoding walked the province's 90 x 500 days in ~1 s."""
    return Response(orjson.dumps(doc), media_type="application/json")


@router.get("/status.json", response_class=Response, responses=_json_document())
def status_json(request: Request, conn: ConnDep, settings: SettingsDep, now: NowDep) -> Response:
    """The province's public services: status, uptime, 90 days, incidents, maintenance (no key needed)."""
    return json_response(cached_document(request, conn, now, settings.timezone, None))


@router.get("/status", response_class=HTMLResponse, responses=json_errors(422))
def status_html(
    request: Request, conn: ConnDep, settings: SettingsDep, now: NowDep, lang: LangQuery = None
) -> HTMLResponse:
    """The province's public status page, Vietnamese first (`?lang=en`); no key needed."""
    language = _lang(lang, settings.language)
    doc = cached_document(request, conn, now, settings.timezone, None)
    html = render_page(conn, doc, lang=language, timezone=settings.timezone, now=now, agency=None, base=_base(request))
    return HTMLResponse(html)


@router.get(
    "/status/badge/{kind}/{entity_id}.svg",
    response_class=Response,
    responses={**_content(200, "image/svg+xml", "the badge"), **json_errors(404)},
)
def badge(
    conn: ConnDep,
    now: NowDep,
    kind: str,
    entity_id: str,
    period: Annotated[str, Query(description="24h, 7d, 30d or 90d", json_schema_extra={"enum": list(PERIODS)})] = "30d",
) -> Response:
    """An uptime badge of one public entity (no key needed)."""
    if period not in PERIODS:
        raise bad_parameter("period", f"unknown period {period!r} (expected {', '.join(PERIODS)})")
    if kind not in KINDS or not ENTITY_ID_RE.match(entity_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown entity {kind}/{entity_id}")
    row = conn.execute(
        "SELECT agency FROM entities WHERE kind = %s AND id = %s AND assigned", (kind, entity_id)
    ).fetchone()
    if row is None or row[0] in private_agencies(conn):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown entity {kind}/{entity_id}")
    ref = f"{kind}/{entity_id}"
    value = uptimes(conn, [ref], now, periods=(period,))[ref].uptime_pct[period]
    colour = "#9f9f9f" if value is None else next(c for limit, c in BADGE_COLOURS if value >= limit)
    label = f"uptime {period}"
    text = "no data" if value is None else f"{value:.2f}%"
    label_w, value_w = 10 + 7 * len(label), 10 + 7 * len(text)
    svg = (
        templates()
        .get_template("badge.svg")
        .render(label=label, value=text, colour=colour, label_w=label_w, value_w=value_w, width=label_w + value_w)
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=60"})


@router.get("/status/{agency_id}.json", response_class=Response, responses={**_json_document(), **json_errors(404)})
def agency_status_json(request: Request, conn: ConnDep, settings: SettingsDep, now: NowDep, agency_id: str) -> Response:
    """One public agency's status, as JSON (no key needed)."""
    return json_response(cached_document(request, conn, now, settings.timezone, _agency(conn, agency_id)))


@router.get(
    "/status/{agency_id}/feed.atom",
    response_class=Response,
    responses={**_content(200, "application/atom+xml", "the feed"), **json_errors(404)},
)
def agency_feed(
    request: Request, conn: ConnDep, settings: SettingsDep, now: NowDep, agency_id: str, lang: LangQuery = None
) -> Response:
    """Incidents and maintenance of one public agency as an Atom feed (no key needed)."""
    language = _lang(lang, settings.language)
    t = TEXTS[language]
    agency = _agency(conn, agency_id)
    doc = cached_document(request, conn, now, settings.timezone, agency)
    zone = ZoneInfo(settings.timezone)
    base = _base(request)
    names = {s["id"]: s["name"] for s in doc["services"]}
    entries = []
    for i in doc["incidents"]:
        summary = f"{fmt_local(i['started_at'], zone)}, {t['duration']} {fmt_duration(i['duration_s'], language)}"
        if i["ended_at"] is None:
            summary += f" ({t['ongoing']})"
        entries.append(
            {
                "title": i["title"],
                "id": f"{base}/status/{agency.id}#incident-{i['id']}",
                "updated": i["ended_at"] or i["started_at"],
                "published": i["started_at"],
                "summary": summary,
            }
        )
    for m in doc["maintenance"]:
        services = ", ".join(names.get(s, s) for s in m["services"])
        entries.append(
            {
                "title": f"{t['maintenance_heading']}: {services}",
                "id": f"{base}/status/{agency.id}#maintenance-{m['starts_at']}-{'-'.join(m['services'])}",
                "updated": m["starts_at"],
                "published": m["starts_at"],
                "summary": f"{fmt_local(m['starts_at'], zone)} – {fmt_local(m['ends_at'], zone)}. {m['comment']}",
            }
        )
    entries.sort(key=lambda e: e["updated"], reverse=True)
    xml = (
        templates()
        .get_template("feed.atom.xml")
        .render(
            lang=language,
            title=f"{agency.name} – {t['title']}",
            self_url=f"{base}/status/{agency.id}/feed.atom",
            page_url=f"{base}/status/{agency.id}",
            updated=rfc3339(now),
            author=agency.name,
            entries=entries,
        )
    )
    return Response(xml, media_type="application/atom+xml; charset=utf-8")


@router.get("/status/{agency_id}", response_class=HTMLResponse, responses=json_errors(404, 422))
def agency_status_html(
    request: Request, conn: ConnDep, settings: SettingsDep, now: NowDep, agency_id: str, lang: LangQuery = None
) -> HTMLResponse:
    """One public agency's status page, Vietnamese first (`?lang=en`); no key needed."""
    language = _lang(lang, settings.language)
    agency = _agency(conn, agency_id)
    doc = cached_document(request, conn, now, settings.timezone, agency)
    html = render_page(
        conn, doc, lang=language, timezone=settings.timezone, now=now, agency=agency, base=_base(request)
    )
    return HTMLResponse(html)
