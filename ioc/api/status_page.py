"""The public status pages (contract section 9): the province and each public agency, as HTML (Vietnamese
first, `?lang=en`), as JSON, as an Atom feed; and uptime badges. No key needed.

The routes and the document cache are here; texts, formatting, templates and the HTML page are
`ioc.api.status_render`.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, SettingsDep
from ioc.api.errors import json_errors
from ioc.api.params import bad_parameter, rfc3339
from ioc.api.status_document import PublicAgency, private_agencies, public_agencies, status_document
from ioc.api.status_render import TEXTS, fmt_duration, fmt_local, render_page, templates
from ioc.model import ENTITY_ID_RE, KINDS
from ioc.store.uptime import PERIODS, uptimes

router = APIRouter(tags=["status page"])

BADGE_COLOURS = ((99.9, "#2da44e"), (99.0, "#a3c93a"), (95.0, "#d4a72c"), (0.0, "#cf222e"))


# --- routes --------------------------------------------------------------------------------------


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
