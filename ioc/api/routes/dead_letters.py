"""/api/v1/dead-letters: refused messages, newest first, paged with limit and before_id (contract section 10)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ioc.api.deps import ConnDep, SettingsDep, Viewer
from ioc.api.params import rfc3339
from ioc.api.routes.audit import BeforeId, Limit
from ioc.store.records import PAYLOAD_PREVIEW_BYTES, Page, dead_letters, escape_payload

router = APIRouter(tags=["dead letters"])


class DeadLetterOut(BaseModel):
    id: int
    received_at: str
    topic: str
    reason: str
    detail: str
    kind: str | None = Field(description="the entity in the topic, when the topic names one")
    entity: str | None
    size: int = Field(description="the payload's length in bytes")
    payload: str = Field(description="the payload as text: bytes that are not UTF-8 and controls as \\xNN")
    payload_base64: str = Field(description="the payload's bytes")
    truncated: bool = Field(description=f"only the first {PAYLOAD_PREVIEW_BYTES} bytes are given")


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def list_dead_letters(
    conn: ConnDep,
    principal: Viewer,
    settings: SettingsDep,
    limit: Limit = 100,
    before_id: BeforeId = None,
    reason: Annotated[str | None, Query(max_length=100, description="a reason code (contract section 2)")] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=200)] = None,
) -> list[DeadLetterOut]:
    """Dead letters, newest first; a key bound to an agency sees those whose topic names its entities."""
    letters = dead_letters(
        conn, Page(limit, before_id), settings.mqtt_topic_prefix, agency=principal.agency, reason=reason,
        kind=kind, entity=entity,
    )  # fmt: skip
    return [
        DeadLetterOut(
            id=d.id,
            received_at=rfc3339(d.received_at) or "",
            topic=d.topic,
            reason=d.reason,
            detail=d.detail,
            kind=d.kind,
            entity=d.entity,
            size=d.size,
            payload=escape_payload(d.payload),
            payload_base64=base64.b64encode(d.payload).decode("ascii"),
            truncated=d.truncated,
        )
        for d in letters
    ]
