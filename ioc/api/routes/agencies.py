"""/api/v1 agencies: the list and each agency's service health (contract section 4)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, Viewer
from ioc.store.health import kind_summary, services_health
from ioc.store.queries import agency_name, entity_statuses

router = APIRouter(tags=["agencies"])


class AgencyOut(BaseModel):
    id: str
    name: str


class ServiceHealthOut(BaseModel):
    id: str
    name: str | None
    status: str
    uptime_pct: dict[str, float | None] = Field(
        description="uptime as a percentage (contract section 9): 24h, 7d, 30d, 90d"
    )
    p95_response_ms: dict[str, float | None] = Field(description="95th percentile of `response_ms`: 24h")


class KindSummaryOut(BaseModel):
    total: int
    ok: int
    degraded: int
    down: int
    unreachable: int
    maintenance: int
    unknown: int
    uptime_pct: dict[str, float | None] = Field(description="uptime of them all together: 24h, 7d, 30d")


class AgencyHealthOut(BaseModel):
    agency: str
    name: str
    services: list[ServiceHealthOut]
    kiosks: KindSummaryOut
    links: KindSummaryOut


@router.get("/agencies", response_model=list[AgencyOut])
def list_agencies(principal: Viewer, conn: ConnDep) -> list[AgencyOut]:
    rows = conn.execute("SELECT id, name FROM agencies ORDER BY id").fetchall()
    return [AgencyOut(id=i, name=n) for i, n in rows if principal.agency in (None, i)]


@router.get("/agencies/{agency_id}/health", response_model=AgencyHealthOut)
def agency_health(principal: Viewer, conn: ConnDep, now: NowDep, agency_id: str) -> AgencyHealthOut:
    """The agency's service systems (status, uptime over 24 h to 90 d, 24 h p95), kiosks and links."""
    name = agency_name(conn, agency_id)
    if name is None or principal.agency not in (None, agency_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown agency {agency_id}")
    statuses = [e for e in entity_statuses(conn, now) if e.row.agency == agency_id]
    return AgencyHealthOut(
        agency=agency_id,
        name=name,
        services=[
            ServiceHealthOut(
                id=s.id,
                name=s.name,
                status=s.status,
                uptime_pct=s.uptime_pct,
                p95_response_ms={"24h": s.p95_response_ms},
            )
            for s in services_health(conn, now, agency_id, statuses)
        ],
        kiosks=KindSummaryOut.model_validate(kind_summary(conn, [e for e in statuses if e.row.kind == "kiosk"], now)),
        links=KindSummaryOut.model_validate(kind_summary(conn, [e for e in statuses if e.row.kind == "link"], now)),
    )
