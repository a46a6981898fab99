"""/api/v1/audit: the audit log, newest first, paged with limit and before_id (contract section 10)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ioc.api.deps import ConnDep, Viewer
from ioc.api.params import rfc3339
from ioc.store.records import MAX_LIMIT, Page, audit_records

router = APIRouter(tags=["audit"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="records per page")]
BeforeId = Annotated[int | None, Query(ge=1, description="only records with a smaller id: the last id of a page")]


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    conn: ConnDep,
    principal: Viewer,
    limit: Limit = 100,
    before_id: BeforeId = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. alert.ack, silence.create")] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    target: Annotated[str | None, Query(max_length=200, description="e.g. alert/42")] = None,
) -> list[AuditOut]:
    """Who did what, newest first; a key bound to an agency sees only what concerns that agency."""
    records = audit_records(
        conn, Page(limit, before_id), agency=principal.agency, action=action, actor=actor, target=target
    )
    return [
        AuditOut(id=r.id, at=rfc3339(r.at) or "", actor=r.actor, action=r.action, target=r.target, detail=r.detail)
        for r in records
    ]
