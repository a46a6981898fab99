"""What the public status pages show (contract section 9), as the JSON of `/status.json`: services with
status, uptime and 90 daily figures, incidents of the last 90 days, maintenance now or within 7 days.

Public means: assigned services of agencies without `status_page: private` (and services of no agency).
Names, statuses and figures only: no URLs, attributes or keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from ioc.api.params import rfc3339
from ioc.status import matches, window_intervals
from ioc.store.queries import EntityStatus, entity_statuses, load_windows
from ioc.store.uptime import Day, uptimes

DAYS = 90
MAINTENANCE_AHEAD_S = 7 * 86400.0
INCIDENT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PublicAgency:
    id: str
    name: str


def public_agencies(conn: psycopg.Connection) -> dict[str, PublicAgency]:
    rows = conn.execute(
        "SELECT id, name FROM agencies WHERE coalesce(attrs ->> 'status_page', 'public') <> 'private' ORDER BY id"
    ).fetchall()
    return {i: PublicAgency(i, n) for i, n in rows}


def private_agencies(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT id FROM agencies WHERE attrs ->> 'status_page' = 'private'")}


def public_services(conn: psycopg.Connection, now: float, agency: str | None) -> list[EntityStatus]:
    hidden = private_agencies(conn)
    return [
        e
        for e in entity_statuses(conn, now)
        if e.row.kind == "service"
        and e.row.assigned
        and e.row.agency not in hidden
        and (agency is None or e.row.agency == agency)
    ]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def incidents(conn: psycopg.Connection, services: list[EntityStatus], now: float) -> list[dict[str, Any]]:
    """Critical alerts of these services that paged (not unreachable by topology), last 90 days, newest first."""
    if not services:
        return []
    ids = [e.row.id for e in services]
    rows = conn.execute(
        """
        SELECT id, coalesce(nullif(summary, ''), rule), entity, starts_at, ends_at FROM alerts
        WHERE kind = 'service' AND entity = ANY(%(ids)s) AND severity = 'critical' AND starts_at IS NOT NULL
          AND suppressed_by IS NULL AND starts_at <= %(now)s AND coalesce(ends_at, %(now)s) >= %(since)s
        ORDER BY starts_at DESC, id DESC LIMIT %(limit)s
        """,
        {"ids": ids, "now": _dt(now), "since": _dt(now - DAYS * 86400), "limit": INCIDENT_LIMIT},
    ).fetchall()
    out = []
    for ident, title, entity, starts, ends in rows:
        end = ends.timestamp() if ends is not None else now
        out.append(
            {
                "id": ident,
                "title": title,
                "services": [entity],
                "started_at": rfc3339(starts),
                "ended_at": rfc3339(ends),
                "duration_s": round(max(0.0, end - starts.timestamp())),
            }
        )
    return out


def maintenance(conn: psycopg.Connection, services: list[EntityStatus], now: float) -> list[dict[str, Any]]:
    """Windows open now or starting within 7 days that match any of these services, soonest first."""
    comments: dict[int, str] = dict(conn.execute("SELECT id, comment FROM maintenance_windows").fetchall())
    ids = [r[0] for r in conn.execute("SELECT id FROM maintenance_windows ORDER BY id")]
    out = []
    for ident, window in zip(ids, load_windows(conn), strict=True):
        matched = [e.row.id for e in services if matches(window.matchers, e.row.facts.labels)]
        if not matched:
            continue
        for lo, hi in window_intervals(window, now - MAINTENANCE_AHEAD_S, now + MAINTENANCE_AHEAD_S):
            if hi > now and lo < now + MAINTENANCE_AHEAD_S:
                out.append(
                    {"starts_at": rfc3339(lo), "ends_at": rfc3339(hi), "services": matched, "comment": comments[ident]}
                )
    out.sort(key=lambda m: (m["starts_at"], m["ends_at"]))
    return out


_DAY_JSON: dict[int, tuple[Day, dict[str, Any]]] = {}  # by the Day's identity (the Day kept, so is its id)


def _day_json(d: Day) -> dict[str, Any]:
    """One day of the document. The `Day`s of stored days are the same objects from one document to the next
    until the upkeep recomputes them (ioc.store.uptime_daily.StoredCache), so their dicts are made once; the
    dicts are only read, by the JSON encoder and the templates."""
    hit = _DAY_JSON.get(id(d))
    if hit is not None and hit[0] is d:
        return hit[1]
    made = {
        "date": d.date.isoformat(),
        "uptime_pct": d.uptime_pct,
        "down_s": d.down_s,
        "maintenance_s": d.maintenance_s,
    }
    if len(_DAY_JSON) > 100_000:  # two provinces' worth
        _DAY_JSON.clear()
    _DAY_JSON[id(d)] = (d, made)
    return made


def status_document(
    conn: psycopg.Connection, now: float, timezone: str, agency: PublicAgency | None = None
) -> dict[str, Any]:
    """The contract's status JSON, for one agency or (agency None) the province."""
    services = public_services(conn, now, agency.id if agency else None)
    ups = uptimes(conn, [e.row.facts.ref for e in services], now, days=DAYS, timezone=timezone)
    rows = []
    for e in services:
        u = ups.get(e.row.facts.ref)
        rows.append(
            {
                "id": e.row.id,
                "name": e.row.name or e.row.id,
                "status": e.status,
                "uptime_pct": u.uptime_pct if u else dict.fromkeys(("24h", "7d", "30d", "90d")),
                "days": [_day_json(d) for d in (u.days if u else [])],
            }
        )
    return {
        "agency": agency.id if agency else None,
        "updated_at": rfc3339(now),
        "services": rows,
        "incidents": incidents(conn, services, now),
        "maintenance": maintenance(conn, services, now),
    }


def response_sparklines(conn: psycopg.Connection, service_ids: list[str], now: float) -> dict[str, list[float | None]]:
    """Hourly averages of `response_ms` over the last 24 hours per service (None for an hour without)."""
    if not service_ids:
        return {}
    first = (int(now // 3600) - 23) * 3600
    rows = conn.execute(
        """
        SELECT s.entity, ((extract(epoch FROM x.bucket) - %(first)s) / 3600)::int, sum(x.total) / sum(x.cnt)
        FROM series s JOIN samples_1h x ON x.series_id = s.id
        WHERE s.kind = 'service' AND s.entity = ANY(%(ids)s) AND s.metric = 'response_ms'
          AND x.bucket >= %(start)s AND x.bucket <= %(now)s
        GROUP BY 1, 2
        """,
        {"ids": service_ids, "first": float(first), "start": _dt(first), "now": _dt(now)},
    ).fetchall()
    out: dict[str, list[float | None]] = {}
    for entity, hour, value in rows:
        if 0 <= hour < 24:
            out.setdefault(entity, [None] * 24)[hour] = float(value)
    return out
