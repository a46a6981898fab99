"""Read queries shared by the HTTP API, the public status page and the dashboards' tests.

Every query here runs unchanged on plain PostgreSQL and on TimescaleDB: samples are read from
`samples`, or from the rollups `samples_1m` / `samples_1h`, which have the same columns on both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from ioc.status import (
    AnyWindow,
    EntityFacts,
    MaintenanceWindow,
    OneOffWindow,
    Silence,
    StatusInputs,
    compute_statuses,
)

# Raw samples one series query may return; beyond this the caller must aggregate with a step.
MAX_RAW_SAMPLES = 200_000
# Buckets one aggregated series query may return.
MAX_BUCKETS = 20_000


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _as_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- entities and their status -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityRow:
    kind: str
    id: str
    name: str | None
    site: str | None
    agency: str | None
    system: str | None
    assigned: bool
    last_seen: datetime | None
    facts: EntityFacts


def _labels_from_matchers(raw: object) -> dict[str, str]:
    """Matchers as stored: `{"label": "value"}`, or a list of `{"name", "value"}` objects."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(m["name"]): str(m["value"]) for m in raw if isinstance(m, dict) and "name" in m and "value" in m}
    return {}


# Entities whose latest `up` sample of the last hour (across label sets; a tie counts the lowest) is 0. An
# older one no longer says anything (the entity is silent, or only its other metrics still come).
UP_ZERO_SQL = """
SELECT l.kind, l.entity FROM (
    SELECT DISTINCT ON (s.kind, s.entity) s.kind, s.entity, x.value
    FROM series s
    CROSS JOIN LATERAL (SELECT ts, value FROM samples WHERE series_id = s.id
                        AND ts > %(now)s - interval '1 hour' AND ts <= %(now)s ORDER BY ts DESC LIMIT 1) x
    WHERE s.metric = 'up'
    ORDER BY s.kind, s.entity, x.ts DESC, x.value
) l WHERE l.value = 0
"""


def load_entities(conn: psycopg.Connection, now: float | None = None) -> list[EntityRow]:
    at = _as_datetime(now) if now is not None else datetime.now(UTC)
    up_zero = {(k, e) for k, e in conn.execute(UP_ZERO_SQL, {"now": at})}
    rows = conn.execute(
        """
        SELECT kind, id, name, site, agency, system, assigned, last_seen, mqtt_status, mqtt_status_at,
               interval_s, depends_on
        FROM entities ORDER BY kind, id
        """
    ).fetchall()
    entities = []
    for kind, ident, name, site, agency, system, assigned, last_seen, mqtt_status, mqtt_at, interval, deps in rows:
        heard = max((t for t in (last_seen, mqtt_at) if t is not None), default=None)
        facts = EntityFacts(
            kind=kind,
            id=ident,
            site=site,
            agency=agency,
            last_seen=_epoch(heard),
            mqtt_status=mqtt_status,
            interval_s=interval,
            depends_on=tuple(deps or ()),
            up_zero=(kind, ident) in up_zero,
        )
        entities.append(EntityRow(kind, ident, name, site, agency, system, assigned, last_seen, facts))
    return entities


def load_status_inputs(conn: psycopg.Connection, entities: Sequence[EntityRow], now: float) -> StatusInputs:
    """Everything besides the entities that status depends on: silences, windows, firing alerts."""
    silences = tuple(
        Silence(_labels_from_matchers(matchers), starts.timestamp(), ends.timestamp())
        for matchers, starts, ends in conn.execute(
            "SELECT matchers, starts_at, ends_at FROM silences "
            "WHERE ends_at > %(now)s AND starts_at <= %(now)s AND (expired_at IS NULL OR expired_at > %(now)s)",
            {"now": _as_datetime(now)},
        )
    )
    windows = tuple(load_windows(conn))
    firing = frozenset(
        (kind, entity)
        for kind, entity in conn.execute(
            "SELECT DISTINCT kind, entity FROM alerts "
            "WHERE state = 'firing' AND severity IN ('warning', 'critical') AND kind IS NOT NULL "
            "AND entity IS NOT NULL"
        )
    )
    return StatusInputs(tuple(e.facts for e in entities), silences, windows, firing)


def load_windows(conn: psycopg.Connection) -> list[AnyWindow]:
    """Every maintenance window, recurring and one-off."""
    windows: list[AnyWindow] = []
    for matchers, weekdays, start_time, duration_s, tz, starts, ends in conn.execute(
        "SELECT matchers, weekdays, start_time, extract(epoch FROM duration)::float8, timezone, starts_at, ends_at "
        "FROM maintenance_windows ORDER BY id"
    ):
        labels = _labels_from_matchers(matchers)
        if starts is not None:
            windows.append(OneOffWindow(labels, starts.timestamp(), ends.timestamp()))
        else:
            windows.append(MaintenanceWindow(labels, tuple(weekdays), start_time, float(duration_s), tz))
    return windows


@dataclass(frozen=True, slots=True)
class EntityStatus:
    row: EntityRow
    status: str


def entity_statuses(conn: psycopg.Connection, now: float) -> list[EntityStatus]:
    """Every entity, assigned or heard on the wire only, with its status at `now`."""
    entities = load_entities(conn, now)
    statuses = compute_statuses(load_status_inputs(conn, entities, now), now)
    return [EntityStatus(row, statuses[row.facts.ref]) for row in entities]


