"""One router per resource; `include_routes` mounts them all under /api/v1."""

from __future__ import annotations

from fastapi import FastAPI


def include_routes(app: FastAPI) -> None:
    """Mount every /api/v1 router."""
