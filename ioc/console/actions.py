"""The console's forms (POST): ack, un-ack and silence an alert; silences and maintenance windows.

Each checks the session's CSRF token and the user's role, then calls the API's own function, so the
rules (agency scope, validation, audit) are the API's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from ioc.api.deps import ConnDep
from ioc.api.routes.alerts import AckIn, AlertOut, ack_alert, get_alert
from ioc.api.routes.silences import SilenceIn, WindowIn, create_silence, create_window, delete_window, expire_silence
from ioc.auth import Principal
from ioc.console.web import ConsoleError, FormDep, SessionDep, back_to, console_of, need, now_of, text_field

router = APIRouter(prefix="/ui", include_in_schema=False)

SILENCE_PRESETS = ("1h", "4h", "tomorrow")
MAX_COMMENT = 2000


def _id(raw: str, key: str = "e_not_found") -> int:
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise ConsoleError(key, 404, raw[:40] if key == "e_unknown_alert" else "")
    return int(raw)


def _api_error(exc: HTTPException) -> ConsoleError:
    return ConsoleError("e_bad_input", exc.status_code, str(exc.detail))


def _visible_alert(conn: ConnDep, principal: Principal, number: int) -> AlertOut:
    """The alert as the user may see it (its agency's, when bound to one); else the unknown-alert page."""
    try:
        return get_alert(conn, principal, number)
    except HTTPException:
        raise ConsoleError("e_unknown_alert", 404, str(number)) from None


@contextmanager
def _api_refusals() -> Iterator[None]:
    """The API's refusals as console errors: a body its model does not validate (422), or an HTTP error."""
    try:
        yield
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConsoleError("e_bad_input", 422, "; ".join(parts)) from None
    except HTTPException as exc:
        raise _api_error(exc) from None


def preset_end(preset: str, now: float, zone_name: str) -> datetime:
    """When a silence preset ends: in 1 h, in 4 h, or at 08:00 local time tomorrow."""
    from zoneinfo import ZoneInfo

    moment = datetime.fromtimestamp(now, UTC)
    if preset == "1h":
        return moment + timedelta(hours=1)
    if preset == "4h":
        return moment + timedelta(hours=4)
    zone = ZoneInfo(zone_name)
    tomorrow = moment.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(8, 0), zone)


@router.post("/alerts/{alert_id}/ack")
def ack(request: Request, session: SessionDep, conn: ConnDep, form: FormDep, alert_id: str) -> RedirectResponse:
    principal = need(session, "operator")
    number = _id(alert_id, "e_unknown_alert")
    comment = text_field(form, "comment", MAX_COMMENT)
    try:
        ack_alert(conn, principal, number, AckIn(by=session.user.name, comment=comment))
    except HTTPException as exc:
        if exc.status_code == 404:
            raise ConsoleError("e_unknown_alert", 404, str(number)) from None
        if exc.status_code == 409:
            raise ConsoleError("e_resolved", 409) from None
        raise _api_error(exc) from None
    return back_to(f"/ui/alerts/{number}", "acked_ok")


@router.post("/alerts/{alert_id}/unack")
def unack(request: Request, session: SessionDep, conn: ConnDep, form: FormDep, alert_id: str) -> RedirectResponse:
    principal = need(session, "operator")
    number = _id(alert_id, "e_unknown_alert")
    alert = _visible_alert(conn, principal, number)
    with conn.transaction():
        conn.execute(
            "UPDATE alerts SET acked_by = NULL, acked_at = NULL, ack_comment = NULL, updated_at = now() WHERE id = %s",
            (number,),
        )
        conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, 'alert.unack', %s, %s)",
            (principal.actor, f"alert/{number}", Jsonb({"was": alert.acked_by, "rule": alert.rule})),
        )
    return back_to(f"/ui/alerts/{number}", "unacked_ok")