def find_entity(conn: psycopg.Connection, kind: str, entity: str) -> tuple[str | None] | None:
    """`(agency,)` of a known entity (in the inventory, heard on the wire, or with stored series)."""
    row = conn.execute("SELECT agency FROM entities WHERE kind = %s AND id = %s", (kind, entity)).fetchone()
    if row is not None:
        return (row[0],)
    if conn.execute("SELECT 1 FROM series WHERE kind = %s AND entity = %s LIMIT 1", (kind, entity)).fetchone():
        return (None,)
    return None


# --- series ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesResult:
    points: list[tuple[float, float]]  # every matching sample (or bucket average), in time order
    series: list[tuple[dict[str, str], list[tuple[float, float]]]]  # per label set


class TooManyPoints(ValueError):
    pass


def rollup_for(step_s: float) -> str | None:
    """The rollup whose buckets nest exactly inside buckets of `step_s`, or None for raw samples."""
    if step_s % 3600 == 0:
        return "samples_1h"
    if step_s % 60 == 0:
        return "samples_1m"
    return None


def query_series(
    conn: psycopg.Connection,
    kind: str,
    entity: str,
    metric: str,
    start: float,
    end: float,
    *,
    step_s: float | None = None,
    labels: Mapping[str, str] | None = None,
) -> SeriesResult:
    """Samples of one metric of one entity in [start, end], optionally averaged per step.

    With a step, buckets are aligned to multiples of the step since the Unix epoch, and the range is
    widened to whole buckets, so rollups and raw samples give exactly the same averages.
    """
    params: dict[str, object] = {
        "kind": kind,
        "entity": entity,
        "metric": metric,
        "labels": Jsonb(dict(labels or {})),
    }
    if step_s is None:
        params.update(start=_as_datetime(start), end=_as_datetime(end), limit=MAX_RAW_SAMPLES + 1)
        rows = conn.execute(
            """
            SELECT s.labels, extract(epoch FROM x.ts)::float8, x.value
            FROM series s JOIN samples x ON x.series_id = s.id
            WHERE s.kind = %(kind)s AND s.entity = %(entity)s AND s.metric = %(metric)s
              AND s.labels @> %(labels)s AND x.ts >= %(start)s AND x.ts <= %(end)s
            ORDER BY x.ts, s.labels::text
            LIMIT %(limit)s
            """,
            params,
        ).fetchall()
        if len(rows) > MAX_RAW_SAMPLES:
            raise TooManyPoints(f"more than {MAX_RAW_SAMPLES} samples: narrow the range or give a step")
        points = [(ts, value) for _, ts, value in rows]
        by_labels: dict[str, tuple[dict[str, str], list[tuple[float, float]]]] = {}
        for series_labels, ts, value in rows:
            key = repr(sorted(series_labels.items()))
            by_labels.setdefault(key, (series_labels, []))[1].append((ts, value))
        return SeriesResult(points, [by_labels[k] for k in sorted(by_labels)])

    first = math.floor(start / step_s) * step_s
    last = math.floor(end / step_s) * step_s
    if (last - first) / step_s + 1 > MAX_BUCKETS:
        raise TooManyPoints(f"more than {MAX_BUCKETS} steps: widen the step or narrow the range")
    params.update(step=float(step_s), start=_as_datetime(first), end=_as_datetime(last + step_s))
    table = rollup_for(step_s)
    if table is None:
        source = "SELECT series_id, ts AS t, 1::bigint AS cnt, value AS total FROM samples"
        time_col = "ts"
    else:
        source = f"SELECT series_id, bucket AS t, cnt, total FROM {table}"
        time_col = "bucket"
    rows = conn.execute(
        f"""
        SELECT s.labels, floor(extract(epoch FROM x.t) / %(step)s) * %(step)s AS b,
               sum(x.cnt)::float8, sum(x.total)
        FROM series s JOIN ({source} WHERE {time_col} >= %(start)s AND {time_col} < %(end)s) x
             ON x.series_id = s.id
        WHERE s.kind = %(kind)s AND s.entity = %(entity)s AND s.metric = %(metric)s AND s.labels @> %(labels)s
        GROUP BY s.labels, b
        ORDER BY b, s.labels::text
        """,
        params,
    ).fetchall()
    overall: dict[float, list[float]] = {}
    grouped: dict[str, tuple[dict[str, str], list[tuple[float, float]]]] = {}
    for series_labels, bucket, cnt, total in rows:
        bucket = float(bucket)
        acc = overall.setdefault(bucket, [0.0, 0.0])
        acc[0] += cnt
        acc[1] += total
        key = repr(sorted(series_labels.items()))
        grouped.setdefault(key, (series_labels, []))[1].append((bucket, total / cnt))
    points = [(bucket, total / cnt) for bucket, (cnt, total) in sorted(overall.items())]
    return SeriesResult(points, [grouped[k] for k in sorted(grouped)])


# --- agencies -------------------------------------------------------------------------------------


def agency_name(conn: psycopg.Connection, agency: str) -> str | None:
    row = conn.execute("SELECT name FROM agencies WHERE id = %s", (agency,)).fetchone()
    return row[0] if row else None


def agency_names(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT id, name FROM agencies").fetchall())
