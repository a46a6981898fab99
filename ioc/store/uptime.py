"""Uptime of entities from the store: rollups, status changes and maintenance windows into `ioc.uptime`.

The last 24 hours are read at one-minute resolution (`samples_1m`), longer periods and daily figures
at one hour (`samples_1h`), so a history published late with its own `ts` counts like a live one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from ioc.status import heartbeat_s, matches, window_intervals
from ioc.store.queries import load_windows
from ioc.uptime import Account, EntityHistory, Grid, account, coverage, pct

PERIODS: dict[str, float] = {"24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}
MINUTE, HOUR = 60.0, 3600.0


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class EntityMeta:
    kind: str
    id: str
    site: str | None
    agency: str | None
    interval_s: float | None
    depends_on: tuple[str, ...]
    first_seen: float | None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.id}"

    @property
    def labels(self) -> dict[str, str]:
        values = {"kind": self.kind, "entity": self.id, "site": self.site, "agency": self.agency}
        return {k: v for k, v in values.items() if v is not None}


def load_meta(conn: psycopg.Connection) -> dict[str, EntityMeta]:
    rows = conn.execute(
        "SELECT kind, id, site, agency, interval_s, depends_on, least(first_seen, mqtt_status_at) FROM entities"
    ).fetchall()
    return {
        f"{k}/{i}": EntityMeta(k, i, s, a, iv, tuple(d or ()), f.timestamp() if f else None)
        for k, i, s, a, iv, d, f in rows
    }


def _with_dependencies(refs: Iterable[str], meta: dict[str, EntityMeta]) -> list[str]:
    out: list[str] = []
    stack = list(refs)
    while stack:
        ref = stack.pop()
        if ref in out or ref not in meta:
            continue
        out.append(ref)
        stack.extend(meta[ref].depends_on)
    return out


def _grid(start: float, end: float, width: float) -> Grid:
    first = math.floor(start / width) * width
    return Grid(first, width, max(1, math.ceil((end - first) / width)))


def load_histories(
    conn: psycopg.Connection, refs: Sequence[str], meta: dict[str, EntityMeta], grid: Grid, end: float
) -> dict[str, EntityHistory]:
    """The histories of `refs` and of everything they depend on, on `grid` up to `end`."""
    targets = _with_dependencies(refs, meta)
    if not targets:
        return {}
    index = {ref: i for i, ref in enumerate(targets)}
    kinds = [meta[r].kind for r in targets]
    ids = [meta[r].id for r in targets]
    table = "samples_1m" if grid.width == MINUTE else "samples_1h"
    params = {"kinds": kinds, "ids": ids, "start": _dt(grid.start), "end": _dt(end), "w": grid.width}
    rows = conn.execute(
        f"""
        SELECT kind, entity, array_agg(date_part('epoch', bucket)), array_agg(up_cnt), array_agg(up_total)
        FROM (
            SELECT s.kind, s.entity, x.bucket,
                   coalesce(sum(x.cnt) FILTER (WHERE s.metric = 'up'), 0)::float8 AS up_cnt,
                   coalesce(sum(x.total) FILTER (WHERE s.metric = 'up'), 0)::float8 AS up_total
            FROM series s JOIN {table} x ON x.series_id = s.id
            WHERE (s.kind, s.entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[]))
              AND x.bucket >= %(start)s AND x.bucket < %(end)s
            GROUP BY 1, 2, 3
        ) per_bucket
        GROUP BY 1, 2
        """,
        params,
    ).fetchall()
    up_total = np.zeros((len(targets), grid.n))
    up_cnt = np.zeros((len(targets), grid.n))
    heard = np.zeros((len(targets), grid.n), dtype=bool)
    for kind, entity, buckets, cnts, totals in rows:
        i = index[f"{kind}/{entity}"]
        b = np.rint((np.asarray(buckets, dtype=np.float64) - grid.start) / grid.width).astype(np.int64)
        ok = (b >= 0) & (b < grid.n)
        b = b[ok]
        heard[i, b] = True
        up_cnt[i, b] = np.asarray(cnts, dtype=np.float64)[ok]
        up_total[i, b] = np.asarray(totals, dtype=np.float64)[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        up_mean = np.where(up_cnt > 0, up_total / np.where(up_cnt > 0, up_cnt, 1), np.nan)

    # First data: the oldest minute of any of its series (its oldest hour once minutes expired), its first
    # status message, its first_seen.
    first: dict[str, float] = {}
    for kind, entity, ts in conn.execute(
        """
        SELECT s.kind, s.entity, min(CASE WHEN m.bucket < h.bucket + interval '1 hour' THEN m.bucket ELSE h.bucket END)
        FROM series s
        CROSS JOIN LATERAL (SELECT bucket FROM samples_1h WHERE series_id = s.id ORDER BY bucket LIMIT 1) h
        LEFT JOIN LATERAL (SELECT bucket FROM samples_1m WHERE series_id = s.id ORDER BY bucket LIMIT 1) m ON true
        WHERE (s.kind, s.entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[]))
        GROUP BY 1, 2
        UNION ALL
        SELECT kind, entity, min(ts) FROM status_changes
        WHERE (kind, entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[])) GROUP BY 1, 2
        """,
        params,
    ):
        ref = f"{kind}/{entity}"
        first[ref] = min(first.get(ref, math.inf), ts.timestamp())
    for ref in targets:
        if meta[ref].first_seen is not None and ref in first:
            first[ref] = min(first[ref], meta[ref].first_seen or math.inf)

    changes: dict[str, list[tuple[float, str]]] = {}
    for kind, entity, ts, status in conn.execute(
        """
        SELECT * FROM (
            SELECT DISTINCT ON (kind, entity) kind, entity, ts, status FROM status_changes
            WHERE (kind, entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[])) AND ts < %(start)s
            ORDER BY kind, entity, ts DESC) before
        UNION ALL
        SELECT kind, entity, ts, status FROM status_changes
        WHERE (kind, entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[]))
          AND ts >= %(start)s AND ts < %(end)s
        ORDER BY 3
        """,
        params,
    ):
        changes.setdefault(f"{kind}/{entity}", []).append((ts.timestamp(), status))

    windows = load_windows(conn)
    histories = {}
    for ref in targets:
        m = meta[ref]
        labels = m.labels
        maintenance = [
            iv for w in windows if matches(w.matchers, labels) for iv in window_intervals(w, grid.start, end)
        ]
        i = index[ref]
        histories[ref] = EntityHistory(
            ref=ref,
            heartbeat_s=heartbeat_s(m.interval_s),
            known_from=first.get(ref),
            up_mean=up_mean[i],
            heard=heard[i],
            status_changes=changes.get(ref, ()),
            maintenance=maintenance,
            depends_on=m.depends_on,
        )
    return histories


@dataclass(frozen=True, slots=True)
class Day:
    date: date
    uptime_pct: float | None
    down_s: float
    maintenance_s: float
    unreachable_s: float


@dataclass(frozen=True, slots=True)
class Uptime:
    """One entity's uptime per period and per local day."""

    uptime_pct: dict[str, float | None]
    days: list[Day]
    totals: dict[str, dict[str, float]]  # per period: known_s, maintenance_s, down_s, unreachable_s


