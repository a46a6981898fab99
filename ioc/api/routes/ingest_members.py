"""/api/v1/ingest/members: the ingest members of the shared subscription and their backlog (contract
section 11). Operators and admins only: it names hosts and processes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ioc.api.deps import ConnDep, Operator, SettingsDep
from ioc.api.errors import errors
from ioc.ingest_members import is_up
from ioc.store.members import list_members

router = APIRouter(tags=["ingest"])


class IngestMemberOut(BaseModel):
    client_id: str = Field(description="the member's MQTT client id (its persistent session)")
    state: str = Field(description="live, kept, left, draining or drained")
    up: bool = Field(description="live and seen within IOC_INGEST_MEMBER_GONE_S")
    host: str
    pid: int
    started_at: str
    last_seen: str
    seen_s_ago: float
    backlog: int = Field(description="messages received and not yet acknowledged, at its last heartbeat")
    drained_by: str | None
    drained_messages: int
    ended_at: str | None


@router.get("/ingest/members", response_model=list[IngestMemberOut], responses=errors(403))
def list_ingest_members(conn: ConnDep, principal: Operator, settings: SettingsDep) -> list[IngestMemberOut]:
    """Every member that ever registered, by client id."""
    gone_s = settings.ingest_member_gone_s
    return [IngestMemberOut.model_validate({**m.as_json(), "up": is_up(m, gone_s)}) for m in list_members(conn)]
