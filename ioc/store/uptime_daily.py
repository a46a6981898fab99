"""Uptime per entity and closed local day, kept in `uptime_daily` by the store upkeep (migration 0620).

The figures are `ioc.uptime` on the hour grid, exactly as `ioc.store.uptime` computes them live: each day
is computed on a grid that starts `LOOKBACK_S` before it (so silence, carried `up` values and status
changes from before the day count as they do on a long grid) and the buckets starting in the day are
kept, summed and per hour. A day is computed once it is closed (`CLOSED_AFTER_S` past its end), and again
when `uptime_stale` says its data changed: the writer notes one row per batch holding samples older than
`LATE_S`, and a trigger one per change of a maintenance window or of an entity's dependencies, heartbeat
or labels. Readers trust a day only when it has a row and no stale row reaches it.

`uptime_hourly` does the same for the closed hours of the last `HORIZON_HOURS` on the minute grid (from
`MINUTE_LOOKBACK_S` before), for the 24-hour figures, from the same stale notes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

LATE_S = 300.0  # a batch holding a sample older than this notes `uptime_stale`
CLOSED_AFTER_S = 900.0  # a day is computed this long after its end (a late batch of it is noted by then)
LOOKBACK_S = 2 * 3600.0  # heartbeats are at most 5 minutes and `up` is carried one hour bucket at most
HORIZON_DAYS = 92  # closed days kept: 90 daily bars, and the day where a 90-day period begins
CHUNK_DAYS = 8  # days computed together (one read of the rollups)
HOUR_CLOSED_AFTER_S = LATE_S + 60.0  # an hour's sample arriving after this is noted late
HORIZON_HOURS = 26  # closed hours kept at one-minute resolution, for the 24-hour figures
MINUTE_LOOKBACK_S = 420.0  # heartbeats are at most 5 minutes (ioc.status.heartbeat_s), `up` carried as long
HOUR = 3600.0
MINUTE_S = 60.0

log = logging.getLogger(__name__)


def local_midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, datetime.min.time(), zone).timestamp()


NAMES = ("known_s", "maintenance_s", "down_s", "unreachable_s")


@dataclass(frozen=True, slots=True)
class StoredDays:
    """One entity's stored days from `first`: known, maintenance, down and unreachable seconds (4 x days), and
    for some days the same per hour bucket (first bucket start, 4 x buckets)."""

    first: date
    sums: np.ndarray
    hours: dict[date, tuple[float, np.ndarray]]

    def __len__(self) -> int:
        return int(self.sums.shape[1])

    def totals(self, lo: date, hi: date) -> dict[str, float]:
        """Totals of the days lo..hi - 1."""
        i, j = (lo - self.first).days, (hi - self.first).days
        return {name: math.fsum(self.sums[k, i:j]) for k, name in enumerate(NAMES)}

    def totals_from(self, day: date, lo: float, hi: float) -> dict[str, float]:
        """Totals of `day`'s buckets weighted by their overlap with [lo, hi), as `Account.totals` weighs them."""
        first_bucket, hours = self.hours[day]
        starts = first_bucket + HOUR * np.arange(hours.shape[1], dtype=np.float64)
        w = np.clip((np.minimum(hi, starts + HOUR) - np.maximum(lo, starts)) / HOUR, 0.0, 1.0)
        return {name: float(np.dot(hours[k], w)) for k, name in enumerate(NAMES)}


def compute_days(
    conn: psycopg.Connection, refs: Sequence[str], first: date, last: date, timezone: str
) -> dict[tuple[str, date], tuple[float, np.ndarray]]:
    """(ref, day) -> (first bucket start, 4 x n seconds per bucket) for the days `first`..`last`."""
    from ioc.store.uptime import HOUR as H
    from ioc.store.uptime import _grid, load_histories, load_meta
    from ioc.uptime import account

    zone = ZoneInfo(timezone)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    bounds = [local_midnight(d, zone) for d in [*days, last + timedelta(days=1)]]
    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    end = bounds[-1]
    grid = _grid(bounds[0] - LOOKBACK_S, end, H)
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