@router.post("/alerts/{alert_id}/silence")
def silence_alert(
    request: Request, session: SessionDep, conn: ConnDep, form: FormDep, alert_id: str
) -> RedirectResponse:
    principal = need(session, "operator")
    number = _id(alert_id, "e_unknown_alert")
    alert = _visible_alert(conn, principal, number)
    preset, scope = text_field(form, "preset", 20), text_field(form, "scope", 20)
    if preset not in SILENCE_PRESETS or scope not in ("entity", "site"):
        raise ConsoleError("e_bad_input", 422, "preset, scope")
    labels = alert.labels
    if scope == "site":
        matchers = {"site": labels["site"]} if labels.get("site") else {}
    else:
        matchers = {k: labels[k] for k in ("kind", "entity") if labels.get(k)} or {"alertname": alert.rule}
    if not matchers:
        raise ConsoleError("e_no_matcher", 422)
    if principal.agency is not None:
        matchers["agency"] = principal.agency  # a bound user may mute only its agency's alerts
    now = now_of(request)
    ends = preset_end(preset, now, console_of(request).settings.timezone)
    comment = text_field(form, "comment", MAX_COMMENT) or f"#{number} {alert.summary}"[:MAX_COMMENT]
    with _api_refusals():
        body = SilenceIn(matchers=matchers, starts_at=None, ends_at=ends, created_by=session.user.name, comment=comment)
        create_silence(conn, principal, now, body)
    return back_to(f"/ui/alerts/{number}", "created_ok")


def _local(form_value: str, zone_name: str, name: str) -> datetime:
    """A datetime-local field (`2026-12-02T22:00`) in the console's time zone."""
    from zoneinfo import ZoneInfo

    try:
        parsed = datetime.fromisoformat(form_value)
    except ValueError:
        raise ConsoleError("e_bad_input", 422, f"{name}: {form_value[:40]!r}") from None
    return parsed.replace(tzinfo=ZoneInfo(zone_name)) if parsed.tzinfo is None else parsed


def _matchers(form: object, principal_agency: str | None) -> dict[str, str]:
    assert hasattr(form, "get")
    matchers = {}
    for name in ("site", "agency", "kind", "entity"):
        value = text_field(form, name, 200)  # type: ignore[arg-type]
        if value:
            matchers[name] = value
    if principal_agency is not None:
        matchers.setdefault("agency", principal_agency)
    if not matchers:
        raise ConsoleError("e_no_matcher", 422)
    return matchers


@router.post("/silences")
def new_silence(request: Request, session: SessionDep, conn: ConnDep, form: FormDep) -> RedirectResponse:
    principal = need(session, "operator")
    zone = console_of(request).settings.timezone
    matchers = _matchers(form, principal.agency)
    starts_raw, ends_raw = text_field(form, "starts_at", 40), text_field(form, "ends_at", 40, required=True)
    with _api_refusals():
        body = SilenceIn(
            matchers=matchers, starts_at=_local(starts_raw, zone, "starts_at") if starts_raw else None,
            ends_at=_local(ends_raw, zone, "ends_at"), created_by=session.user.name,
            comment=text_field(form, "comment", MAX_COMMENT),
        )  # fmt: skip
        create_silence(conn, principal, now_of(request), body)
    return back_to("/ui/silences", "created_ok")


@router.post("/silences/{silence_id}/end")
def end_silence(
    request: Request, session: SessionDep, conn: ConnDep, form: FormDep, silence_id: str
) -> RedirectResponse:
    principal = need(session, "operator")
    try:
        expire_silence(conn, principal, now_of(request), _id(silence_id))
    except HTTPException:
        raise ConsoleError("e_not_found", 404) from None
    return back_to("/ui/silences", "ended_ok")


@router.post("/windows")
def new_window(request: Request, session: SessionDep, conn: ConnDep, form: FormDep) -> RedirectResponse:
    principal = need(session, "operator")
    weekdays = []
    for raw in form.getlist("weekdays"):
        if not isinstance(raw, str) or raw not in ("1", "2", "3", "4", "5", "6", "7"):
            raise ConsoleError("e_bad_input", 422, "weekdays")
        weekdays.append(int(raw))
    with _api_refusals():
        body = WindowIn(
            matchers=_matchers(form, principal.agency), weekdays=weekdays,
            start_time=text_field(form, "start_time", 10, required=True),  # type: ignore[arg-type]
            duration=text_field(form, "duration", 20, required=True),
            timezone=text_field(form, "timezone", 64) or console_of(request).settings.timezone,
            starts_at=None, ends_at=None,  # the recurring form (a one-off is a silence with start and end)
            created_by=session.user.name, comment=text_field(form, "comment", MAX_COMMENT),
        )  # fmt: skip
        create_window(conn, principal, body)
    return back_to("/ui/silences", "created_ok")


@router.post("/windows/{window_id}/delete")
def remove_window(
    request: Request, session: SessionDep, conn: ConnDep, form: FormDep, window_id: str
) -> RedirectResponse:
    principal = need(session, "operator")
    try:
        delete_window(conn, principal, _id(window_id))
    except HTTPException:
        raise ConsoleError("e_not_found", 404) from None
    return back_to("/ui/silences", "deleted_ok")
