"""What every console page shares: templates, language, the session, CSRF checks and error pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from ioc.api.deps import ConnDep
from ioc.auth import Principal
from ioc.console.sessions import SESSION_COOKIE, CookieSigner, Session, console_secret, find_session
from ioc.console.texts import LANGUAGES, TEXTS
from ioc.settings import Settings

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
LANG_COOKIE = "ioc_lang"
MAX_FORM_BYTES = 64 * 1024
FLASH_KEYS = frozenset({"acked_ok", "unacked_ok", "created_ok", "ended_ok", "deleted_ok", "logged_out"})
# Console pages run no inline script and load nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """A page asked for without a session: off to the login form, then back to `next`."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class ConsoleError(Exception):
    """A refused request, shown as a page: `key` is a text key, `extra` follows it verbatim."""

    def __init__(self, key: str, status: int = 400, extra: str = ""):
        super().__init__(key)
        self.key, self.status, self.extra = key, status, extra


class Console:
    """The console's templates and signing key; one per app."""

    def __init__(self, settings: Settings, rule_metrics: Mapping[str, str | None]):
        self.settings = settings
        self.rule_metrics = dict(rule_metrics)
        self.zone = ZoneInfo(settings.timezone)
        self.secure_cookies = settings.public_url.lower().startswith("https://")
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = self.local_time
        self.env.filters["iso"] = _iso
        self.env.filters["to_local"] = lambda text: self.local_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
        self._signer: CookieSigner | None = None

    def signer(self, conn: psycopg.Connection) -> CookieSigner:
        if self._signer is None:
            self._signer = CookieSigner(console_secret(conn))
        return self._signer

    def local_time(self, value: datetime | float | None) -> str:
        if value is None:
            return "—"
        moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
        return moment.astimezone(self.zone).strftime("%d/%m/%Y %H:%M:%S")

    def cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/ui", httponly=True, samesite="strict", secure=self.secure_cookies
        )


def _iso(value: datetime | float | None) -> str:
    if value is None:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return console_of(request).settings.language


def now_of(request: Request) -> float:
    return float(request.app.state.clock())


def safe_next(value: str | None) -> str:
    """A same-site console path to go back to after login; anything else becomes the overview."""
    if not value or any(ord(c) < 0x20 or c == "\\" for c in value):
        return "/ui/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return "/ui/"
    if parts.path != "/ui" and not parts.path.startswith("/ui/"):
        return "/ui/"
    return value


def _requested(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def current_session(request: Request, conn: ConnDep) -> Session:
    """The caller's session; a page without one redirects to the login form (a form post is refused)."""
    signer = console_of(request).signer(conn)
    token = signer.session_token(request.cookies.get(SESSION_COOKIE))
    session = find_session(conn, token, now_of(request)) if token else None
    if session is None:
        if request.method in ("GET", "HEAD"):
            raise LoginRequired(_requested(request))
        raise ConsoleError("e_session", 403)
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def need(session: Session, role: str) -> Principal:
    principal = session.user.principal
    if not principal.can(role):
        raise ConsoleError("e_role", 403)
    return principal


async def posted_form(request: Request) -> FormData:
    """The posted form, at most MAX_FORM_BYTES, no files."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise ConsoleError("e_bad_input", 413, f"form over {MAX_FORM_BYTES} bytes")
    return await request.form(max_files=0, max_fields=100, max_part_size=MAX_FORM_BYTES)


async def checked_form(request: Request, session: SessionDep) -> FormData:
    """The posted form, once its CSRF token is the session's; a forged or stale form is refused."""
    form = await posted_form(request)
    if not session.csrf_ok(form.get("csrf_token")):
        raise ConsoleError("e_csrf", 403)
    return form


# Routes that take these stay plain functions, so their store work runs off the event loop.
RawFormDep = Annotated[FormData, Depends(posted_form)]
FormDep = Annotated[FormData, Depends(checked_form)]


def text_field(form: FormData, name: str, max_len: int = 200, required: bool = False) -> str:
    """A form field as trimmed text: a string, no NUL, no longer than max_len; else a clear refusal."""
    raw = form.get(name, "")
    if not isinstance(raw, str):
        raise ConsoleError("e_bad_input", 422, f"{name}: not text")
    if "\x00" in raw:
        raise ConsoleError("e_nul", 422, f"({name})")
    value = raw.strip()
    if len(value) > max_len:
        raise ConsoleError("e_too_long" if name == "comment" else "e_bad_input", 422, f"{name}: at most {max_len}")
    if required and not value:
        raise ConsoleError("e_bad_input", 422, f"{name}: required")
    return value


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    session: Session | None = None,
    status: int = 200,
) -> HTMLResponse:
    console = console_of(request)
    lang = language(request)
    texts = TEXTS[lang]
    page = {
        "lang": lang,
        "t": texts.__getitem__,
        "session": session,
        "user": session.user if session else None,
        "csrf": session.csrf_token if session else "",
        "here": _requested(request),
        "here_q": quote(_requested(request), safe=""),
        "path": request.url.path,
        "now": now_of(request),
        "can_operate": bool(session and session.user.principal.can("operator")),
        "is_admin": bool(session and session.user.principal.can("admin")),
        "timezone_name": console.settings.timezone,
        "flash": texts.get(done, "") if (done := request.query_params.get("done", "")) in FLASH_KEYS else "",
        **context,
    }
    html = console.env.get_template(template).render(page)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def back_to(path: str, done: str = "") -> RedirectResponse:
    """After a form post: see the page again (303), with a note of what was done."""
    target = safe_next(path)
    if done:
        target += ("&" if "?" in target else "?") + "done=" + quote(done)
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse("/ui/login?next=" + quote(safe_next(exc.next_path), safe=""), status_code=303)
