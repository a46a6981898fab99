"""Uptime of entities from the store: rollups, status changes and maintenance windows into `ioc.uptime`.

The last 24 hours are read at one-minute resolution (`samples_1m`), longer periods and daily figures
at one hour (`samples_1h`), so a history published late with its own `ts` counts like a live one.
Closed days and hours are read from `uptime_daily` / `uptime_hourly` where the store upkeep has stored
them and no mark says they changed since (`ioc.store.uptime_daily`, the same computation); the rest,
normally today and the current hour, is computed here from the rollups. The histories themselves are
read by `ioc.store.uptime_history`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from ioc.store.uptime_daily import LOOKBACK_S, MINUTE_LOOKBACK_S
from ioc.store.uptime_history import EntityMeta, HistoryCache, bucket_grid, load_histories, load_meta, with_dependencies
from ioc.store.uptime_marks import closed_before
from ioc.store.uptime_stored import (
    HOUR,
    MINUTE,
    NAMES,
    STORED_CACHE,
    StoredDays,
    StoredHours,
    dirty_marks,
    load_days,
    load_hours,
    local_midnight,
)
from ioc.uptime import Account, account, pct, span_weights

PERIODS: dict[str, float] = {"24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}


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
    """Every ref's account on the hour grid over [start, end), computed live."""
    meta = meta if meta is not None else load_meta(conn)
    grid = bucket_grid(start, end, HOUR)
    return account(load_histories(conn, refs, meta, grid, end), grid, end)


def uptimes(
    conn: psycopg.Connection,
    refs: Sequence[str],
    now: float,
    *,
    periods: Sequence[str] = ("24h", "7d", "30d", "90d"),
    days: int = 0,
    timezone: str = "Asia/Ho_Chi_Minh",
    stored: bool = True,
) -> dict[str, Uptime]:
    """Uptime of each `kind/id` over each period up to `now`, and over the last `days` local days.

    Closed days and hours come from `uptime_daily` / `uptime_hourly` where the store upkeep has computed
    them and nothing since marked them changed (`ioc.store.uptime_daily`); what follows the first day or
    hour an entity lacks is computed live, from the rollups (`stored=False`: everything live)."""
    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    if not refs:
        return {}
    zone = ZoneInfo(timezone)
    dates, bounds = day_boundaries(now, days, timezone) if days else ([], [])
    today = datetime.fromtimestamp(now, zone).date()
    starts = {p: datetime.fromtimestamp(now - PERIODS[p], zone).date() for p in periods if p != "24h"}
    first_day = min([*starts.values(), *dates[:1]], default=today)
    marked = _marked_since(conn, refs, meta) if stored else {}
    version = STORED_CACHE.version(conn) if stored else None
    stored_days: dict[str, StoredDays] = {}
    if stored and first_day < today:
        usable = {r: datetime.fromtimestamp(t, zone).date() for r, t in marked.items() if t > -math.inf}
        usable |= {r: first_day for r, t in marked.items() if t == -math.inf}
        hours_on = sorted(set(starts.values()))
        key = ("days", version, timezone, first_day, today, tuple(refs), tuple(hours_on), tuple(sorted(usable.items())))
        found = STORED_CACHE.get(key) if version is not None else None
        stored_days = found if found is not None else {}
        if found is None:
            stored_days = load_days(conn, refs, timezone, first_day, today - timedelta(days=1), hours_on, usable)
            if version is not None:
                STORED_CACHE.put(key, stored_days)
    cache = HistoryCache(version=version)
    totals: dict[str, dict[str, dict[str, float]]] = {r: {} for r in refs}
    day_lists: dict[str, list[Day]] = {r: [] for r in refs}
    if starts or dates:
        by_live: dict[date, list[str]] = defaultdict(list)
        for ref in refs:
            by_live[stored_days[ref].upto if ref in stored_days else first_day].append(ref)
        for live_day, group in by_live.items():
            _day_figures(conn, group, meta, cache, now, zone, live_day, starts, dates, bounds, stored_days,
                         totals, day_lists)  # fmt: skip
    if "24h" in periods:
        for ref, t in _minute_totals(conn, refs, meta, cache, now, marked, stored).items():
            totals[ref]["24h"] = t
    return {
        ref: Uptime({p: pct(totals[ref][p]) for p in periods}, day_lists[ref], {p: totals[ref][p] for p in periods})
        for ref in refs
    }


def _marked_since(conn: psycopg.Connection, refs: Sequence[str], meta: dict[str, EntityMeta]) -> dict[str, float]:
    """Per ref, from when its stored figures may be stale: its own marks and those of what it depends on."""
    closure = {ref: with_dependencies([ref], meta) for ref in refs}
    marks = dirty_marks(conn, sorted(set().union(*closure.values())))
    if not marks:
        return {}
    out = {}
    for ref, deps in closure.items():
        since = min((marks[d] for d in deps if d in marks), default=None)
        if since is not None:
            out[ref] = since
    return out