def stale_since(conn: psycopg.Connection, before: float | None = None) -> tuple[int | None, float | None]:
    """The largest id and the earliest `since` (Unix seconds, -inf for all time) of the stale notes noted
    before `before` (all of them when None)."""
    row = conn.execute(
        "SELECT max(id), extract(epoch FROM min(since))::float8 FROM uptime_stale"
        " WHERE %(before)s::timestamptz IS NULL OR noted_at < %(before)s",
        {"before": datetime.fromtimestamp(before, UTC) if before is not None else None},
    ).fetchone()
    if row is None or row[0] is None:
        return None, None
    return int(row[0]), float(row[1])


def stale_from(conn: psycopg.Connection, timezone: str) -> date | None:
    """The first local day whose stored figures may be stale (None: none)."""
    _, since = stale_since(conn)
    if since is None:
        return None
    if since == -math.inf:
        return date.min
    return datetime.fromtimestamp(since, ZoneInfo(timezone)).date()


def refresh_uptime_daily(conn: psycopg.Connection, timezone: str, now: float, before: float | None = None) -> int:
    """Compute the closed days that have no figures or stale ones; returns the number of days computed.

    `before`: only stale notes noted before it are taken (the start of the rollup refresh that preceded, so
    on TimescaleDB a note is not taken before its samples reached the rollups); None: all of them."""
    zone = ZoneInfo(timezone)
    last = datetime.fromtimestamp(now - CLOSED_AFTER_S, zone).date() - timedelta(days=1)
    first = last - timedelta(days=HORIZON_DAYS - 1)
    taken, since = stale_since(conn, before)
    refs = [f"{k}/{i}" for k, i in conn.execute("SELECT kind, id FROM entities ORDER BY kind, id")]
    todo: set[date] = set()
    if since is not None:
        from_day = first if since == -math.inf else max(first, datetime.fromtimestamp(since, zone).date())
        todo |= {from_day + timedelta(days=i) for i in range((last - from_day).days + 1)}
    # Days not stored for every entity (counted: reading every row took 0.5 s for 1,000 entities), and all
    # of them when an entity has no row for the last one (a new entity in place of one removed).
    have: dict[date, int] = dict(
        conn.execute(
            "SELECT day, count(*) FROM uptime_daily WHERE timezone = %s AND day BETWEEN %s AND %s GROUP BY day",
            (timezone, first, last),
        ).fetchall()
    )
    newcomer = conn.execute(
        "SELECT EXISTS (SELECT FROM entities e WHERE NOT EXISTS (SELECT FROM uptime_daily d"
        " WHERE d.timezone = %s AND d.day = %s AND d.kind = e.kind AND d.entity = e.id))",
        (timezone, last),
    ).fetchone()
    all_days = [first + timedelta(days=i) for i in range(HORIZON_DAYS)]
    todo |= {d for d in all_days if have.get(d) != len(refs) or (newcomer and newcomer[0])}
    days = sorted(todo)
    chunks: list[list[date]] = []
    for day in days:
        if chunks and (day - chunks[-1][-1]).days == 1 and len(chunks[-1]) < CHUNK_DAYS:
            chunks[-1].append(day)
        else:
            chunks.append([day])
    for chunk in chunks:
        figures = compute_days(conn, refs, chunk[0], chunk[-1], timezone) if refs else {}
        rows = []
        for (ref, day), (first_bucket, hours) in figures.items():
            kind, entity = ref.split("/", 1)
            known, maint, down, unreach = (float(v) for v in hours.sum(axis=1))
            up = max(0.0, known - maint - down)  # unreachable time counts as the entity's up time
            rows.append((kind, entity, day, timezone, known, maint, down, unreach, up,
                         datetime.fromtimestamp(first_bucket, UTC), *(h.tolist() for h in hours)))  # fmt: skip
        with conn.transaction():
            conn.execute(
                "DELETE FROM uptime_daily WHERE timezone = %s AND day BETWEEN %s AND %s",
                (timezone, chunk[0], chunk[-1]),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO uptime_daily (kind, entity, day, timezone, observed_s, maintenance_s, down_s,"
                    " unreachable_s, up_s, first_bucket, hours_observed, hours_maintenance, hours_down,"
                    " hours_unreachable) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
    n_hours = _refresh_hours(conn, refs, now, since)
    with conn.transaction():
        if taken is not None:
            conn.execute(
                "DELETE FROM uptime_stale WHERE id <= %(id)s"
                " AND (%(before)s::timestamptz IS NULL OR noted_at < %(before)s)",
                {"id": taken, "before": datetime.fromtimestamp(before, UTC) if before is not None else None},
            )
        conn.execute("DELETE FROM uptime_daily WHERE timezone = %s AND day < %s", (timezone, first))
    if days or n_hours:
        log.info("uptime_daily: %d days, %d hours computed", len(days), n_hours)
    return len(days)


def compute_hours(conn: psycopg.Connection, refs: Sequence[str], first: float, end: float) -> dict[str, np.ndarray]:
    """ref -> 4 x minutes of [first, end) (whole hours) on a minute grid from `MINUTE_LOOKBACK_S` before."""
    from ioc.store.uptime import MINUTE, _grid, load_histories, load_meta
    from ioc.uptime import account

    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    grid = _grid(first - MINUTE_LOOKBACK_S, end, MINUTE)
    accounts = account(load_histories(conn, refs, meta, grid, end), grid, end)
    inside = grid.starts() >= first
    zero = np.zeros((4, int(inside.sum())))
    return {
        ref: np.vstack([a.known_s[inside], a.maintenance_s[inside], a.down_s[inside], a.unreachable_s[inside]])
        if (a := accounts.get(ref)) is not None
        else zero
        for ref in refs
    }


def _refresh_hours(conn: psycopg.Connection, refs: Sequence[str], now: float, since: float | None) -> int:
    """Compute the closed hours of the last `HORIZON_HOURS` that are missing or stale."""
    last_end = math.floor((now - HOUR_CLOSED_AFTER_S) / HOUR) * HOUR
    first = last_end - HORIZON_HOURS * HOUR
    hours = [first + i * HOUR for i in range(HORIZON_HOURS)]
    have = {
        h.timestamp(): n
        for h, n in conn.execute(
            "SELECT hour, count(*) FROM uptime_hourly WHERE hour >= %s GROUP BY 1",
            (datetime.fromtimestamp(first, UTC),),
        )
    }
    todo = [h for h in hours if have.get(h) != len(refs) or (since is not None and h + HOUR > since)]
    if todo and refs:
        lo, hi = todo[0], todo[-1] + HOUR
        figures = compute_hours(conn, refs, lo, hi)
        rows = []
        for ref, values in figures.items():
            kind, entity = ref.split("/", 1)
            for h in todo:
                i = int((h - lo) // MINUTE_S)
                part = values[:, i : i + 60]
                rows.append((kind, entity, datetime.fromtimestamp(h, UTC), *(float(v) for v in part.sum(axis=1)),
                             *(m.tolist() for m in part)))  # fmt: skip
        with conn.transaction():
            conn.execute(
                "DELETE FROM uptime_hourly WHERE hour = ANY(%s)", ([datetime.fromtimestamp(h, UTC) for h in todo],)
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO uptime_hourly (kind, entity, hour, observed_s, maintenance_s, down_s, unreachable_s,"
                    " minutes_observed, minutes_maintenance, minutes_down, minutes_unreachable)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
    conn.execute("DELETE FROM uptime_hourly WHERE hour < %s", (datetime.fromtimestamp(first, UTC),))
    return len(todo)


@dataclass(frozen=True, slots=True)
class StoredHours:
    """One entity's stored hours from `first` to `end`: 4 x hours sums, and per minute the first hour's."""

    first: float
    end: float
    sums: np.ndarray
    first_minutes: np.ndarray

    def totals(self, lo: float, hi: float) -> dict[str, float]:
        """[lo, hi) weighted as `Account.totals` weighs the minutes, `lo` inside the first hour."""
        starts = self.first + MINUTE_S * np.arange(60, dtype=np.float64)
        w = np.clip((np.minimum(hi, starts + MINUTE_S) - np.maximum(lo, starts)) / MINUTE_S, 0.0, 1.0)
        return {
            name: float(np.dot(self.first_minutes[k], w)) + math.fsum(self.sums[k, 1:]) for k, name in enumerate(NAMES)
        }


def load_hours(conn: psycopg.Connection, refs: Sequence[str], first: float, end: float) -> dict[str, StoredHours]:
    """The stored hours [first, end) of `refs` that have every one of them."""
    if not refs or end <= first:
        return {}
    kinds, ids = zip(*(r.split("/", 1) for r in refs), strict=True)
    n = round((end - first) / HOUR)
    out: dict[str, StoredHours] = {}
    params = {"kinds": list(kinds), "ids": list(ids), "first": datetime.fromtimestamp(first, UTC),
              "end": datetime.fromtimestamp(end, UTC), "n": n}  # fmt: skip
    sums: dict[str, np.ndarray] = {}
    with conn.cursor(binary=True) as cur:
        cur.execute(
            """
            SELECT r.kind, r.entity, x.known, x.maint, x.down, x.unreach
            FROM unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity)
            CROSS JOIN LATERAL (
                SELECT count(*) AS n, array_agg(observed_s ORDER BY hour) AS known,
                       array_agg(maintenance_s ORDER BY hour) AS maint, array_agg(down_s ORDER BY hour) AS down,
                       array_agg(unreachable_s ORDER BY hour) AS unreach
                FROM uptime_hourly d
                WHERE d.kind = r.kind AND d.entity = r.entity AND d.hour >= %(first)s AND d.hour < %(end)s
            ) x
            WHERE x.n = %(n)s
            """,
            params,
        )
        for kind, entity, *values in cur:
            sums[f"{kind}/{entity}"] = np.array(values, dtype=np.float64)
        cur.execute(
            """
            SELECT d.kind, d.entity, minutes_observed, minutes_maintenance, minutes_down, minutes_unreachable
            FROM uptime_hourly d
            JOIN unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity) ON r.kind = d.kind AND r.entity = d.entity
            WHERE d.hour = %(first)s
            """,
            params,
        )
        for kind, entity, *minutes in cur:
            ref = f"{kind}/{entity}"
            if ref in sums:
                out[ref] = StoredHours(first, end, sums[ref], np.array(minutes, dtype=np.float64))
    return out


def load_days(
    conn: psycopg.Connection, refs: Sequence[str], timezone: str, first: date, last: date, hours_on: Sequence[date]
) -> dict[str, StoredDays]:
    """The stored days `first`..`last` of `refs` (only refs with every one of them); per hour for `hours_on`."""
    if not refs:
        return {}
    kinds, ids = zip(*(r.split("/", 1) for r in refs), strict=True)
    n = (last - first).days + 1
    params = {"kinds": list(kinds), "ids": list(ids), "tz": timezone, "first": first, "last": last,
              "hours_on": list(hours_on), "n": n}  # fmt: skip
    out: dict[str, StoredDays] = {}
    with conn.cursor(binary=True) as cur:
        cur.execute(
            """
            SELECT r.kind, r.entity, x.known, x.maint, x.down, x.unreach
            FROM unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity)
            CROSS JOIN LATERAL (  -- by entity: one agency's entities without reading every entity's days
                SELECT count(*) AS n, array_agg(observed_s ORDER BY day) AS known,
                       array_agg(maintenance_s ORDER BY day) AS maint, array_agg(down_s ORDER BY day) AS down,
                       array_agg(unreachable_s ORDER BY day) AS unreach
                FROM uptime_daily d
                WHERE d.kind = r.kind AND d.entity = r.entity AND d.timezone = %(tz)s
                  AND d.day BETWEEN %(first)s AND %(last)s
            ) x
            WHERE x.n = %(n)s
            """,
            params,
        )
        for kind, entity, *sums in cur:
            out[f"{kind}/{entity}"] = StoredDays(first, np.array(sums, dtype=np.float64), {})
        cur.execute(
            """
            SELECT d.kind, d.entity, d.day, extract(epoch FROM first_bucket)::float8,
                   hours_observed, hours_maintenance, hours_down, hours_unreachable
            FROM uptime_daily d
            JOIN unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity) ON r.kind = d.kind AND r.entity = d.entity
            WHERE d.timezone = %(tz)s AND d.day = ANY(%(hours_on)s::date[])
            """,
            params,
        )
        for kind, entity, day, first_bucket, *hours in cur:
            stored = out.get(f"{kind}/{entity}")
            if stored is not None:
                stored.hours[day] = (float(first_bucket), np.array(hours, dtype=np.float64))
    return {ref: d for ref, d in out.items() if all(day in d.hours for day in hours_on)}
