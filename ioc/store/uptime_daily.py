"""Stored uptime figures (migration 0700): closed local days in `uptime_daily`, the closed hours of the last
day in `uptime_hourly`, kept by the store upkeep (readers: ioc.store.uptime_stored).

The figures are `ioc.uptime` exactly as `ioc.store.uptime` computes them live: a day on the hour grid from
`LOOKBACK_S` before it, an hour on the minute grid from `MINUTE_LOOKBACK_S` before it (so silence, carried
`up` values and status changes from before count as on a long grid), keeping the buckets that start in it.
A day or hour is computed once closed (`ioc.store.uptime_marks.closed_before`), for every entity, and
again for the (entity, day) pairs marked in `uptime_dirty` (late samples or statuses, maintenance windows,
inventory changes) and the entities depending on them. Readers use a stored day or hour of an entity only
when no mark of it, or of what it depends on, reaches that day.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from ioc.store.uptime_history import bucket_grid, load_histories, load_meta
from ioc.store.uptime_marks import SETTLE_S, closed_before
from ioc.store.uptime_stored import HOUR, MINUTE, local_midnight, split_refs, utc_day_start

LOOKBACK_S = 2 * 3600.0  # heartbeats are at most 5 minutes and `up` is carried one hour bucket at most
MINUTE_LOOKBACK_S = 420.0  # heartbeats are at most 5 minutes (ioc.status.heartbeat_s), `up` carried as long
HORIZON_DAYS = 92  # closed days kept: 90 daily bars, and the day where a 90-day period begins
HORIZON_HOURS = 26  # closed hours kept, for the 24-hour figures
CHUNK_DAYS = 8  # days computed together (one read of the rollups)
CHUNK_HOURS = 6
CHUNK_ENTITIES = 250  # entities computed together (memory: entities x buckets arrays, and their rows)

log = logging.getLogger(__name__)


def last_closed_day(now: float, zone: ZoneInfo) -> date:
    """The latest local day whose every hour bucket is closed."""
    end = closed_before(now)
    day = datetime.fromtimestamp(end, zone).date()
    while local_midnight(day, zone) > end:  # midnight not on the hour (a zone at :30)
        day -= timedelta(days=1)
    return day - timedelta(days=1)


# -- marks --------------------------------------------------------------------------------------------


def dependents(depends_on: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Per entity, every entity that depends on it, directly or further down."""
    reverse: dict[str, set[str]] = defaultdict(set)
    for ref, deps in depends_on.items():
        for d in deps:
            reverse[d].add(ref)
    out: dict[str, set[str]] = {}
    for ref in depends_on:
        seen: set[str] = set()
        stack = list(reverse.get(ref, ()))
        while stack:
            r = stack.pop()
            if r in seen or r == ref:
                continue
            seen.add(r)
            stack.extend(reverse.get(r, ()))
        out[ref] = seen
    return out


# -- computing ----------------------------------------------------------------------------------------


def compute_days(
    conn: psycopg.Connection, refs: Sequence[str], first: date, last: date, timezone: str
) -> dict[tuple[str, date], tuple[float, np.ndarray]]:
    """(ref, day) -> (first bucket start, 4 x n seconds per hour bucket) for the days `first`..`last`."""
    from ioc.uptime import account

    zone = ZoneInfo(timezone)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    bounds = [local_midnight(d, zone) for d in [*days, last + timedelta(days=1)]]
    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    end = bounds[-1]
    grid = bucket_grid(bounds[0] - LOOKBACK_S, end, HOUR)
    accounts = account(load_histories(conn, refs, meta, grid, end), grid, end)
    starts = grid.starts()
    out: dict[tuple[str, date], tuple[float, np.ndarray]] = {}
    for i, day in enumerate(days):
        inside = (starts >= bounds[i]) & (starts < bounds[i + 1])
        first_bucket = float(starts[inside][0])
        for ref in refs:
            acc = accounts.get(ref)
            if acc is None:
                hours = np.zeros((4, int(inside.sum())))
            else:
                hours = np.vstack([acc.known_s[inside], acc.maintenance_s[inside], acc.down_s[inside],
                                   acc.unreachable_s[inside]])  # fmt: skip
            out[(ref, day)] = (first_bucket, hours)
    return out


def compute_hours(conn: psycopg.Connection, refs: Sequence[str], first: float, end: float) -> dict[str, np.ndarray]:
    """ref -> 4 x minutes of [first, end) (whole hours) on a minute grid from `MINUTE_LOOKBACK_S` before."""
    from ioc.uptime import account

    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    grid = bucket_grid(first - MINUTE_LOOKBACK_S, end, MINUTE)
    accounts = account(load_histories(conn, refs, meta, grid, end), grid, end)
    inside = grid.starts() >= first
    zero = np.zeros((4, int(inside.sum())))
    return {
        ref: np.vstack([a.known_s[inside], a.maintenance_s[inside], a.down_s[inside], a.unreachable_s[inside]])
        if (a := accounts.get(ref)) is not None
        else zero
        for ref in refs
    }


