"""The operator console (contract section 10): server-rendered pages under /ui, and offline API docs."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ioc.console.web import STATIC_DIR, Console, ConsoleError, LoginRequired, login_redirect, render
from ioc.settings import Settings

VENDOR = "/ui/static/vendor"


def _rule_metrics(settings: Settings) -> dict[str, str | None]:
    """Rule name to the metric it watches, for the chart on an alert's page (none if the rules are bad)."""
    from alerts.rules import RuleError, load_rules

    try:
        return {rule.name: rule.metric for rule in load_rules(settings.rules_dir)}
    except RuleError:
        return {}


def mount_console(app: FastAPI, settings: Settings) -> None:
    from ioc.console import actions, admin, login, members, pages

    app.state.console = Console(settings, _rule_metrics(settings))
    for module in (login, pages, actions, admin, members):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return login_redirect(exc)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleError)
        return render(request, "error.html", {"error": exc.key, "extra": exc.extra}, status=exc.status)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(ConsoleError, refused)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """Swagger UI from the files shipped in this package, so it works without the Internet."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — docs",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        )
