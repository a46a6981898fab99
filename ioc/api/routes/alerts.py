"""/api/v1 alerts: the list by state, one alert, and ack with a comment (contract section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from ioc.api.deps import ConnDep, Operator, Viewer
from ioc.api.errors import errors
from ioc.api.params import bad_parameter, rfc3339, word_list_pattern
from ioc.auth import Principal

router = APIRouter(tags=["alerts"])

ALERT_STATES = ("pending", "firing", "resolved")
MAX_ALERTS = 5000


class AlertOut(BaseModel):
    id: int
    rule: str
    severity: str
    state: str
    summary: str
    labels: dict[str, str]
    starts_at: str | None
    ends_at: str | None
    acked_by: str | None
    # Extensions beyond the contract.
    fingerprint: str
    kind: str | None
    entity: str | None
    site: str | None
    agency: str | None
    annotations: dict[str, str]
    value: float | None
    pending_since: str | None
    suppressed_by: str | None
    acked_at: str | None
    ack_comment: str | None


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown key is a mistake, said so

    by: str | None = Field(None, max_length=200, description="Who acknowledges (default: the key's name)")
    comment: str = Field("", max_length=2000)


_COLUMNS = (
    "id, rule, severity, state, summary, labels, starts_at, ends_at, acked_by, fingerprint, kind, entity, site, "
    "agency, annotations, value, pending_since, suppressed_by, acked_at, ack_comment"
)


def _out(row: tuple[Any, ...]) -> AlertOut:
    times: list[datetime | None] = [row[6], row[7], row[16], row[18]]
    starts, ends, pending, acked = (rfc3339(t) if t is not None else None for t in times)
    return AlertOut(
        id=row[0], rule=row[1], severity=row[2], state=row[3], summary=row[4], labels=row[5],
        starts_at=starts or pending, ends_at=ends, acked_by=row[8], fingerprint=row[9], kind=row[10],
        entity=row[11], site=row[12], agency=row[13], annotations=row[14], value=row[15], pending_since=pending,
        suppressed_by=row[17], acked_at=acked, ack_comment=row[19],
    )  # fmt: skip


def _parse_states(value: str | None) -> list[str]:
    if value is None:
        return ["pending", "firing"]
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [s for s in wanted if s not in ALERT_STATES]
    if unknown or not wanted:
        got = ", ".join(unknown) or "(none)"
        raise bad_parameter("state", f"unknown state {got} (expected {', '.join(ALERT_STATES)})")
    return wanted


def _find(conn: ConnDep, principal: Principal, alert_id: int) -> tuple[Any, ...]:
    row = conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    if row is None or (principal.agency is not None and row[13] != principal.agency):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown alert {alert_id}")
    return row


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    conn: ConnDep,
    principal: Viewer,
    state: Annotated[
        str | None,
        Query(
            description="Comma-separated: pending, firing, resolved",
            json_schema_extra={"pattern": word_list_pattern(ALERT_STATES)},
        ),
    ] = None,
    kind: str | None = None,
    entity: str | None = None,
    site: str | None = None,
    agency: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 1000,
) -> list[AlertOut]:
    """Alerts in the given states (default: pending and firing), newest first."""
    where = ["state = ANY(%s)"]
    params: list[object] = [_parse_states(state)]
    if principal.agency is not None:
        where.append("agency = %s")
        params.append(principal.agency)
    for column, value in (("kind", kind), ("entity", entity), ("site", site), ("agency", agency)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    params.append(limit)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s", params
    ).fetchall()
    return [_out(r) for r in rows]


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=errors(404))
def get_alert(conn: ConnDep, principal: Viewer, alert_id: Annotated[int, Path(ge=1)]) -> AlertOut:
    return _out(_find(conn, principal, alert_id))


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut, responses=errors(400, 403, 404, 409))
def ack_alert(conn: ConnDep, principal: Operator, alert_id: Annotated[int, Path(ge=1)], body: AckIn) -> AlertOut:
    """Acknowledge an open alert: it is not sent again until it resolves. Recorded in the audit log."""
    row = _find(conn, principal, alert_id)
    if row[3] == "resolved":
        raise HTTPException(status.HTTP_409_CONFLICT, f"alert {alert_id} is resolved; there is nothing to acknowledge")
    by = (body.by or "").strip() or principal.actor
    with conn.transaction():
        conn.execute(
            "UPDATE alerts SET acked_by = %s, acked_at = now(), ack_comment = %s, updated_at = now() WHERE id = %s",
            (by, body.comment, alert_id),
        )
        conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, 'alert.ack', %s, %s)",
            (principal.actor, f"alert/{alert_id}", Jsonb({"by": by, "comment": body.comment, "rule": row[1]})),
        )
    return _out(_find(conn, principal, alert_id))
