"""/api/v1/events: events the entities sent, newest first, paged with limit and before_id (contract section 10)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ioc.api.deps import ConnDep, Viewer
from ioc.api.params import rfc3339
from ioc.api.routes.audit import BeforeId, Limit
from ioc.store.records import Page, events

router = APIRouter(tags=["events"])


class EventOut(BaseModel):
    id: int
    kind: str
    entity: str
    ts: str
    type: str
    severity: str
    message: str
    attrs: dict[str, Any]
    received_at: str


@router.get("/events", response_model=list[EventOut])
def list_events(
    conn: ConnDep,
    principal: Viewer,
    limit: Limit = 100,
    before_id: BeforeId = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=200)] = None,
    severity: Annotated[str | None, Query(max_length=100)] = None,
) -> list[EventOut]:
    """Events, newest first (by arrival); a key bound to an agency sees its entities' events only."""
    found = events(conn, Page(limit, before_id), agency=principal.agency, kind=kind, entity=entity, severity=severity)
    return [
        EventOut(
            id=e.id,
            kind=e.kind,
            entity=e.entity,
            ts=rfc3339(e.ts) or "",
            type=e.type,
            severity=e.severity,
            message=e.message,
            attrs=e.attrs,
            received_at=rfc3339(e.received_at) or "",
        )
        for e in found
    ]
