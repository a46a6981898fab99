"""Data for the console's pages, gathered with the API's own functions and scoping, ready for templates."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from fastapi import HTTPException

from alerts import store as alert_store
from alerts.silences import matches, muted_by
from ioc.api.routes.alerts import AlertOut, get_alert, list_alerts
from ioc.auth import Principal
from ioc.store.queries import EntityStatus, TooManyPoints, entity_statuses, query_series

KINDS = ("kiosk", "link", "service")
# Worst first: a site shows the worst status among its entities.
STATUS_ORDER = ("down", "unreachable", "degraded", "maintenance", "unknown", "ok")
RANGES = {"1h": (3600.0, None), "24h": (86400.0, 300.0), "7d": (7 * 86400.0, 3600.0)}
MAX_CHART_SERIES = 4
MAX_ENTITY_CHARTS = 12


def names(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """Site and agency names by id, for pages that show ids of either."""
    return {
        "site_names": dict(conn.execute("SELECT id, name FROM sites").fetchall()),
        "agency_names": dict(conn.execute("SELECT id, name FROM agencies").fetchall()),
    }


def worst(statuses: list[str]) -> str:
    return min(statuses, key=STATUS_ORDER.index) if statuses else "unknown"


def visible_entities(conn: psycopg.Connection, principal: Principal, now: float) -> list[EntityStatus]:
    return [e for e in entity_statuses(conn, now) if principal.agency is None or e.row.agency == principal.agency]


@dataclass
class SiteView:
    id: str | None
    name: str
    status: str = "unknown"
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    entities: list[EntityStatus] = field(default_factory=list)


def sites_overview(conn: psycopg.Connection, principal: Principal, now: float) -> list[SiteView]:
    names: dict[str, str] = dict(conn.execute("SELECT id, name FROM sites").fetchall())
    by_site: dict[str | None, SiteView] = {}
    for e in visible_entities(conn, principal, now):
        site = by_site.get(e.row.site)
        if site is None:
            site = by_site[e.row.site] = SiteView(e.row.site, names.get(e.row.site or "", e.row.site or ""))
        site.counts[e.row.kind][e.status] += 1
        site.entities.append(e)
    for site in by_site.values():
        site.status = worst([e.status for e in site.entities])
        site.entities.sort(key=lambda e: (STATUS_ORDER.index(e.status), e.row.kind, e.row.id))
    return sorted(by_site.values(), key=lambda s: (STATUS_ORDER.index(s.status), s.name))


@dataclass(frozen=True)
class AlertRow:
    alert: AlertOut
    muted: str | None  # silence#ID or maintenance#ID


def muted(conn: psycopg.Connection, alert: AlertOut, now: float) -> str | None:
    """`silence#ID` or `maintenance#ID` muting this open alert now, as the alert service decides it."""
    if alert.state == "resolved":
        return None
    return muted_by(alert.labels, alert_store.load_silences(conn, now), alert_store.load_windows(conn), now)


def alert_rows(
    conn: psycopg.Connection, principal: Principal, now: float, states: str, limit: int = 500, **filters: str | None
) -> list[AlertRow]:
    severity = filters.pop("severity", None)
    found = list_alerts(conn, principal, state=states, limit=limit, **filters)
    silences = alert_store.load_silences(conn, now)
    windows = alert_store.load_windows(conn)
    return [
        AlertRow(a, muted_by(a.labels, silences, windows, now) if a.state != "resolved" else None)
        for a in found
        if severity is None or a.severity == severity
    ]


def paging_now(conn: psycopg.Connection, principal: Principal, now: float) -> list[AlertRow]:
    """Firing alerts that page: not a symptom of another (suppressed_by), not muted."""
    return [r for r in alert_rows(conn, principal, now, "firing") if r.muted is None and r.alert.suppressed_by is None]


@dataclass(frozen=True)
class Step:
    at: datetime
    key: str
    who: str = ""
    note: str = ""
    until: datetime | None = None


def alert_detail(conn: psycopg.Connection, principal: Principal, alert_id: int, now: float) -> dict[str, Any] | None:
    try:
        alert = get_alert(conn, principal, alert_id)
    except HTTPException:
        return None
    row = conn.execute(
        "SELECT pending_since, starts_at, last_notified_at, ends_at, acked_at FROM alerts WHERE id = %s", (alert_id,)
    ).fetchone()
    assert row is not None
    pending_since, starts_at, notified_at, ends_at, acked_at = row
    steps = [Step(pending_since, "tl_pending")]
    if starts_at is not None:
        steps.append(Step(starts_at, "tl_firing"))
    if notified_at is not None:
        steps.append(Step(notified_at, "tl_notified"))
    for at, actor, action, detail in conn.execute(
        "SELECT at, actor, action, detail FROM audit_log WHERE target = %s AND action IN ('alert.ack', 'alert.unack') "
        "ORDER BY id",
        (f"alert/{alert_id}",),
    ):
        key = "tl_acked" if action == "alert.ack" else "tl_unacked"
        steps.append(Step(at, key, str(detail.get("by") or actor), str(detail.get("comment") or "")))
    silences = conn.execute(
        "SELECT id, matchers, created_at, ends_at, created_by, comment FROM silences "
        "WHERE created_at >= %s AND (%s::timestamptz IS NULL OR created_at <= %s) ORDER BY id",
        (pending_since, ends_at, ends_at),
    ).fetchall()
    for _id, matchers, created, until, who, comment in silences:
        if matches(matchers, alert.labels):
            steps.append(Step(created, "tl_silenced", who, comment, until))
    if ends_at is not None:
        steps.append(Step(ends_at, "tl_resolved"))
    steps.sort(key=lambda s: s.at)
    ref = f"{alert.kind}/{alert.entity}" if alert.kind and alert.entity else None
    affected = []
    if ref is not None:
        affected = conn.execute(
            "SELECT DISTINCT a.kind, a.entity, e.name FROM alerts a LEFT JOIN entities e "
            "ON e.kind = a.kind AND e.id = a.entity WHERE a.suppressed_by = %s AND a.pending_since >= %s - interval "
            "'1 hour' AND (%s::timestamptz IS NULL OR a.pending_since <= %s) "
            "AND (%s::text IS NULL OR a.agency = %s) ORDER BY 1, 2",
            (ref, pending_since, ends_at, ends_at, principal.agency, principal.agency),
        ).fetchall()
    return {"alert": alert, "steps": steps, "affected": affected, "acked_at": acked_at}


def _aligned(series: list[tuple[dict[str, str], list[tuple[float, float]]]]) -> dict[str, Any]:
    """uPlot's shape: one x array, one y array per series (None where a series has no point)."""
    chosen = series[:MAX_CHART_SERIES]
    xs = sorted({ts for _, points in chosen for ts, _ in points})
    index = {ts: i for i, ts in enumerate(xs)}
    ys = []
    for _, points in chosen:
        column: list[float | None] = [None] * len(xs)
        for ts, value in points:
            column[index[ts]] = value
        ys.append(column)
    names = [", ".join(f"{k}={v}" for k, v in sorted(labels.items())) for labels, _ in chosen]
    return {"x": xs, "y": ys, "names": names}


