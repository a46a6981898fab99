"""/api/v1 entities: the list with status, one entity, and its series (contract section 4)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, Viewer
from ioc.api.errors import errors
from ioc.api.params import (
    STEP_PATTERN,
    bad_parameter,
    label_filters,
    parse_step,
    parse_time,
    rfc3339,
    word_list_pattern,
)
from ioc.auth import Principal
from ioc.model import ENTITY_ID_RE, METRIC_RE, STATUSES
from ioc.store.queries import EntityStatus, TooManyPoints, entity_statuses, find_entity, query_series

router = APIRouter(tags=["entities"])

KindParam = Literal["kiosk", "link", "service"]
DEFAULT_RANGE_S = 3600.0


class EntityOut(BaseModel):
    kind: str
    id: str
    name: str | None
    site: str | None
    agency: str | None
    status: str
    last_seen: str | None
    assigned: bool
    system: str | None = None


class SeriesOut(BaseModel):
    labels: dict[str, str]
    points: list[tuple[str, float]]


class SeriesResponse(BaseModel):
    points: list[tuple[str, float]]
    series: list[SeriesOut]


def _out(entity: EntityStatus) -> EntityOut:
    row = entity.row
    return EntityOut(
        kind=row.kind,
        id=row.id,
        name=row.name,
        site=row.site,
        agency=row.agency,
        status=entity.status,
        last_seen=rfc3339(row.last_seen),
        assigned=row.assigned,
        system=row.system,
    )


def _parse_statuses(value: str | None) -> set[str] | None:
    if value is None:
        return None
    wanted = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(wanted - set(STATUSES))
    if unknown or not wanted:
        got = ", ".join(unknown) or "(none)"
        raise bad_parameter("status", f"unknown status {got} (expected {', '.join(STATUSES)})")
    return wanted


def _visible(principal: Principal, agency: str | None) -> bool:
    return principal.agency is None or principal.agency == agency


def _not_found(kind: str, entity: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"unknown entity {kind}/{entity}")


@router.get("/entities", response_model=list[EntityOut])
def list_entities(
    principal: Viewer,
    conn: ConnDep,
    now: NowDep,
    kind: Annotated[KindParam | None, Query(description="kiosk, link or service")] = None,
    site: str | None = None,
    agency: str | None = None,
    status_: Annotated[
        str | None,
        Query(
            alias="status",
            description="one or more statuses, comma-separated",
            json_schema_extra={"pattern": word_list_pattern(STATUSES)},
        ),
    ] = None,
    assigned: Annotated[bool | None, Query(description="false lists only entities not in the inventory")] = None,
) -> list[EntityOut]:
    """Every entity with its status; a key bound to an agency sees only that agency's entities."""
    statuses = _parse_statuses(status_)
    return [
        _out(e)
        for e in entity_statuses(conn, now)
        if _visible(principal, e.row.agency)
        and (kind is None or e.row.kind == kind)
        and (site is None or e.row.site == site)
        and (agency is None or e.row.agency == agency)
        and (assigned is None or e.row.assigned == assigned)
        and (statuses is None or e.status in statuses)
    ]


EntityId = Annotated[str, Path(pattern=ENTITY_ID_RE.pattern, description="entity id")]


@router.get("/entities/{kind}/{entity_id}", response_model=EntityOut, responses=errors(404))
def get_entity(principal: Viewer, conn: ConnDep, now: NowDep, kind: KindParam, entity_id: EntityId) -> EntityOut:
    for e in entity_statuses(conn, now):
        if e.row.kind == kind and e.row.id == entity_id and _visible(principal, e.row.agency):
            return _out(e)
    raise _not_found(kind, entity_id)


@router.get("/entities/{kind}/{entity_id}/series/{metric}", response_model=SeriesResponse, responses=errors(404))
def get_series(
    request: Request,
    principal: Viewer,
    conn: ConnDep,
    now: NowDep,
    kind: KindParam,
    entity_id: EntityId,
    metric: Annotated[str, Path(pattern=METRIC_RE.pattern, description="metric name")],
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339 or Unix seconds; default 1 h ago")] = None,
    to: Annotated[str | None, Query(description="RFC 3339 or Unix seconds; default now")] = None,
    step: Annotated[
        str | None,
        Query(description="average per bucket: 60, 60s, 5m, 1h", json_schema_extra={"pattern": STEP_PATTERN}),
    ] = None,
) -> SeriesResponse:
    """Samples of one metric, every label set; `label.K=V` parameters filter by label."""
    end = parse_time(to, "to") if to is not None else now
    start = parse_time(from_, "from") if from_ is not None else end - DEFAULT_RANGE_S
    if start > end:
        raise bad_parameter("from", "must not be after 'to'")
    step_s = parse_step(step) if step is not None else None
    labels = label_filters(request.query_params.multi_items())
    found = find_entity(conn, kind, entity_id)
    if found is None or not _visible(principal, found[0]):
        raise _not_found(kind, entity_id)
    try:
        result = query_series(conn, kind, entity_id, metric, start, end, step_s=step_s, labels=labels)
    except TooManyPoints as exc:
        raise bad_parameter("step" if step_s is not None else "from", str(exc)) from None

    def points(pairs: list[tuple[float, float]]) -> list[tuple[str, float]]:
        return [(rfc3339(ts), value) for ts, value in pairs]  # type: ignore[misc]

    return SeriesResponse(
        points=points(result.points),
        series=[SeriesOut(labels=lbls, points=points(pts)) for lbls, pts in result.series],
    )
