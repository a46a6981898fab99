"""/api/v1 agencies: the list and each agency's service health (contract section 4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, Viewer
from ioc.api.errors import errors
from ioc.api.params import STEP_PATTERN, bad_parameter, parse_step, parse_time, rfc3339
from ioc.kpis import KPI_NAMES
from ioc.store.health import kind_summary, services_health
from ioc.store.kpis import agency_kpis
from ioc.store.queries import agency_name, entity_statuses
from ioc.store.uptime import uptimes

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


@router.get("/agencies/{agency_id}/health", response_model=AgencyHealthOut, responses=errors(404))
def agency_health(principal: Viewer, conn: ConnDep, now: NowDep, agency_id: str) -> AgencyHealthOut:
    """The agency's service systems (status, uptime over 24 h to 90 d, 24 h p95), kiosks and links."""
    name = agency_name(conn, agency_id)
    if name is None or principal.agency not in (None, agency_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown agency {agency_id}")
    statuses = [e for e in entity_statuses(conn, now) if e.row.agency == agency_id]
    ups = uptimes(conn, [e.row.facts.ref for e in statuses], now)  # one reading for services, kiosks and links
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
            for s in services_health(conn, now, agency_id, statuses, ups)
        ],
        kiosks=KindSummaryOut.model_validate(
            kind_summary(conn, [e for e in statuses if e.row.kind == "kiosk"], now, ups)
        ),
        links=KindSummaryOut.model_validate(
            kind_summary(conn, [e for e in statuses if e.row.kind == "link"], now, ups)
        ),
    )


class KpiPointOut(BaseModel):
    ts: str
    dossiers_received: float | None
    online_share_pct: float | None
    ontime_share_pct: float | None
    dossiers_overdue: float | None
    online_payment_share_pct: float | None
    satisfaction_pct: float | None


class KpisOut(BaseModel):
    agency: str
    from_: str = Field(alias="from")
    to: str
    kpis: dict[str, float | None] = Field(description=", ".join(KPI_NAMES))
    series: list[KpiPointOut]


@router.get("/agencies/{agency_id}/kpis", response_model=KpisOut, response_model_by_alias=True, responses=errors(404))
def agency_kpis_route(
    principal: Viewer,
    conn: ConnDep,
    now: NowDep,
    agency_id: str,
    from_: Annotated[
        str | None, Query(alias="from", description="RFC 3339 or Unix seconds; default 30 days ago")
    ] = None,
    to: Annotated[str | None, Query(description="RFC 3339 or Unix seconds; default now")] = None,
    step: Annotated[
        str | None, Query(description="60s, 1h, 1d, ...; default 1d", json_schema_extra={"pattern": STEP_PATTERN})
    ] = None,
) -> KpisOut:
    """Decision 766 KPIs of the agency's services and kiosks from the increase of the standard counters."""
    name = agency_name(conn, agency_id)
    if name is None or principal.agency not in (None, agency_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown agency {agency_id}")
    end = parse_time(to, "to") if to is not None else now
    start = parse_time(from_, "from") if from_ is not None else end - 30 * 86400
    step_s = parse_step(step) if step is not None else 86400.0
    if end <= start:
        raise bad_parameter("to", "must be after from")
    try:
        result = agency_kpis(conn, agency_id, start, end, step_s)
    except ValueError as exc:
        raise bad_parameter("step", str(exc)) from None
    return KpisOut.model_validate(
        {
            "agency": agency_id,
            "from": rfc3339(start),
            "to": rfc3339(end),
            "kpis": result.kpis,
            "series": [{"ts": rfc3339(ts), **values} for ts, values in result.series],
        }
    )
