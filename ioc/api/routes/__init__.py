"""One router per resource; `include_routes` mounts them all under /api/v1."""

from __future__ import annotations

import importlib

from fastapi import Depends, FastAPI

from ioc.api.errors import AUTH_ERRORS, INPUT_ERRORS
from ioc.api.input_limits import refuse_hostile_input

# Each module defines `router`, an APIRouter whose paths are relative to /api/v1.
ROUTER_MODULES = ("entities", "agencies", "alerts", "silences", "inventory", "audit", "dead_letters", "events")
MEMBER_ROUTES = ("ingest_members",)  # contract section 11


def include_routes(app: FastAPI) -> None:
    for name in (*ROUTER_MODULES, *MEMBER_ROUTES):
        module = importlib.import_module(f"{__name__}.{name}")
        app.include_router(
            module.router,
            prefix="/api/v1",
            dependencies=[Depends(refuse_hostile_input)],
            responses={**AUTH_ERRORS, **INPUT_ERRORS},
        )
