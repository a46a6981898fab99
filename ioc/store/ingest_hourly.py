"""Samples stored per closed hour over every series (`ingest_hourly`, migration 0850), kept by the store upkeep.

The wall's "samples stored per second" over weeks reads these rows (`ioc_views.ingest_counts`) instead of
summing every series' hour rollups. An hour is computed once closed (`closed_before`), again when a mark
in `uptime_dirty` says a late sample changed its UTC day (the marks ioc.store.uptime_daily takes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime

import psycopg

from ioc.store.uptime_marks import closed_before

log = logging.getLogger(__name__)
HOUR = 3600.0
DAY = 86400.0
HORIZON_DAYS = 92  # as uptime_daily and kpi_daily: the longest range a board reads

_STORE_SQL = """
INSERT INTO ingest_hourly (hour, samples)
SELECT h.hour, coalesce(c.samples, 0)
FROM generate_series(%(lo)s::timestamptz, %(hi)s::timestamptz - interval '1 hour', interval '1 hour') AS h(hour)
LEFT JOIN (SELECT bucket, sum(cnt)::bigint AS samples FROM samples_1h
           WHERE bucket >= %(lo)s AND bucket < %(hi)s GROUP BY bucket) c ON c.bucket = h.hour
ON CONFLICT (hour) DO UPDATE SET samples = excluded.samples, computed_at = excluded.computed_at
"""


def refresh_ingest_hours(conn: psycopg.Connection, now: float, marks: Sequence[tuple[str, str, date]]) -> int:
    """Count the closed hours not counted yet and those of the marked UTC days; returns the hours written.
    `conn` in autocommit. A mark of every day (a late status) changes no sample count."""
    end = closed_before(now)
    first = math.floor(end / DAY) * DAY - HORIZON_DAYS * DAY
    stored = {h.timestamp() for (h,) in conn.execute("SELECT hour FROM ingest_hourly WHERE hour >= %s", (_at(first),))}
    todo = {first + i * HOUR for i in range(int((end - first) / HOUR))} - stored
    for _, _, day in marks:
        if day == date.min:
            continue
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        todo.update(h for h in (lo + i * HOUR for i in range(24)) if first <= h < end)
    written = 0
    for lo, hi in _runs(sorted(todo)):
        with conn.transaction():
            conn.execute(_STORE_SQL, {"lo": _at(lo), "hi": _at(hi)})
        written += int((hi - lo) / HOUR)
    conn.execute("DELETE FROM ingest_hourly WHERE hour < %s", (_at(first),))
    if written:
        log.info("ingest_hourly: %d hours counted", written)
    return written


def _runs(hours: list[float]) -> list[tuple[float, float]]:
    """Adjacent hours as [lo, hi) runs."""
    runs: list[tuple[float, float]] = []
    for h in hours:
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + HOUR)
        else:
            runs.append((h, h + HOUR))
    return runs


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