def _sum(parts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    return {k: sum(p[k] for p in parts) for k in NAMES}


def _day_figures(
    conn: psycopg.Connection,
    refs: list[str],
    meta: dict[str, EntityMeta],
    cache: HistoryCache,
    now: float,
    zone: ZoneInfo,
    live_day: date,
    starts: Mapping[str, date],
    dates: Sequence[date],
    bounds: Sequence[float],
    stored_days: Mapping[str, StoredDays],
    totals: dict[str, dict[str, dict[str, float]]],
    day_lists: dict[str, list[Day]],
) -> None:
    """The periods' and days' figures of refs stored up to `live_day`, live (hour grid) from it."""
    live_start = local_midnight(live_day, zone)
    if any(ref in stored_days for ref in refs):  # stored up to live_day: live from a lookback before it
        grid_start = live_start - LOOKBACK_S
    else:
        grid_start = min([now - PERIODS[p] for p in starts] + ([bounds[0]] if dates else [])) - LOOKBACK_S
    grid = bucket_grid(grid_start, now, HOUR)
    live = account(cache.histories(conn, refs, meta, grid, now), grid, now)
    after = grid.starts() >= live_start
    live_dates = [d for d in dates if d >= live_day]
    edges = [local_midnight(d, zone) for d in live_dates] + [bounds[-1]] if live_dates else []
    weights = {p: span_weights(grid, now - PERIODS[p], now) for p in starts}
    weights_after = {p: w * after for p, w in weights.items()}
    for ref in refs:
        acc = live[ref]
        days = stored_days.get(ref)
        for period, first in starts.items():
            if days is None or first >= days.upto:
                totals[ref][period] = acc.totals(weights[period])
                continue
            totals[ref][period] = _sum([
                days.totals_from(first, now - PERIODS[period], now), days.totals(first + timedelta(days=1), days.upto),
                acc.totals(weights_after[period]),
            ])  # fmt: skip
        stored_dates = [d for d in dates if d < live_day]
        out = list(days.day_list(stored_dates, _stored_day_list)) if days is not None and stored_dates else []
        if live_dates:
            out += [_day(d, t) for d, t in zip(live_dates, acc.by_period(edges), strict=True)]
        day_lists[ref] = out


def _minute_totals(
    conn: psycopg.Connection,
    refs: Sequence[str],
    meta: dict[str, EntityMeta],
    cache: HistoryCache,
    now: float,
    marked: Mapping[str, float],
    stored: bool,
) -> dict[str, dict[str, float]]:
    """The last 24 hours' totals at one-minute resolution: the closed hours stored in `uptime_hourly` (the
    first weighted per minute), the minutes after them live."""
    lo = now - PERIODS["24h"]
    first = math.floor(lo / HOUR) * HOUR
    hours: dict[str, StoredHours] = {}
    if stored:
        end = closed_before(now)
        key = ("hours", cache.version, first, end, tuple(refs), tuple(sorted(marked.items())))
        found = STORED_CACHE.get(key) if cache.version is not None else None
        hours = found if found is not None else {}
        if found is None:
            hours = load_hours(conn, refs, first, end, marked)
            if cache.version is not None:
                STORED_CACHE.put(key, hours)
    by_live: dict[float, list[str]] = defaultdict(list)
    for ref in refs:
        by_live[hours[ref].upto if ref in hours else first].append(ref)
    out: dict[str, dict[str, float]] = {}
    for live_from, group in by_live.items():
        grid = bucket_grid((live_from if group[0] in hours else lo) - MINUTE_LOOKBACK_S, now, MINUTE)
        live = account(cache.histories(conn, group, meta, grid, now), grid, now)
        weights = span_weights(grid, lo, now) * (grid.starts() >= live_from)
        for ref in group:
            parts = [live[ref].totals(weights)]
            if ref in hours:
                parts.append(hours[ref].totals(lo))
            out[ref] = _sum(parts)
    return out


def _day(d: date, t: Mapping[str, float]) -> Day:
    return Day(d, pct(t, 2), round(t["down_s"]), round(t["maintenance_s"]), round(t["unreachable_s"]))


def _stored_day_list(days: StoredDays, dates: Sequence[date]) -> list[Day]:
    """`Day`s of stored days, as `_day` makes them (the rounding to whole seconds in numpy, half to even as
    Python's `round`; the percentage by `pct` itself, so both paths give the same figures)."""
    i = (dates[0] - days.first).days
    block = days.sums[:, i : i + len(dates)]
    down, maint, unreach = (np.rint(block[k]).astype(np.int64).tolist() for k in (2, 1, 3))
    known, maint_s, down_s = block[0].tolist(), block[1].tolist(), block[2].tolist()
    counted = [k - m for k, m in zip(known, maint_s, strict=True)]
    return [
        Day(d, None if c <= 1e-9 else round(100.0 * max(0.0, c - dn) / c, 2), dr, mr, ur)  # as `pct` does
        for d, c, dn, dr, mr, ur in zip(dates, counted, down_s, down, maint, unreach, strict=True)
    ]


def period_totals(
    conn: psycopg.Connection, refs: Sequence[str], start: float, end: float
) -> dict[str, dict[str, float]]:
    """Known, maintenance, down and unreachable seconds of each `kind/id` over [start, end), to the hour."""
    meta = load_meta(conn)
    refs = [r for r in refs if r in meta]
    accounts = hourly_accounts(conn, refs, start - LOOKBACK_S, end, meta)
    return {ref: accounts[ref].totals(span_weights(accounts[ref].grid, start, end)) for ref in refs}
