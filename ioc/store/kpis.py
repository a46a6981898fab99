"""An agency's KPIs from the store: counter increases of its services and kiosks (`ioc.kpis`).

Whole hours are read from the hour rollup: an hour whose smallest value is not below the largest of the
series' hour before has no reset, and its increase is its largest value minus that one. Hours with a
drop (a reset), and each series' first hour, are counted exactly from the raw samples (or, once those
are past their retention, as the hour's largest value: the count since the reset). Ranges or steps that
are not whole hours are counted from the raw samples throughout.

The hourly increases of closed UTC days are stored per series in `kpi_daily` by the store upkeep
(`refresh_kpi_days`, migration 0710); a whole-hour range reads those and counts live from the first day
of any series that has none or whose entity is marked changed in `uptime_dirty` (normally today).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

from ioc.kpis import COUNTERS, GAUGES, KpiInputs, compute, deltas, increase
from ioc.store.uptime_marks import closed_before

log = logging.getLogger(__name__)

HOUR = 3600.0
LOOKBACK_S = 86400.0  # how far before `from` the hour path looks for each series' previous hour
MAX_PERIODS = 5000
DAY = 86400.0
HORIZON_DAYS = 92  # closed UTC days kept in kpi_daily
CHUNK_DAYS = 8


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class KpiResult:
    kpis: dict[str, float | None]
    series: list[tuple[float, dict[str, float | None]]]


def agency_series(conn: psycopg.Connection, agency: str) -> list[tuple[int, str]]:
    """(series id, metric) of the standard counters and gauge of the agency's services and kiosks."""
    rows = conn.execute(
        """
        SELECT s.id, s.metric FROM series s JOIN entities e ON e.kind = s.kind AND e.id = s.entity
        WHERE e.agency = %s AND e.kind IN ('service', 'kiosk') AND s.metric = ANY(%s)
        ORDER BY s.id
        """,
        (agency, [*COUNTERS, *GAUGES]),
    ).fetchall()
    return [(int(i), m) for i, m in rows]


def _raw_increases(conn: psycopg.Connection, ids: list[int], edges: np.ndarray) -> dict[int, np.ndarray]:
    start, end = float(edges[0]), float(edges[-1])
    previous: dict[int, float] = dict(
        conn.execute(
            """
            SELECT f.sid, p.value FROM unnest(%s::int[]) f(sid)
            CROSS JOIN LATERAL (SELECT value FROM samples WHERE series_id = f.sid AND ts < %s
                                ORDER BY ts DESC LIMIT 1) p
            """,
            (ids, _dt(start)),
        ).fetchall()
    )
    rows = conn.execute(
        "SELECT series_id, extract(epoch FROM ts)::float8, value FROM samples"
        " WHERE series_id = ANY(%s) AND ts >= %s AND ts < %s ORDER BY series_id, ts",
        (ids, _dt(start), _dt(end)),
    ).fetchall()
    out: dict[int, np.ndarray] = {sid: np.zeros(len(edges) - 1) for sid in ids}
    if not rows:
        return out
    data = np.array([(r[0], r[1], r[2]) for r in rows], dtype=np.float64)
    splits = np.flatnonzero(np.diff(data[:, 0])) + 1
    for chunk in np.split(data, splits):
        sid = int(chunk[0, 0])
        out[sid] = increase(chunk[:, 1], chunk[:, 2], edges, previous.get(sid))
    return out