def _chunks(todo: Iterable[Any], adjacent: Any, size: int) -> list[list[Any]]:
    """Consecutive units (days or hours) in chunks of at most `size`."""
    out: list[list[Any]] = []
    for u in sorted(todo):
        if out and u - out[-1][-1] == adjacent and len(out[-1]) < size:
            out[-1].append(u)
        else:
            out.append([u])
    return out


@dataclass
class RefreshResult:
    days: int = 0  # (entity, day) figures computed
    hours: int = 0  # (entity, hour) figures computed
    marks: int = 0  # marks taken
    kpi_days: int = 0  # (counter series, day) rows of kpi_daily computed
    ingest_hours: int = 0  # hours of ingest_hourly counted
    left: bool = False  # unmarked work (of a first fill) left for the next runs: the time budget ran out


def refresh_uptime_daily(
    conn: psycopg.Connection, timezone: str, now: float, settle_s: float = SETTLE_S, budget_s: float = math.inf
) -> RefreshResult:
    """Compute the closed days and hours not computed yet, and the marked ones (marks at least `settle_s`
    old); `conn` in autocommit. Past `budget_s` of work no further chunk is begun, the marks stay for the
    next run (what was computed is kept)."""
    zone = ZoneInfo(timezone)
    last = last_closed_day(now, zone)
    first = last - timedelta(days=HORIZON_DAYS - 1)
    hours_end = closed_before(now)
    hours = [hours_end - (HORIZON_HOURS - i) * HOUR for i in range(HORIZON_HOURS)]
    meta = load_meta(conn)
    refs = sorted(meta)
    below = dependents({r: m.depends_on for r, m in meta.items()})
    marks = conn.execute(
        "SELECT kind, entity, day, marked_at FROM uptime_dirty"
        " WHERE marked_at < clock_timestamp() - make_interval(secs => %s)",
        (settle_s,),
    ).fetchall()
    horizon = [first + timedelta(days=i) for i in range(HORIZON_DAYS)]
    filled_sql = "SELECT day FROM uptime_daily_filled WHERE timezone = %s AND day BETWEEN %s AND %s"
    filled = {d for (d,) in conn.execute(filled_sql, (timezone, first, last))}
    hours_sql = "SELECT hour FROM uptime_hourly_filled WHERE hour >= %s"
    hours_filled = {h.timestamp() for (h,) in conn.execute(hours_sql, (datetime.fromtimestamp(hours[0], UTC),))}
    day_todo: dict[date, set[str]] = {d: set(refs) for d in horizon if d not in filled}
    hour_todo: dict[float, set[str]] = {h: set(refs) for h in hours if h not in hours_filled}
    full_days, full_hours = set(day_todo), set(hour_todo)
    # New entities (none of their days stored): every day and hour of them.
    newcomers = [f"{k}/{i}" for k, i in conn.execute(
        "SELECT e.kind, e.id FROM entities e WHERE NOT EXISTS (SELECT FROM uptime_daily d"
        " WHERE d.timezone = %s AND d.kind = e.kind AND d.entity = e.id AND d.day = %s)",
        (timezone, last))] if last in filled else []  # fmt: skip
    marked_days: set[date] = set(horizon) if newcomers else set()  # done whatever the budget
    marked_hours: set[float] = set(hours) if newcomers else set()
    for d in horizon if newcomers else ():
        day_todo.setdefault(d, set()).update(newcomers)
    for h in hours if newcomers else ():
        hour_todo.setdefault(h, set()).update(newcomers)
    for kind, entity, day, _ in marks:
        ref = f"{kind}/{entity}"
        if ref not in meta:
            continue
        affected = {ref} | below.get(ref, set())
        if day == date.min:
            lo_s, hi_s = -math.inf, math.inf
        else:
            lo_s = utc_day_start(day)
            hi_s = lo_s + 86400.0
        for d in horizon:
            if lo_s < local_midnight(d + timedelta(days=1), zone) and local_midnight(d, zone) < hi_s:
                day_todo.setdefault(d, set()).update(affected)
                marked_days.add(d)
        for h in hours:
            if lo_s < h + HOUR and h < hi_s:
                hour_todo.setdefault(h, set()).update(affected)
                marked_hours.add(h)
    result = RefreshResult(marks=len(marks))
    started = time.monotonic()
    for chunk in _chunks(day_todo, timedelta(days=1), CHUNK_DAYS):
        # Past the budget (and one chunk) only marked work is done: the rest of a first fill in the next runs.
        if result.days and time.monotonic() - started > budget_s and not marked_days.intersection(chunk):
            result.left = True
            continue
        chunk_refs = sorted(set().union(*(day_todo[d] for d in chunk)))
        for i in range(0, len(chunk_refs), CHUNK_ENTITIES):
            part = chunk_refs[i : i + CHUNK_ENTITIES]
            done = i + CHUNK_ENTITIES >= len(chunk_refs)
            result.days += _store_days(conn, part, chunk, timezone, full=[d for d in chunk if d in full_days and done])
    for chunk in _chunks(hour_todo, HOUR, CHUNK_HOURS):
        if result.hours and time.monotonic() - started > budget_s and not marked_hours.intersection(chunk):
            result.left = True
            continue
        chunk_refs = sorted(set().union(*(hour_todo[h] for h in chunk)))
        for i in range(0, len(chunk_refs), CHUNK_ENTITIES):
            part = chunk_refs[i : i + CHUNK_ENTITIES]
            done = i + CHUNK_ENTITIES >= len(chunk_refs)
            result.hours += _store_hours(conn, part, chunk, full=[h for h in chunk if h in full_hours and done])
    from ioc.store.ingest_hourly import refresh_ingest_hours
    from ioc.store.kpis import refresh_kpi_days  # the same marks say which counters' days changed

    result.kpi_days = refresh_kpi_days(conn, now, [(k, e, d) for k, e, d, _ in marks])
    result.ingest_hours = refresh_ingest_hours(conn, now, [(k, e, d) for k, e, d, _ in marks])
    with conn.transaction():
        if result.days or result.hours or marks:
            conn.execute(
                "INSERT INTO uptime_version (one, written_at) VALUES (true, clock_timestamp())"
                " ON CONFLICT (one) DO UPDATE SET written_at = excluded.written_at"
            )
        if marks:
            conn.execute(
                "DELETE FROM uptime_dirty d USING unnest(%s::text[], %s::text[], %s::date[], %s::timestamptz[])"
                " AS t(kind, entity, day, marked_at)"
                " WHERE d.kind = t.kind AND d.entity = t.entity AND d.day = t.day AND d.marked_at = t.marked_at",
                [list(col) for col in zip(*marks, strict=True)],
            )
        conn.execute("DELETE FROM uptime_daily WHERE timezone = %s AND day < %s", (timezone, first))
        conn.execute("DELETE FROM uptime_daily_filled WHERE timezone = %s AND day < %s", (timezone, first))
        lo = datetime.fromtimestamp(hours[0], UTC)
        conn.execute("DELETE FROM uptime_hourly WHERE hour < %s", (lo,))
        conn.execute("DELETE FROM uptime_hourly_filled WHERE hour < %s", (lo,))
    if result.days or result.hours:
        log.info("uptime: %d entity days, %d entity hours computed, %d marks taken", result.days, result.hours,
                 result.marks)  # fmt: skip
    return result


