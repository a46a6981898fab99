"""Log in (a form with `username` and `password`), log out, and the language switch."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ioc.api.deps import ConnDep, client_address
from ioc.auth_limits import Limits
from ioc.console.sessions import (
    DEVICE_COOKIE,
    DEVICE_DAYS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_HOURS,
    end_session,
    find_session,
    start_session,
)
from ioc.console.texts import LANGUAGES
from ioc.console.web import (
    LANG_COOKIE,
    SECURITY_HEADERS,
    FormDep,
    RawFormDep,
    SessionDep,
    console_of,
    now_of,
    render,
    safe_next,
)
from ioc.users import MAX_PASSWORD, verify_login

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ui", include_in_schema=False)


def _login_form(
    request: Request, conn: ConnDep, next_path: str, error: str = "", status: int = 200, retry_after_s: int = 0
) -> HTMLResponse:
    console = console_of(request)
    token = secrets.token_urlsafe(32)
    context = {"next": next_path, "error": error, "login_csrf": token, "retry_after_min": -(-retry_after_s // 60)}
    response = render(request, "login.html", context, status=status)
    if retry_after_s:
        response.headers["Retry-After"] = str(retry_after_s)
    console.cookie(response, LOGIN_COOKIE, console.signer(conn).login_cookie(token), max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, conn: ConnDep) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    signer = console_of(request).signer(conn)
    token = signer.session_token(request.cookies.get(SESSION_COOKIE))
    if token and find_session(conn, token, now_of(request)) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_form(request, conn, next_path)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, conn: ConnDep, form: RawFormDep) -> Response:
    console = console_of(request)
    next_raw = form.get("next")
    next_path = safe_next(next_raw if isinstance(next_raw, str) else None)
    expected = console.signer(conn).login_token(request.cookies.get(LOGIN_COOKIE))
    given = form.get("csrf_token")
    if expected is None or not isinstance(given, str) or not secrets.compare_digest(given, expected):
        return _login_form(request, conn, next_path, "login_form_expired", status=403)
    name, password = form.get("username"), form.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or "\x00" in name or len(name) > 100:
        return _login_form(request, conn, next_path, "login_failed", status=401)
    if len(password) > MAX_PASSWORD:
        return _login_form(request, conn, next_path, "login_failed", status=401)
    source = client_address(request)
    name = name.strip()
    signer = console.signer(conn)
    trusted = signer.device_user(request.cookies.get(DEVICE_COOKIE)) == name
    limits = Limits.of(console.settings)
    result = verify_login(conn, name, password, now_of(request), source, limits, trusted)
    if result.blocked is not None:
        return _login_form(request, conn, next_path, "login_limited", 429, result.blocked.retry_after_s)
    if result.user is None:
        return _login_form(request, conn, next_path, "login_failed", status=401)
    token = start_session(conn, result.user, now_of(request))
    log.info("console login of %r from %s", result.user.name, source)
    response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    console.cookie(response, SESSION_COOKIE, signer.session_cookie(token), max_age=SESSION_HOURS * 3600)
    console.cookie(response, DEVICE_COOKIE, signer.device_cookie(result.user.name), max_age=DEVICE_DAYS * 86400)
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, conn: ConnDep, form: FormDep) -> RedirectResponse:
    end_session(conn, session)
    response = RedirectResponse("/ui/login?done=logged_out", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str) -> RedirectResponse:
    """Remember the language in a cookie and go back; only a language and a console path are taken."""
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if lang in LANGUAGES:
        console_of(request).cookie(response, LANG_COOKIE, lang, max_age=365 * 86400)
    return response
