"""The FastAPI app factory: health, readiness, metrics, and the /api/v1 routers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from psycopg_pool import ConnectionPool

from ioc.settings import Settings


def create_app(
    settings: Settings,
    *,
    pool: ConnectionPool,
    registry: CollectorRegistry,
    readiness: dict[str, Callable[[], bool]],
    full_api: bool = True,
) -> FastAPI:
    app = FastAPI(title="IOC monitoring API", version="1", openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.pool = pool
    app.state.registry = registry

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        checks = {name: bool(check()) for name, check in readiness.items()}
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if full_api:
        from ioc.api.routes import include_routes

        include_routes(app)
    return app
