"""/api/v1 alerts routes."""

from fastapi import APIRouter

router = APIRouter(tags=["alerts"])