def _store_days(conn: psycopg.Connection, refs: list[str], chunk: list[date], timezone: str, full: list[date]) -> int:
    figures = compute_days(conn, refs, chunk[0], chunk[-1], timezone) if refs else {}
    wanted = set(refs)
    rows = []
    for (ref, day), (first_bucket, hours) in figures.items():
        if ref not in wanted or day not in chunk:
            continue
        kind, entity = ref.split("/", 1)
        sums = [float(v) for v in hours.sum(axis=1)]
        # Days before its first data (most of them on a new install) keep no per-hour figures: all zero.
        per_hour = [h.tolist() for h in hours] if sums[0] > 0 else [[], [], [], []]
        rows.append((timezone, kind, entity, day, *sums, datetime.fromtimestamp(first_bucket, UTC), *per_hour))
    kinds, ids = split_refs(refs)
    with conn.transaction():
        conn.execute(
            "DELETE FROM uptime_daily WHERE timezone = %s AND day = ANY(%s)"
            " AND (kind, entity) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            (timezone, chunk, kinds, ids),
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY uptime_daily (timezone, kind, entity, day, known_s, maintenance_s, down_s, unreachable_s,"
                " first_bucket, hours_known, hours_maintenance, hours_down, hours_unreachable) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        if full:
            conn.execute(
                "INSERT INTO uptime_daily_filled (timezone, day) SELECT %s, unnest(%s::date[]) ON CONFLICT DO NOTHING",
                (timezone, full),
            )
    return len(rows)


def _store_hours(conn: psycopg.Connection, refs: list[str], chunk: list[float], full: list[float]) -> int:
    lo, hi = chunk[0], chunk[-1] + HOUR
    figures = compute_hours(conn, refs, lo, hi) if refs else {}
    rows = []
    for ref, values in figures.items():
        kind, entity = ref.split("/", 1)
        for h in chunk:
            i = int((h - lo) // MINUTE)
            part = values[:, i : i + 60]
            sums = [float(v) for v in part.sum(axis=1)]
            per_minute = [m.tolist() for m in part] if sums[0] > 0 else [[], [], [], []]
            rows.append((kind, entity, datetime.fromtimestamp(h, UTC), *sums, *per_minute))
    kinds, ids = split_refs(refs)
    stamps = [datetime.fromtimestamp(h, UTC) for h in chunk]
    with conn.transaction():
        conn.execute(
            "DELETE FROM uptime_hourly WHERE hour = ANY(%s)"
            " AND (kind, entity) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            (stamps, kinds, ids),
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY uptime_hourly (kind, entity, hour, known_s, maintenance_s, down_s, unreachable_s,"
                " minutes_known, minutes_maintenance, minutes_down, minutes_unreachable) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        if full:
            conn.execute(
                "INSERT INTO uptime_hourly_filled (hour) SELECT unnest(%s::timestamptz[]) ON CONFLICT DO NOTHING",
                ([datetime.fromtimestamp(h, UTC) for h in full],),
            )
    return len(rows)