def _hourly_increases(conn: psycopg.Connection, ids: list[int], edges: np.ndarray) -> dict[int, np.ndarray]:
    start, end = float(edges[0]), float(edges[-1])
    rows = conn.execute(
        "SELECT series_id, extract(epoch FROM bucket)::float8, min_value, max_value FROM samples_1h"
        " WHERE series_id = ANY(%s) AND bucket >= %s AND bucket < %s ORDER BY series_id, bucket",
        (ids, _dt(start - LOOKBACK_S), _dt(end)),
    ).fetchall()
    out: dict[int, np.ndarray] = {sid: np.zeros(len(edges) - 1) for sid in ids}
    if not rows:
        return out
    data = np.array(rows, dtype=np.float64)
    sid_col, hour, lo, hi = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
    first = np.concatenate(([True], sid_col[1:] != sid_col[:-1]))
    prev_hi = np.concatenate(([np.nan], hi[:-1]))
    clean = ~first & (lo >= prev_hi)
    inc = np.where(clean, hi - prev_hi, np.nan)
    wanted = hour >= start
    flagged = np.flatnonzero(np.isnan(inc) & wanted)
    if flagged.size:
        exact = _exact_hours(conn, sid_col[flagged].astype(int).tolist(), hour[flagged].tolist())
        for i in flagged:
            key = (int(sid_col[i]), float(hour[i]))
            inc[i] = exact.get(key, hi[i] if not first[i] else hi[i] - lo[i])
    keep = wanted & ~np.isnan(inc)
    for sid_value in np.unique(sid_col[keep]):
        mine = keep & (sid_col == sid_value)
        which = np.searchsorted(edges, hour[mine], side="right") - 1
        ok = (which >= 0) & (which < len(edges) - 1)
        out[int(sid_value)] = np.bincount(which[ok], weights=inc[mine][ok], minlength=len(edges) - 1)
    return out


def _exact_hours(conn: psycopg.Connection, sids: list[int], hours: list[float]) -> dict[tuple[int, float], float]:
    """The increase within each (series, hour) from raw samples, when the hour still has them."""
    rows = conn.execute(
        """
        SELECT f.sid, extract(epoch FROM f.h)::float8, x.inside, x.value
        FROM unnest(%s::int[], %s::timestamptz[]) f(sid, h)
        CROSS JOIN LATERAL (
            (SELECT false AS inside, ts, value FROM samples WHERE series_id = f.sid AND ts < f.h
             ORDER BY ts DESC LIMIT 1)
            UNION ALL
            (SELECT true, ts, value FROM samples
             WHERE series_id = f.sid AND ts >= f.h AND ts < f.h + interval '1 hour' ORDER BY ts)
        ) x
        ORDER BY 1, 2, x.ts
        """,
        (sids, [_dt(h) for h in hours]),
    ).fetchall()
    grouped: dict[tuple[int, float], tuple[list[float | None], list[float]]] = {}
    for sid, h, inside, value in rows:
        prev, values = grouped.setdefault((int(sid), float(h)), ([None], []))
        if inside:
            values.append(value)
        else:
            prev[0] = value
    return {key: float(np.sum(deltas(np.array(values), prev[0]))) for key, (prev, values) in grouped.items() if values}


def _gauge_last(conn: psycopg.Connection, ids: list[int], edges: np.ndarray) -> list[float | None]:
    """Per period, the sum over the gauge's series of each one's last value before the period's end (a series
    silent in a period keeps its value from the one before)."""
    n = len(edges) - 1
    if not ids:
        return [None] * n
    # Each lookup within its own period, so a partitioned store reads one day's partition per lookup.
    rows = conn.execute(
        """
        SELECT g.sid, e.i, l.value FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY e(lo, hi, i)
        CROSS JOIN unnest(%s::int[]) g(sid)
        CROSS JOIN LATERAL (SELECT value FROM samples WHERE series_id = g.sid AND ts >= e.lo AND ts < e.hi
                            ORDER BY ts DESC LIMIT 1) l
        """,
        ([_dt(float(t)) for t in edges[:-1]], [_dt(float(t)) for t in edges[1:]], ids),
    ).fetchall()
    last: dict[int, list[float | None]] = {sid: [None] * n for sid in ids}
    for sid, i, value in rows:
        last[int(sid)][int(i) - 1] = float(value)
    out: list[float | None] = []
    carried: dict[int, float | None] = dict.fromkeys(ids)
    for i in range(n):
        for sid in ids:
            if last[sid][i] is not None:
                carried[sid] = last[sid][i]
        known = [v for v in carried.values() if v is not None]
        out.append(float(sum(known)) if known else None)
    return out


