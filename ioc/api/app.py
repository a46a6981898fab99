"""The FastAPI app factory: health, readiness, metrics, and the /api/v1 routers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from psycopg_pool import ConnectionPool

from ioc.api.routes import include_routes
from ioc.api.status_page import router as status_page_router
from ioc.console import mount_console
from ioc.health_server import readiness_report
from ioc.ingest_members import MembersCollector
from ioc.metrics import MULTIPROC_ENV, aggregate_registry
from ioc.settings import Settings


def create_app(
    settings: Settings,
    *,
    pool: ConnectionPool,
    registry: CollectorRegistry,
    readiness: dict[str, Callable[[], bool]],
    warnings: Sequence[Callable[[], list[str]]] = (),
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    # /docs is served by the console from vendored assets (FastAPI's own loads them from a CDN).
    app = FastAPI(title="IOC monitoring API", version="1", openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.pool = pool
    app.state.registry = registry
    app.state.clock = clock
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(psycopg.DataError, nul_in_text)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready when every check passes; `problems` names what is wrong though the service still runs."""
        code, body = readiness_report(readiness, warnings)
        return JSONResponse(body, status_code=code)

    # Under the supervisor the API's /metrics adds up every process's own (each also serves its own).
    exposed = aggregate_registry() if os.environ.get(MULTIPROC_ENV) else registry
    exposed.register(MembersCollector(pool, settings.ingest_member_gone_s))  # from the store, per scrape

    @app.get("/metrics", tags=["health"])
    def metrics() -> Response:
        return Response(generate_latest(exposed), media_type=CONTENT_TYPE_LATEST)

    include_routes(app)
    app.include_router(status_page_router)
    mount_console(app, settings)
    return app


def describe_validation_error(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one sentence naming each bad parameter."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where, name = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
        if where == "body":
            subject = f"body field {name!r}" if name else "body"
        elif where in ("query", "path", "header", "cookie"):
            subject = f"{where} parameter {name!r}"
        else:
            subject = ".".join(loc) or "request"
        parts.append(f"{subject}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": describe_validation_error(exc)}, status_code=422)


async def nul_in_text(request: Request, exc: Exception) -> JSONResponse:
    """Text with a NUL character is valid JSON but cannot be stored: a 422 that says so, not a 500."""
    text = str(exc)
    if "NUL (0x00)" not in text and not isinstance(exc, psycopg.errors.UntranslatableCharacter):
        raise exc
    return JSONResponse({"detail": "text holds a NUL character (\\u0000), which cannot be stored"}, status_code=422)