def chart(
    conn: psycopg.Connection, kind: str, entity: str, metric: str, start: float, end: float, step_s: float | None
) -> dict[str, Any]:
    try:
        result = query_series(conn, kind, entity, metric, start, end, step_s=step_s)
    except TooManyPoints:
        result = query_series(conn, kind, entity, metric, start, end, step_s=max(step_s or 0, (end - start) / 500))
    data = _aligned(result.series)
    data.update(metric=metric, start=start, end=end)
    return data


def alert_chart(conn: psycopg.Connection, alert: AlertOut, metric: str | None, now: float) -> dict[str, Any] | None:
    """The metric around the incident: from an hour before it began to a quarter hour after it ended."""
    if metric is None or alert.kind is None or alert.entity is None:
        return None
    began = datetime.fromisoformat((alert.pending_since or alert.starts_at or "").replace("Z", "+00:00")).timestamp()
    ended = datetime.fromisoformat(alert.ends_at.replace("Z", "+00:00")).timestamp() if alert.ends_at else now
    start, end = began - 3600, min(now, ended + 900)
    span = end - start
    step = None if span <= 3 * 3600 else 60.0 * max(1, round(span / 300 / 60))
    data = chart(conn, alert.kind, alert.entity, metric, start, end, step)
    data["marks"] = [began] + ([ended] if alert.ends_at else [])
    return data


def entity_metrics(conn: psycopg.Connection, kind: str, entity: str) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT metric FROM series WHERE kind = %s AND entity = %s ORDER BY metric LIMIT %s",
        (kind, entity, MAX_ENTITY_CHARTS),
    ).fetchall()
    return [r[0] for r in rows]