def period_edges(start: float, end: float, step: float) -> np.ndarray:
    n = max(1, math.ceil((end - start) / step - 1e-9))
    if n > MAX_PERIODS:
        raise ValueError(f"more than {MAX_PERIODS} steps: widen the step or narrow the range")
    edges = start + step * np.arange(n + 1, dtype=np.float64)
    edges[-1] = min(edges[-1], end) if n > 1 else end
    return edges


def _utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def _day_start(day: date) -> float:
    return datetime.combine(day, datetime.min.time(), UTC).timestamp()


def _stored_hour_increases(
    conn: psycopg.Connection, agency: str, ids: list[int], start: float, end: float
) -> np.ndarray:
    """ids x hours of [start, end) (whole hours): each series' increase per hour, from `kpi_daily` up to the
    first day any series lacks or has marked, live (the hour rollups) from there."""
    n = round((end - start) / HOUR)
    out = np.zeros((len(ids), n))
    row_of = {sid: i for i, sid in enumerate(ids)}
    first_day, last_day = _utc_day(start), _utc_day(end - 1)
    days = (last_day - first_day).days + 1
    have = np.zeros((len(ids), days + 1), dtype=bool)
    offset = round((start - _day_start(first_day)) / HOUR)  # hours of the first day before `start`
    for sid, day, values in conn.execute(
        "SELECT series_id, day, increases FROM kpi_daily WHERE series_id = ANY(%s) AND day BETWEEN %s AND %s",
        (ids, first_day, last_day),
    ):
        i, d = row_of[sid], (day - first_day).days
        have[i, d] = True
        lo = d * 24 - offset
        vals = np.asarray(values, dtype=np.float64)
        a, b = max(0, lo), min(n, lo + 24)
        if a < b:
            out[i, a:b] = vals[a - lo : b - lo]
    usable = int(np.min(np.argmin(have, axis=1))) if ids else 0
    marked = conn.execute(
        "SELECT min(d.day) FROM uptime_dirty d JOIN series s ON s.kind = d.kind AND s.entity = d.entity"
        " WHERE s.id = ANY(%s)",
        (ids,),
    ).fetchone()
    if marked is not None and marked[0] is not None:
        usable = min(usable, max(0, (marked[0] - first_day).days))
    live_from = max(start, _day_start(first_day + timedelta(days=usable)))
    if live_from < end:
        k = round((live_from - start) / HOUR)
        edges = live_from + HOUR * np.arange(n - k + 1, dtype=np.float64)
        live = _hourly_increases(conn, ids, edges)
        for sid, values in live.items():
            out[row_of[sid], k:] = values
    return out


def agency_kpis(conn: psycopg.Connection, agency: str, start: float, end: float, step: float) -> KpiResult:
    """The agency's KPIs over [start, end) and per step from `start`."""
    edges = period_edges(start, end, step)
    series = agency_series(conn, agency)
    counters = [(i, m) for i, m in series if m in COUNTERS]
    gauges = [i for i, m in series if m in GAUGES]
    ids = [i for i, _ in counters]
    whole_hours = all(float(e) % HOUR == 0 for e in edges)
    increases = {name: np.zeros(len(edges) - 1) for name in COUNTERS}
    if ids and whole_hours:
        hourly = _stored_hour_increases(conn, agency, ids, float(edges[0]), float(edges[-1]))
        hours = float(edges[0]) + HOUR * np.arange(hourly.shape[1], dtype=np.float64)
        which = np.searchsorted(edges, hours, side="right") - 1
        for row, (_, metric) in enumerate(counters):
            increases[metric] = increases[metric] + np.bincount(which, weights=hourly[row], minlength=len(edges) - 1)
    elif ids:
        per_series = _raw_increases(conn, ids, edges)
        for sid, metric in counters:
            increases[metric] = increases[metric] + per_series[sid]
    overall, per_period = compute(KpiInputs(increases, _gauge_last(conn, gauges, edges)))
    return KpiResult(overall, list(zip([float(e) for e in edges[:-1]], per_period, strict=True)))