def day_boundaries(now: float, days: int, timezone: str) -> tuple[list[date], list[float]]:
    """The last `days` local dates up to today, oldest first, and their `days + 1` boundaries."""
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(now, zone).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days)]
    bounds = [datetime.combine(d, datetime.min.time(), zone).timestamp() for d in [*dates, today + timedelta(1)]]
    return dates, bounds


def hourly_accounts(
    conn: psycopg.Connection, refs: Sequence[str], start: float, end: float, meta: dict[str, EntityMeta] | None = None
) -> dict[str, Account]:
    meta = meta if meta is not None else load_meta(conn)
    grid = _grid(start, end, HOUR)
    return account(load_histories(conn, refs, meta, grid, end), grid, end)


def uptimes(
    conn: psycopg.Connection,
    refs: Sequence[str],
    now: float,
    *,
    periods: Sequence[str] = ("24h", "7d", "30d", "90d"),
    days: int = 0,
    timezone: str = "Asia/Ho_Chi_Minh",
) -> dict[str, Uptime]:
    """Uptime of each `kind/id` over each period up to `now`, and over the last `days` local days."""
    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    dates, bounds = day_boundaries(now, days, timezone) if days else ([], [])
    longest = max([PERIODS[p] for p in periods if p != "24h"] + [now - bounds[0] if bounds else 0.0], default=0.0)
    hourly = hourly_accounts(conn, refs, now - longest, now, meta) if longest else {}
    minute: dict[str, Account] = {}
    if "24h" in periods:
        grid = _grid(now - PERIODS["24h"], now, MINUTE)
        minute = account(load_histories(conn, refs, meta, grid, now), grid, now)
    out = {}
    for ref in refs:
        values: dict[str, float | None] = {}
        totals: dict[str, dict[str, float]] = {}
        for period in periods:
            acc = minute[ref] if period == "24h" else hourly[ref]
            lo = now - PERIODS[period]
            totals[period] = acc.totals(coverage([(lo, now)], acc.grid))
            values[period] = pct(totals[period])
        day_list = []
        if days:
            for d, t in zip(dates, hourly[ref].by_period(bounds), strict=True):
                day_list.append(
                    Day(d, pct(t, 2), round(t["down_s"]), round(t["maintenance_s"]), round(t["unreachable_s"]))
                )
        out[ref] = Uptime(values, day_list, totals)
    return out


def period_totals(
    conn: psycopg.Connection, refs: Sequence[str], start: float, end: float
) -> dict[str, dict[str, float]]:
    """Known, maintenance, down and unreachable seconds of each `kind/id` over [start, end), to the hour."""
    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    accounts = hourly_accounts(conn, refs, start, end, meta)
    return {ref: accounts[ref].totals(coverage([(start, end)], accounts[ref].grid)) for ref in refs}
