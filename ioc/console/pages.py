"""The console's pages (GET): overview, alerts, one alert, one entity, silences, audit, dead letters, events."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ioc.api.deps import ConnDep
from ioc.api.routes.alerts import list_alerts
from ioc.api.routes.silences import list_silences, list_windows
from ioc.console import views
from ioc.console.web import ConsoleError, SessionDep, console_of, now_of, render
from ioc.model import ENTITY_ID_RE
from ioc.store.records import Page, audit_records, dead_letters, escape_payload, events

router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_SIZE = 50
ALERT_STATES = {"open": "pending,firing", "firing": "firing", "pending": "pending", "resolved": "resolved"}


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise ConsoleError("e_bad_input", 422, f"{name}: {raw[:40]!r}")
    return int(raw)


def _page(request: Request) -> Page:
    """The page a records page asks for: PAGE_SIZE records below `before_id` (none: the newest)."""
    return Page(PAGE_SIZE, _int_param(request, "before_id"))


def _choice(request: Request, name: str, allowed: Collection[str]) -> str | None:
    raw = request.query_params.get(name) or None
    return raw if raw is None or raw in allowed else None


def _options(conn: ConnDep, table: str, agency: str | None) -> list[tuple[str, str]]:
    if table == "agencies":
        rows = conn.execute(
            "SELECT id, name FROM agencies WHERE %(a)s::text IS NULL OR id = %(a)s ORDER BY name", {"a": agency}
        )
    else:
        rows = conn.execute(
            "SELECT DISTINCT s.id, s.name FROM sites s JOIN entities e ON e.site = s.id "
            "WHERE %(a)s::text IS NULL OR e.agency = %(a)s ORDER BY s.name",
            {"a": agency},
        )
    return [(r[0], r[1]) for r in rows]


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    principal, now = session.user.principal, now_of(request)
    return render(
        request, "overview.html",
        {"sites": views.sites_overview(conn, principal, now), "paging": views.paging_now(conn, principal, now),
         "kinds": views.KINDS, "status_order": views.STATUS_ORDER, **views.names(conn)},
        session=session,
    )  # fmt: skip


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    principal = session.user.principal
    sites = _options(conn, "sites", principal.agency)
    agencies = _options(conn, "agencies", principal.agency)
    state = _choice(request, "state", ALERT_STATES) or "open"
    chosen = {
        "state": state,
        "site": _choice(request, "site", [s for s, _ in sites]),
        "agency": _choice(request, "agency", [a for a, _ in agencies]),
        "severity": _choice(request, "severity", ("critical", "warning", "info")),
    }
    rows = views.alert_rows(
        conn, principal, now_of(request), ALERT_STATES[state], site=chosen["site"],
        agency=chosen["agency"], severity=chosen["severity"],
    )  # fmt: skip
    return render(
        request, "alerts.html",
        {"rows": rows, "chosen": chosen, "sites": sites, "agencies": agencies, "states": list(ALERT_STATES),
         **views.names(conn)},
        session=session,
    )  # fmt: skip


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, session: SessionDep, conn: ConnDep, alert_id: str) -> HTMLResponse:
    shown = alert_id[:40]
    if not alert_id.isdigit() or len(alert_id) > 18 or int(alert_id) < 1:
        raise ConsoleError("e_unknown_alert", 404, shown)
    principal, now = session.user.principal, now_of(request)
    detail = views.alert_detail(conn, principal, int(alert_id), now)
    if detail is None:
        raise ConsoleError("e_unknown_alert", 404, shown)
    alert = detail["alert"]
    rule = console_of(request).rule_metrics
    metric = rule.get(alert.rule)
    if metric is None and alert.kind and "up" in views.entity_metrics(conn, alert.kind, alert.entity or ""):
        metric = "up"  # a down rule has no metric of its own; `up` shows the outage where there is one
    return render(
        request, "alert.html",
        {**detail, "chart": views.alert_chart(conn, alert, metric, now),
         "muted": views.muted(conn, alert, now), **views.names(conn)},
        session=session,
    )  # fmt: skip


@router.get("/entities/{kind}/{entity_id}", response_class=HTMLResponse)
def entity_page(request: Request, session: SessionDep, conn: ConnDep, kind: str, entity_id: str) -> HTMLResponse:
    if kind not in views.KINDS or not ENTITY_ID_RE.match(entity_id):
        raise ConsoleError("e_not_found", 404)
    principal, now = session.user.principal, now_of(request)
    found = [e for e in views.visible_entities(conn, principal, now) if e.row.kind == kind and e.row.id == entity_id]
    if not found:
        raise ConsoleError("e_not_found", 404)
    chosen_range = _choice(request, "range", views.RANGES) or "1h"
    span, step = views.RANGES[chosen_range]
    charts = [
        views.chart(conn, kind, entity_id, metric, now - span, now, step)
        for metric in views.entity_metrics(conn, kind, entity_id)
    ]
    settings = console_of(request).settings
    agency = principal.agency
    return render(
        request, "entity.html",
        {"entity": found[0], "chosen_range": chosen_range, "ranges": list(views.RANGES), "charts": charts,
         "events": events(conn, Page(20), agency=agency, kind=kind, entity=entity_id),
         "alerts": list_alerts(conn, principal, state="pending,firing,resolved", kind=kind, entity=entity_id,
                               limit=20),
         "letters": dead_letters(conn, Page(20), settings.mqtt_topic_prefix, agency=agency, kind=kind,
                                 entity=entity_id),
         "escape_payload": escape_payload, **views.names(conn)},
        session=session,
    )  # fmt: skip


@router.get("/silences", response_class=HTMLResponse)
def silences_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    principal, now = session.user.principal, now_of(request)
    return render(
        request, "silences.html",
        {"silences": list_silences(conn, principal, now, state="active,pending"),
         "windows": list_windows(conn, principal), "sites": _options(conn, "sites", principal.agency),
         "agencies": _options(conn, "agencies", principal.agency), "kinds": views.KINDS,
         "timezone": console_of(request).settings.timezone},
        session=session,
    )  # fmt: skip


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    page = _page(request)
    records = audit_records(conn, page, agency=session.user.agency)
    return render(request, "audit.html", {"records": records, "page": page}, session=session)


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    page = _page(request)
    reason = request.query_params.get("reason") or None
    if reason is not None and (len(reason) > 40 or not reason.replace("_", "").isalpha()):
        raise ConsoleError("e_bad_input", 422, f"reason: {reason[:40]!r}")
    letters = dead_letters(
        conn, page, console_of(request).settings.mqtt_topic_prefix, agency=session.user.agency,
        reason=reason,
    )  # fmt: skip
    return render(
        request, "dead_letters.html",
        {"letters": letters, "page": page, "reason": reason, "escape_payload": escape_payload},
        session=session,
    )  # fmt: skip


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    page = _page(request)
    found = events(conn, page, agency=session.user.agency)
    return render(request, "events.html", {"events": found, "page": page}, session=session)
