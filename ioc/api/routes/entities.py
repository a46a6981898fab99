"""/api/v1 entities routes."""

from fastapi import APIRouter

router = APIRouter(tags=["entities"])
