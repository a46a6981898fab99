"""Reading the stored uptime figures (migration 0700, kept by ioc.store.uptime_daily): an entity's usable
stored days and hours, the marks that make them unusable, numpy loading of their arrays, and the cache
that keeps what was loaded until the upkeep writes again."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg.adapt import Loader

HOUR = 3600.0
MINUTE = 60.0
NAMES = ("known_s", "maintenance_s", "down_s", "unreachable_s")


def local_midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, datetime.min.time(), zone).timestamp()


def utc_day_start(day: date) -> float:
    return datetime.combine(day, datetime.min.time(), UTC).timestamp()


def dirty_marks(conn: psycopg.Connection, refs: Sequence[str] | None = None) -> dict[str, float]:
    """Per entity, the start (Unix seconds, UTC day) of its earliest marked day; -inf: every day."""
    where, params = "", {}
    if refs is not None:
        kinds, ids = split_refs(refs)
        where = "WHERE (kind, entity) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::text[]))"
        params = {"kinds": kinds, "ids": ids}
    out: dict[str, float] = {}
    for kind, entity, day in conn.execute(f"SELECT kind, entity, min(day) FROM uptime_dirty {where} GROUP BY 1, 2",
                                          params):  # fmt: skip
        out[f"{kind}/{entity}"] = -math.inf if day == date.min else utc_day_start(day)
    return out


def split_refs(refs: Iterable[str]) -> tuple[list[str], list[str]]:
    kinds, ids = [], []
    for r in refs:
        k, i = r.split("/", 1)
        kinds.append(k)
        ids.append(i)
    return kinds, ids


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
    kinds, ids = split_refs(refs)
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
    kinds, ids = split_refs(refs)
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
