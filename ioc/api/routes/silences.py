"""/api/v1 silences routes."""

from fastapi import APIRouter

router = APIRouter(tags=["silences"])
