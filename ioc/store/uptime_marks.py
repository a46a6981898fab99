"""What a committed batch changed of the stored uptime figures (migration 0700): the writer's side.

The store upkeep computes an hour (and a day) once it is closed: `CLOSED_AFTER_S` past its end
(`closed_before`). A sample or status of an hour that may already be computed is late: the batch marks
the (entity, UTC day) pairs its late rows touched in `uptime_dirty`, one UPSERT of the distinct pairs,
so the upkeep recomputes only those. Live data (the current hour) marks nothing and costs one numpy
comparison per batch. A sample also changes the day after it when it lies in its last two hours (silence
and `up` are carried over), so both are marked. A late status may change every day after it (the
entity stays offline until its next status): it marks every day of the entity; a sample before the
entity's first data changes the days between them, which the trigger on `entities.first_seen` marks.
A writer marks a pair at most once per `MARK_TTL_S`; the upkeep takes marks only
once `SETTLE_S` old, so a mark this cache left out is never taken before a later one is written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import psycopg

from ioc.model import StatusUpdate
from ioc.store.pg_binary import PG_EPOCH_S

HOUR = 3600.0
CLOSED_AFTER_S = 180.0  # an hour (a day) is computed this long after its end
LATE_MARGIN_S = 60.0  # rows are late this long before their hour can be computed (commit time, clocks)
MARK_TTL_S = 30.0
SETTLE_S = 90.0  # > MARK_TTL_S plus the longest commit delay expected
DAY_US = 86_400_000_000
LOOKBACK_US = 7_200_000_000  # a day's figures depend on the 2 hours before it (ioc.store.uptime_daily.LOOKBACK_S)
ALL_DAYS = "0001-01-01"

_MARK_SERIES_SQL = """
INSERT INTO uptime_dirty AS d (kind, entity, day, marked_at)
SELECT kind, entity, day, clock_timestamp() FROM (
    SELECT DISTINCT s.kind, s.entity, date '2000-01-01' + u.d AS day
    FROM unnest(%s::int4[], %s::int4[]) AS u(sid, d) JOIN series s ON s.id = u.sid
) p
ORDER BY kind, entity, day
ON CONFLICT (kind, entity, day) DO UPDATE SET marked_at = excluded.marked_at
"""
_MARK_ENTITIES_SQL = """
INSERT INTO uptime_dirty AS d (kind, entity, day, marked_at)
SELECT k, i, date '0001-01-01', clock_timestamp()
FROM (SELECT DISTINCT k, i FROM unnest(%s::text[], %s::text[]) AS u(k, i)) p
ORDER BY 1, 2
ON CONFLICT (kind, entity, day) DO UPDATE SET marked_at = excluded.marked_at
"""


def closed_before(now: float) -> float:
    """The end of the last hour the upkeep may have computed at `now` (Unix seconds)."""
    return math.floor((now - CLOSED_AFTER_S) / HOUR) * HOUR


class LateMarks:
    """The writer's marks of late rows, and which (series, UTC day) pairs it marked in the last `MARK_TTL_S`."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._seen: dict[int, float] = {}

    def late_before(self) -> float:
        """Rows before this time (Unix seconds) are late."""
        return closed_before(self._clock() + LATE_MARGIN_S)

    def mark(
        self, conn: psycopg.Connection, sid: np.ndarray, ts_us: np.ndarray, statuses: Sequence[StatusUpdate]
    ) -> int:
        """Mark the late rows' (entity, UTC day) pairs in the batch's transaction; returns the pairs sent."""
        before = self.late_before()
        before_us = int((before - PG_EPOCH_S) * 1e6)
        sent = 0
        if ts_us.shape[0]:
            late = ts_us < before_us
            if late.any():
                s, t = sid[late].astype(np.int64) * (1 << 22), ts_us[late]
                keys = np.unique(np.concatenate((s + t // DAY_US, s + (t + LOOKBACK_US) // DAY_US)))
                fresh = self._fresh(keys.tolist())
                if fresh:
                    arr = np.asarray(fresh, dtype=np.int64)
                    conn.execute(_MARK_SERIES_SQL, ((arr >> 22).tolist(), (arr & ((1 << 22) - 1)).tolist()))
                    sent += len(fresh)
        old = [s for s in statuses if s.ts < before]
        if old:
            conn.execute(_MARK_ENTITIES_SQL, ([s.kind for s in old], [s.entity for s in old]))
            sent += len(old)
        return sent

    def _fresh(self, keys: list[int]) -> list[int]:
        now = time.monotonic()
        if len(self._seen) > 100_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < MARK_TTL_S}
        fresh = [k for k in keys if now - self._seen.get(k, -math.inf) >= MARK_TTL_S]
        for k in fresh:
            self._seen[k] = now
        return fresh

    def forget(self) -> None:
        """After a failed transaction: its marks were rolled back."""
        self._seen.clear()