def refresh_kpi_days(conn: psycopg.Connection, now: float, marks: Sequence[tuple[str, str, date]]) -> int:
    """Compute the closed UTC days of `kpi_daily` not computed yet, and those of the marked (entity, day)
    pairs and the day after each; returns the (series, day) rows written. `conn` in autocommit."""
    end = closed_before(now)
    last = _utc_day(end) - timedelta(days=1)
    first = last - timedelta(days=HORIZON_DAYS - 1)
    horizon = [first + timedelta(days=i) for i in range(HORIZON_DAYS)]
    rows = conn.execute(
        "SELECT s.id, s.kind, s.entity FROM series s WHERE s.metric = ANY(%s) AND s.kind IN ('service', 'kiosk')",
        (list(COUNTERS),),
    ).fetchall()
    by_entity: dict[tuple[str, str], list[int]] = {}
    for sid, kind, entity in rows:
        by_entity.setdefault((kind, entity), []).append(int(sid))
    every = sorted(int(r[0]) for r in rows)
    filled = {d for (d,) in conn.execute("SELECT day FROM kpi_daily_filled WHERE day >= %s", (first,))}
    todo: dict[date, set[int]] = {d: set(every) for d in horizon if d not in filled}
    full = set(todo)
    if last in filled:  # new counter series (none of their days stored): every day of them
        have = {sid for (sid,) in conn.execute("SELECT series_id FROM kpi_daily WHERE day = %s", (last,))}
        newcomers = set(every) - have
        for d in horizon if newcomers else ():
            todo.setdefault(d, set()).update(newcomers)
    for kind, entity, day in marks:
        sids = by_entity.get((kind, entity))
        if not sids:
            continue
        days = horizon if day == date.min else [day, day + timedelta(days=1)]
        for d in days:
            if first <= d <= last:
                todo.setdefault(d, set()).update(sids)
    written = 0
    chunks: list[list[date]] = []
    for d in sorted(todo):
        if chunks and (d - chunks[-1][-1]).days == 1 and len(chunks[-1]) < CHUNK_DAYS:
            chunks[-1].append(d)
        else:
            chunks.append([d])
    for chunk in chunks:
        sids = sorted(set().union(*(todo[d] for d in chunk)))
        lo = _day_start(chunk[0])
        edges = lo + HOUR * np.arange(24 * len(chunk) + 1, dtype=np.float64)
        hourly = _hourly_increases(conn, sids, edges) if sids else {}
        with conn.transaction():
            conn.execute("DELETE FROM kpi_daily WHERE day = ANY(%s) AND series_id = ANY(%s)", (chunk, sids))
            with conn.cursor() as cur, cur.copy("COPY kpi_daily (series_id, day, increases) FROM STDIN") as copy:
                for sid, values in hourly.items():
                    for k, d in enumerate(chunk):
                        copy.write_row((sid, d, values[24 * k : 24 * k + 24].tolist()))
                        written += 1
            done = [d for d in chunk if d in full]
            if done:
                conn.execute("INSERT INTO kpi_daily_filled SELECT unnest(%s::date[]) ON CONFLICT DO NOTHING", (done,))
    with conn.transaction():
        conn.execute("DELETE FROM kpi_daily WHERE day < %s", (first,))
        conn.execute("DELETE FROM kpi_daily_filled WHERE day < %s", (first,))
    if written:
        log.info("kpi_daily: %d series days computed", written)
    return written
