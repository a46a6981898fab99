"""Entity histories from the store: what `ioc.uptime` computes uptime from.

An entity's metadata (`entities`), and on a grid of buckets its `up` rollups (`samples_1m` on the minute
grid, `samples_1h` on the hour grid), its status changes, its maintenance windows and its first data, for
it and for everything it depends on. `ioc.store.uptime` (live figures) and `ioc.store.uptime_daily` (the
stored days and hours) both read them here, so both compute the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg

from ioc.status import AnyWindow, heartbeat_s, matches, window_intervals
from ioc.store.migrate import detect_backend
from ioc.store.queries import load_windows
from ioc.store.uptime_stored import MINUTE, STORED_CACHE, numpy_cursor
from ioc.uptime import EntityHistory, Grid


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


_BACKENDS: dict[tuple[str, int | None, str], str] = {}  # a store's back end never changes once migrated


def _real_time_rollups(conn: psycopg.Connection) -> bool:
    """Whether `samples_1m` / `samples_1h` are TimescaleDB's real-time continuous aggregates."""
    key = (conn.info.host, conn.info.port, conn.info.dbname)
    if key not in _BACKENDS:
        _BACKENDS[key] = detect_backend(conn) or "postgres"
    return _BACKENDS[key] == "timescaledb"


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


def with_dependencies(refs: Iterable[str], meta: dict[str, EntityMeta]) -> list[str]:
    """`refs` (those known) and everything they depend on, transitively."""
    out: list[str] = []
    stack = list(refs)
    while stack:
        ref = stack.pop()
        if ref in out or ref not in meta:
            continue
        out.append(ref)
        stack.extend(meta[ref].depends_on)
    return out


def bucket_grid(start: float, end: float, width: float) -> Grid:
    """The grid of `width`-second buckets, aligned to `width`, from the one holding `start` up to `end`."""
    first = math.floor(start / width) * width
    return Grid(first, width, max(1, math.ceil((end - first) / width)))


@dataclass
class HistoryCache:
    """What the reads of one computation share: each entity's first data, the maintenance windows."""

    first: dict[str, float | None] = field(default_factory=dict)
    windows: list[AnyWindow] | None = None
    version: tuple[object, ...] | None = None  # of the stored figures (StoredCache), None: not cached

    def histories(
        self, conn: psycopg.Connection, refs: Sequence[str], meta: dict[str, EntityMeta], grid: Grid, end: float
    ) -> dict[str, EntityHistory]:
        return load_histories(conn, refs, meta, grid, end, self)


def load_histories(
    conn: psycopg.Connection,
    refs: Sequence[str],
    meta: dict[str, EntityMeta],
    grid: Grid,
    end: float,
    cache: HistoryCache | None = None,
) -> dict[str, EntityHistory]:
    """The histories of `refs` and of everything they depend on, on `grid` up to `end`."""
    cache = cache if cache is not None else HistoryCache()
    targets = with_dependencies(refs, meta)
    if not targets:
        return {}
    index = {ref: i for i, ref in enumerate(targets)}
    kinds = [meta[r].kind for r in targets]
    ids = [meta[r].id for r in targets]
    table = "samples_1m" if grid.width == MINUTE else "samples_1h"
    params = {"kinds": kinds, "ids": ids, "start": _dt(grid.start), "end": _dt(end), "w": grid.width,
              "s0": grid.start}  # fmt: skip
    # Flat arrays (entity, bucket, up count, up sum) per rollup row, accumulated in numpy: grouping by entity
    # and bucket in SQL sorted on text keys (and spilled to disk for the province's minutes). On TimescaleDB
    # the rollup is a real-time aggregate whose part past the watermark groups every series unless a filter
    # on series_id reaches it (a join does not): 50-200 ms for one agency's 20 services, 2-7 with it. The
    # plain back end keeps the join (the filter made the province's read 3-10x slower there).
    series_filter = "AND x.series_id = ANY (ARRAY(SELECT id FROM s))" if _real_time_rollups(conn) else ""
    with numpy_cursor(conn) as cur:
        row = cur.execute(
            f"""
            WITH s AS MATERIALIZED (
                SELECT e.i, s.id, s.metric = 'up' AS up
                FROM unnest(%(kinds)s::text[], %(ids)s::text[]) WITH ORDINALITY AS e(kind, entity, i)
                JOIN series s ON s.kind = e.kind AND s.entity = e.entity
            )
            SELECT array_agg((s.i - 1)::int4), array_agg(((date_part('epoch', x.bucket) - %(s0)s) / %(w)s)::int4),
                   array_agg(CASE WHEN s.up THEN x.cnt ELSE 0 END::float8),
                   array_agg(CASE WHEN s.up THEN x.total ELSE 0 END::float8)
            FROM s JOIN {table} x ON x.series_id = s.id AND x.bucket >= %(start)s AND x.bucket < %(end)s
            {series_filter}
            """,
            params,
        ).fetchone()
    up_total = np.zeros((len(targets), grid.n))
    up_cnt = np.zeros((len(targets), grid.n))
    heard = np.zeros((len(targets), grid.n), dtype=bool)
    if row is not None and row[0] is not None:
        who, b, cnt, total = row
        ok = (b >= 0) & (b < grid.n)
        who, b = who[ok], b[ok]
        heard[who, b] = True
        np.add.at(up_cnt, (who, b), cnt[ok])
        np.add.at(up_total, (who, b), total[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        up_mean = np.where(up_cnt > 0, up_total / np.where(up_cnt > 0, up_cnt, 1), np.nan)

    missing = [r for r in targets if r not in cache.first]
    if missing:
        # Kept per upkeep write too: it moves only with an entity's first_seen (in the key) or retention.
        key = ("first", cache.version, tuple(missing), tuple(meta[r].first_seen for r in missing))
        found = STORED_CACHE.get(key) if cache.version is not None else None
        if found is None:
            found = first_data(conn, missing, meta)
            if cache.version is not None:
                STORED_CACHE.put(key, found)
        cache.first.update(found)
    first = {r: cache.first[r] for r in targets if cache.first[r] is not None}

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

    if cache.windows is None:
        cache.windows = load_windows(conn)
    windows = cache.windows
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


def first_data(conn: psycopg.Connection, refs: Sequence[str], meta: dict[str, EntityMeta]) -> dict[str, float | None]:
    """Each entity's first data: the oldest minute of any of its series (its oldest hour once minutes
    expired), its first status message, its first_seen; None when never heard."""
    kinds = [meta[r].kind for r in refs]
    ids = [meta[r].id for r in refs]
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
        {"kinds": kinds, "ids": ids},
    ):
        ref = f"{kind}/{entity}"
        first[ref] = min(first.get(ref, math.inf), ts.timestamp())
    out: dict[str, float | None] = {}
    for ref in refs:
        value = first.get(ref)
        if value is not None and meta[ref].first_seen is not None:
            value = min(value, meta[ref].first_seen or math.inf)
        out[ref] = value
    return out
