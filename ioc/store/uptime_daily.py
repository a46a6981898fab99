"""Stored uptime figures (migration 0700): closed local days in `uptime_daily`, the closed hours of the last
day in `uptime_hourly`, kept by the store upkeep, and what readers load of them.

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
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg.adapt import Loader

from ioc.store.uptime_marks import SETTLE_S, closed_before

LOOKBACK_S = 2 * 3600.0  # heartbeats are at most 5 minutes and `up` is carried one hour bucket at most
MINUTE_LOOKBACK_S = 420.0  # heartbeats are at most 5 minutes (ioc.status.heartbeat_s), `up` carried as long
HORIZON_DAYS = 92  # closed days kept: 90 daily bars, and the day where a 90-day period begins
HORIZON_HOURS = 26  # closed hours kept, for the 24-hour figures
CHUNK_DAYS = 8  # days computed together (one read of the rollups)
CHUNK_HOURS = 6
CHUNK_ENTITIES = 250  # entities computed together (memory: entities x buckets arrays, and their rows)
HOUR = 3600.0
MINUTE = 60.0
NAMES = ("known_s", "maintenance_s", "down_s", "unreachable_s")

log = logging.getLogger(__name__)


def local_midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, datetime.min.time(), zone).timestamp()


def utc_day_start(day: date) -> float:
    return datetime.combine(day, datetime.min.time(), UTC).timestamp()


def last_closed_day(now: float, zone: ZoneInfo) -> date:
    """The latest local day whose every hour bucket is closed."""
    end = closed_before(now)
    day = datetime.fromtimestamp(end, zone).date()
    while local_midnight(day, zone) > end:  # midnight not on the hour (a zone at :30)
        day -= timedelta(days=1)
    return day - timedelta(days=1)


# -- marks --------------------------------------------------------------------------------------------


def dirty_marks(conn: psycopg.Connection, refs: Sequence[str] | None = None) -> dict[str, float]:
    """Per entity, the start (Unix seconds, UTC day) of its earliest marked day; -inf: every day."""
    where, params = "", {}
    if refs is not None:
        kinds, ids = _split(refs)
        where = "WHERE (kind, entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[]))"
        params = {"kinds": kinds, "ids": ids}
    out: dict[str, float] = {}
    for kind, entity, day in conn.execute(f"SELECT kind, entity, min(day) FROM uptime_dirty {where} GROUP BY 1, 2",
                                          params):  # fmt: skip
        out[f"{kind}/{entity}"] = -math.inf if day == date.min else utc_day_start(day)
    return out


def _split(refs: Iterable[str]) -> tuple[list[str], list[str]]:
    kinds, ids = [], []
    for r in refs:
        k, i = r.split("/", 1)
        kinds.append(k)
        ids.append(i)
    return kinds, ids


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


def compute_hours(conn: psycopg.Connection, refs: Sequence[str], first: float, end: float) -> dict[str, np.ndarray]:
    """ref -> 4 x minutes of [first, end) (whole hours) on a minute grid from `MINUTE_LOOKBACK_S` before."""
    from ioc.store.uptime import MINUTE as M
    from ioc.store.uptime import _grid, load_histories, load_meta
    from ioc.uptime import account

    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    grid = _grid(first - MINUTE_LOOKBACK_S, end, M)
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
    left: bool = False  # unmarked work (of a first fill) left for the next runs: the time budget ran out


def refresh_uptime_daily(
    conn: psycopg.Connection, timezone: str, now: float, settle_s: float = SETTLE_S, budget_s: float = math.inf
) -> RefreshResult:
    """Compute the closed days and hours not computed yet, and the marked ones (marks at least `settle_s`
    old); `conn` in autocommit. Past `budget_s` of work no further chunk is begun, the marks stay for the
    next run (what was computed is kept)."""
    from ioc.store.uptime import load_meta

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
    from ioc.store.kpis import refresh_kpi_days  # the same marks say which counters' days changed

    result.kpi_days = refresh_kpi_days(conn, now, [(k, e, d) for k, e, d, _ in marks])
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
    kinds, ids = _split(refs)
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
    kinds, ids = _split(refs)
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


# -- reading ------------------------------------------------------------------------------------------


class StoredCache:
    """What readers loaded of the stored figures, kept while `uptime_version` (the upkeep's last write) stays
    the same: the province's 90 days of 500 services are read and made into `Day`s once per upkeep write,
    not once per request. Keys name the database, the version and everything the loaded value depends on."""

    def __init__(self, size: int = 16):
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def version(conn: psycopg.Connection) -> tuple[Any, ...] | None:
        row = conn.execute("SELECT written_at FROM uptime_version").fetchone()
        if row is None:
            return None
        info = conn.info
        return (info.host, info.port, info.dbname, row[0])

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        """Keys are (kind, version, ...): what an older version of the same database loaded goes."""
        version = key[1]
        with self._lock:
            for old in [k for k in self._items if k[1][:3] == version[:3] and k[1] != version]:
                del self._items[old]
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


STORED_CACHE = StoredCache()

_FLOAT8_ARRAY_OID = 1022
_INT4_ARRAY_OID = 1007
_ELEMENT = {_FLOAT8_ARRAY_OID: (">f8", 8), _INT4_ARRAY_OID: (">i4", 4)}


class _NumpyArrayLoader(Loader):
    """A one-dimensional binary float8[] / int4[] without nulls as a numpy array (psycopg's own loader makes
    a Python object per element: 90 days of 500 entities took ~50 ms)."""

    format = psycopg.pq.Format.BINARY

    def load(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        buf = bytes(data)
        ndim, has_null = int.from_bytes(buf[0:4], "big"), int.from_bytes(buf[4:8], "big")
        kind, width = _ELEMENT[self.oid]
        if ndim == 0:
            return np.empty(0, dtype=kind)
        if ndim != 1 or has_null:
            raise ValueError("a one-dimensional array without nulls was expected")
        n = int.from_bytes(buf[12:16], "big")
        items = np.frombuffer(buf, dtype=np.dtype([("len", ">i4"), ("v", kind)]), count=n, offset=20)
        return items["v"].astype(np.float64 if width == 8 else np.int64)


def numpy_cursor(conn: psycopg.Connection) -> psycopg.Cursor:
    cur = conn.cursor(binary=True)
    cur.adapters.register_loader(_FLOAT8_ARRAY_OID, _NumpyArrayLoader)
    cur.adapters.register_loader(_INT4_ARRAY_OID, _NumpyArrayLoader)
    return cur


@dataclass(frozen=True, slots=True)
class StoredDays:
    """One entity's usable stored days `first` .. `upto` - 1: known, maintenance, down and unreachable
    seconds (4 x days), and for some days the same per hour bucket (first bucket start, 4 x buckets)."""

    first: date
    upto: date
    sums: np.ndarray
    hours: dict[date, tuple[float, np.ndarray]]
    days_made: dict[tuple[date, ...], Any] = field(default_factory=dict)  # memo of `day_list` and `totals`

    def day_list(self, dates: Sequence[date], make: Any) -> Any:
        """`make(self, dates)`, once per dates (a loaded value may serve many requests, see StoredCache)."""
        key = tuple(dates)
        made = self.days_made.get(key)
        if made is None:
            made = self.days_made[key] = make(self, dates)
        return made

    def totals(self, lo: date, hi: date) -> dict[str, float]:
        """Totals of the days lo .. hi - 1."""
        key = (lo, hi)
        made = self.days_made.get(key)
        if made is None:
            i, j = (lo - self.first).days, (hi - self.first).days
            made = self.days_made[key] = {name: math.fsum(self.sums[k, i:j]) for k, name in enumerate(NAMES)}
        return made

    def totals_from(self, day: date, lo: float, hi: float) -> dict[str, float]:
        """Totals of `day`'s buckets weighted by their overlap with [lo, hi), as `Account.totals` weighs them."""
        first_bucket, hours = self.hours[day]
        starts = first_bucket + HOUR * np.arange(hours.shape[1], dtype=np.float64)
        w = np.clip((np.minimum(hi, starts + HOUR) - np.maximum(lo, starts)) / HOUR, 0.0, 1.0)
        return {name: float(np.dot(hours[k], w)) for k, name in enumerate(NAMES)}


def load_days(
    conn: psycopg.Connection,
    refs: Sequence[str],
    timezone: str,
    first: date,
    last: date,
    hours_on: Sequence[date],
    usable_before: Mapping[str, date],
) -> dict[str, StoredDays]:
    """Per ref, its stored days from `first` on without a gap, up to `last` and before `usable_before[ref]`
    (the first day marked changed); per hour for those of `hours_on` among them."""
    if not refs or last < first:
        return {}
    kinds, ids = _split(refs)
    n = (last - first).days + 1
    params = {"kinds": kinds, "ids": ids, "tz": timezone, "first": first, "last": last, "hours_on": list(hours_on)}
    out: dict[str, StoredDays] = {}
    with numpy_cursor(conn) as cur:
        cur.execute(
            """
            SELECT r.kind, r.entity, x.at, x.known, x.maint, x.down, x.unreach
            FROM unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity)
            CROSS JOIN LATERAL (  -- by entity: one agency's entities without reading every entity's days
                SELECT array_agg((day - %(first)s::date)::int4 ORDER BY day) AS at,
                       array_agg(known_s ORDER BY day) AS known,
                       array_agg(maintenance_s ORDER BY day) AS maint, array_agg(down_s ORDER BY day) AS down,
                       array_agg(unreachable_s ORDER BY day) AS unreach
                FROM uptime_daily d
                WHERE d.timezone = %(tz)s AND d.kind = r.kind AND d.entity = r.entity
                  AND d.day BETWEEN %(first)s AND %(last)s
            ) x
            WHERE x.at IS NOT NULL
            """,
            params,
        )
        for kind, entity, at, *sums in cur:
            ref = f"{kind}/{entity}"
            idx = np.asarray(at, dtype=np.int64)
            have = np.zeros(n + 1, dtype=bool)
            have[idx] = True
            count = int(np.argmin(have))  # the first day missing
            limit = usable_before.get(ref)
            if limit is not None:
                count = min(count, max(0, (limit - first).days))
            if count == 0:
                continue
            values = np.zeros((4, n))
            values[:, idx] = np.vstack(sums)
            out[ref] = StoredDays(first, first + timedelta(days=count), values[:, :count], {})
        wanted = [d for d in hours_on if first <= d <= last]
        if not out or not wanted:
            return out
        cur.execute(
            """
            SELECT d.kind, d.entity, d.day, extract(epoch FROM first_bucket)::float8,
                   hours_known, hours_maintenance, hours_down, hours_unreachable
            FROM uptime_daily d
            JOIN unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity) ON r.kind = d.kind AND r.entity = d.entity
            WHERE d.timezone = %(tz)s AND d.day = ANY(%(hours_on)s::date[])
            """,
            params,
        )
        for kind, entity, day, first_bucket, *hours in cur:
            stored = out.get(f"{kind}/{entity}")
            if stored is not None and day < stored.upto:
                stored.hours[day] = (float(first_bucket), np.vstack(hours))
    return out


@dataclass(frozen=True, slots=True)
class StoredHours:
    """One entity's usable stored hours from `first` to `upto`: 4 x hours, and per minute the first hour's."""

    first: float
    upto: float
    sums: np.ndarray
    first_minutes: np.ndarray

    def totals(self, lo: float) -> dict[str, float]:
        """[lo, upto) weighted as `Account.totals` weighs the minutes, `lo` inside the first hour (an hour with
        no known time keeps no minutes)."""
        starts = self.first + MINUTE * np.arange(self.first_minutes.shape[1], dtype=np.float64)
        w = np.clip((starts + MINUTE - np.maximum(lo, starts)) / MINUTE, 0.0, 1.0)
        return {
            name: float(np.dot(self.first_minutes[k], w)) + math.fsum(self.sums[k, 1:]) for k, name in enumerate(NAMES)
        }


def load_hours(
    conn: psycopg.Connection, refs: Sequence[str], first: float, end: float, usable_before: Mapping[str, float]
) -> dict[str, StoredHours]:
    """Per ref, its stored hours from `first` on without a gap, before `end` and `usable_before[ref]`."""
    if not refs or end <= first:
        return {}
    kinds, ids = _split(refs)
    n = round((end - first) / HOUR)
    params = {"kinds": kinds, "ids": ids, "first": datetime.fromtimestamp(first, UTC),
              "end": datetime.fromtimestamp(end, UTC), "f": first}  # fmt: skip
    out: dict[str, StoredHours] = {}
    with numpy_cursor(conn) as cur:
        cur.execute(
            """
            SELECT r.kind, r.entity, x.at, x.known, x.maint, x.down, x.unreach
            FROM unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity)
            CROSS JOIN LATERAL (
                SELECT array_agg(((extract(epoch FROM hour) - %(f)s) / 3600)::int4 ORDER BY hour) AS at,
                       array_agg(known_s ORDER BY hour) AS known, array_agg(maintenance_s ORDER BY hour) AS maint,
                       array_agg(down_s ORDER BY hour) AS down, array_agg(unreachable_s ORDER BY hour) AS unreach
                FROM uptime_hourly d
                WHERE d.kind = r.kind AND d.entity = r.entity AND d.hour >= %(first)s AND d.hour < %(end)s
            ) x
            WHERE x.at IS NOT NULL
            """,
            params,
        )
        sums: dict[str, tuple[int, np.ndarray]] = {}
        for kind, entity, at, *values in cur:
            ref = f"{kind}/{entity}"
            idx = np.asarray(at, dtype=np.int64)
            have = np.zeros(n + 1, dtype=bool)
            have[idx] = True
            count = int(np.argmin(have))
            limit = usable_before.get(ref)
            if limit is not None:
                count = 0 if limit == -math.inf else min(count, max(0, math.floor((limit - first) / HOUR)))
            if count == 0:
                continue
            arr = np.zeros((4, n))
            arr[:, idx] = np.vstack(values)
            sums[ref] = (count, arr[:, :count])
        if not sums:
            return out
        cur.execute(
            """
            SELECT d.kind, d.entity, minutes_known, minutes_maintenance, minutes_down, minutes_unreachable
            FROM uptime_hourly d
            JOIN unnest(%(kinds)s::text[], %(ids)s::text[]) r(kind, entity) ON r.kind = d.kind AND r.entity = d.entity
            WHERE d.hour = %(first)s
            """,
            params,
        )
        for kind, entity, *minutes in cur:
            ref = f"{kind}/{entity}"
            if ref in sums:
                count, stored = sums[ref]
                out[ref] = StoredHours(first, first + count * HOUR, stored, np.vstack(minutes))
    return out
