"""/api/v1 agencies routes."""

from fastapi import APIRouter

router = APIRouter(tags=["agencies"])
