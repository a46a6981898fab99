"""Agency health (contract sections 4 and 9): services with status, uptime and p95; kiosk and link summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from ioc.model import STATUSES
from ioc.store.queries import EntityStatus, entity_statuses
from ioc.store.uptime import PERIODS, Uptime, uptimes
from ioc.uptime import pct


def p95_response_ms(conn: psycopg.Connection, services: Sequence[tuple[str, str]], now: float) -> dict[str, float]:
    """95th percentile of `response_ms` over the last 24 hours, from raw samples, per `kind/id`."""
    if not services:
        return {}
    rows = conn.execute(
        """
        SELECT s.kind, s.entity, percentile_cont(0.95) WITHIN GROUP (ORDER BY x.value)
        FROM series s JOIN samples x ON x.series_id = s.id
        WHERE (s.kind, s.entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[]))
          AND s.metric = 'response_ms' AND x.ts > %(start)s AND x.ts <= %(now)s
        GROUP BY s.kind, s.entity
        """,
        {
            "kinds": [k for k, _ in services],
            "ids": [e for _, e in services],
            "start": datetime.fromtimestamp(now - 86400, UTC),
            "now": datetime.fromtimestamp(now, UTC),
        },
    ).fetchall()
    return {f"{kind}/{entity}": round(float(p95), 3) for kind, entity, p95 in rows if p95 is not None}


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    id: str
    name: str | None
    agency: str | None
    status: str
    uptime_pct: dict[str, float | None]
    p95_response_ms: float | None


def services_health(
    conn: psycopg.Connection,
    now: float,
    agency: str | None = None,
    statuses: list[EntityStatus] | None = None,
    ups: dict[str, Uptime] | None = None,
) -> list[ServiceHealth]:
    """Status, uptime (24h, 7d, 30d, 90d) and 24 h p95 of every `service` entity, or of one agency's."""
    everything = statuses if statuses is not None else entity_statuses(conn, now)
    services = [e for e in everything if e.row.kind == "service" and (agency is None or e.row.agency == agency)]
    refs = [(e.row.kind, e.row.id) for e in services]
    if ups is None:
        ups = uptimes(conn, [e.row.facts.ref for e in services], now)
    p95s = p95_response_ms(conn, refs, now)
    empty = dict.fromkeys(PERIODS)
    return [
        ServiceHealth(
            id=e.row.id,
            name=e.row.name,
            agency=e.row.agency,
            status=e.status,
            uptime_pct=ups[e.row.facts.ref].uptime_pct if e.row.facts.ref in ups else dict(empty),
            p95_response_ms=p95s.get(e.row.facts.ref),
        )
        for e in services
    ]


def kind_summary(
    conn: psycopg.Connection, entities: Sequence[EntityStatus], now: float, ups: dict[str, Uptime] | None = None
) -> dict[str, object]:
    """`{"total", one count per status, "uptime_pct": {"24h", "7d", "30d"}}` over these entities together."""
    summary: dict[str, object] = {"total": len(entities)}
    summary.update({s: sum(1 for e in entities if e.status == s) for s in STATUSES})
    periods = ("24h", "7d", "30d")
    refs = [e.row.facts.ref for e in entities]
    if ups is None:
        ups = uptimes(conn, refs, now, periods=periods)
    combined: dict[str, float | None] = {}
    for period in periods:
        totals = {"known_s": 0.0, "maintenance_s": 0.0, "down_s": 0.0, "unreachable_s": 0.0}
        for ref in refs:
            if ref not in ups:
                continue
            for key, value in ups[ref].totals[period].items():
                totals[key] += value
        combined[period] = pct(totals)
    summary["uptime_pct"] = combined
    return summary
