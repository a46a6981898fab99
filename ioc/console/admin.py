"""Admin pages: console users (create, disable) and API keys (create, revoke). An agency-bound admin
sees and makes only users and keys of its agency."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ioc.api.deps import ConnDep
from ioc.auth import ROLES, Principal, create_key, list_keys, parse_expiry, revoke_key
from ioc.console.sessions import Session
from ioc.console.web import ConsoleError, FormDep, SessionDep, back_to, need, now_of, render, text_field
from ioc.users import MAX_PASSWORD, UserError, create_user, disable_user, find_user, list_users

router = APIRouter(prefix="/ui", include_in_schema=False)
KEY_EXPIRY_DAYS = (30, 90, 365)  # the choices of the new-key form, beside no expiry


def _agencies(conn: ConnDep, agency: str | None) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT id, name FROM agencies WHERE %(a)s::text IS NULL OR id = %(a)s ORDER BY name",
                        {"a": agency})  # fmt: skip
    return [(r[0], r[1]) for r in rows]


def _role_and_agency(form: object, conn: ConnDep, bound: str | None) -> tuple[str, str | None]:
    role = text_field(form, "role", 20)  # type: ignore[arg-type]
    if role not in ROLES:
        raise ConsoleError("e_bad_input", 422, f"role: {role[:20]!r}")
    agency = text_field(form, "agency", 200) or None  # type: ignore[arg-type]
    if bound is not None:
        agency = bound
    if agency is not None and agency not in {a for a, _ in _agencies(conn, None)}:
        raise ConsoleError("e_bad_input", 422, f"agency: {agency[:40]!r}")
    return role, agency


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    principal = need(session, "admin")
    return render(
        request, "users.html",
        {"users": list_users(conn, principal.agency), "roles": ROLES, "agencies": _agencies(conn, principal.agency)},
        session=session,
    )  # fmt: skip


@router.post("/users")
def new_user(request: Request, session: SessionDep, conn: ConnDep, form: FormDep) -> RedirectResponse:
    principal = need(session, "admin")
    name = text_field(form, "name", 100, required=True)
    role, agency = _role_and_agency(form, conn, principal.agency)
    password = form.get("password")
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        raise ConsoleError("e_bad_input", 422, "password")
    try:
        create_user(conn, name, password, role, agency, actor=principal.actor)
    except UserError as exc:
        raise ConsoleError("e_bad_input", 422, str(exc)) from None
    return back_to("/ui/users", "created_ok")


@router.post("/users/{user_id}/disable")
def disable(request: Request, session: SessionDep, conn: ConnDep, form: FormDep, user_id: str) -> RedirectResponse:
    principal = need(session, "admin")
    user = find_user(conn, int(user_id)) if user_id.isdigit() and len(user_id) < 18 else None
    if user is None or (principal.agency is not None and user.agency != principal.agency):
        raise ConsoleError("e_not_found", 404)
    disable_user(conn, user.name, actor=principal.actor)
    return back_to("/ui/users", "ended_ok")


def _keys_page(
    request: Request, session: Session, conn: ConnDep, principal: Principal, new_key: str | None
) -> HTMLResponse:
    """The keys page; `new_key` is a key just made, shown this once."""
    return render(
        request, "keys.html",
        {"keys": list_keys(conn, principal.agency), "roles": ROLES, "agencies": _agencies(conn, principal.agency),
         "new_key": new_key, "now": datetime.fromtimestamp(now_of(request), UTC), "expiry_days": KEY_EXPIRY_DAYS},
        session=session,
    )  # fmt: skip


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    return _keys_page(request, session, conn, need(session, "admin"), None)


@router.post("/keys", response_class=HTMLResponse)
def new_key(request: Request, session: SessionDep, conn: ConnDep, form: FormDep) -> HTMLResponse:
    """The new key is shown once, on the answer to this post (never in a URL, never stored)."""
    principal = need(session, "admin")
    role, agency = _role_and_agency(form, conn, principal.agency)
    name = text_field(form, "name", 200)
    expires = text_field(form, "expires", 20)
    try:
        expires_at = parse_expiry(expires, datetime.fromtimestamp(now_of(request), UTC)) if expires else None
    except ValueError as exc:
        raise ConsoleError("e_bad_input", 422, str(exc)) from None
    key = create_key(conn, role, agency, name, expires_at, actor=principal.actor)
    return _keys_page(request, session, conn, principal, key)


@router.post("/keys/{key_id}/revoke")
def revoke(request: Request, session: SessionDep, conn: ConnDep, form: FormDep, key_id: str) -> RedirectResponse:
    principal = need(session, "admin")
    visible = {k.id for k in list_keys(conn, principal.agency)}
    if not key_id.isdigit() or len(key_id) > 18 or int(key_id) not in visible:
        raise ConsoleError("e_not_found", 404)
    revoke_key(conn, int(key_id), actor=principal.actor)
    return back_to("/ui/keys", "ended_ok")
