"""Uptime (contract section 9) as a pure function of bucketed history: no store, no wall time.

Time is cut into buckets of one width (a minute or an hour, as the rollups are). In each bucket an
entity is, for a fraction of it:

- **unknown** before its first data (not counted at all);
- in **maintenance** while a window that matches it is open (neither up nor down);
- **down** while its `up` samples say 0 (the bucket's mean of `up`), while it is `offline` (from an
  `offline` status to the next `online`), or while it is silent past its heartbeat;
- **unreachable**, the part of its down time during which something it depends on (directly or
  further up) is down or in maintenance: charged to that root cause, not to the entity, so it counts
  as up time of the entity;
- **up** otherwise.

`uptime_pct` = 100 x up time / (known time - maintenance time), `None` without known time.
Overlaps of causes within one bucket are taken as the largest of them (their union is not known
below the bucket width).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Grid:
    """`n` buckets of `width` seconds from `start` (Unix seconds)."""

    start: float
    width: float
    n: int

    @property
    def end(self) -> float:
        return self.start + self.width * self.n

    def starts(self) -> np.ndarray:
        return self.start + self.width * np.arange(self.n, dtype=np.float64)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals as sorted, disjoint intervals (empty ones dropped)."""
    out: list[Interval] = []
    for lo, hi in sorted(i for i in intervals if i[1] > i[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def coverage(intervals: Iterable[Interval], grid: Grid) -> np.ndarray:
    """The fraction of each bucket that the union of `intervals` covers."""
    covered = np.zeros(grid.n, dtype=np.float64)
    merged = merge(intervals)
    if not merged:
        return covered
    starts = grid.starts()
    for lo, hi in merged:
        first = max(0, int((lo - grid.start) // grid.width))
        last = min(grid.n - 1, int((hi - grid.start) // grid.width))
        if last < first:
            continue
        b = starts[first : last + 1]
        covered[first : last + 1] += np.clip(np.minimum(hi, b + grid.width) - np.maximum(lo, b), 0.0, None)
    return np.clip(covered / grid.width, 0.0, 1.0)


def span_weights(grid: Grid, lo: float, end: float) -> np.ndarray:
    """The share of each bucket's counted time that lies in [lo, end), for an account computed up to `end`.

    An account counts a bucket only up to `end`, so the last, partial bucket is weighted by its counted
    part (from its start to `end`), not by the whole width: [lo, end) holds all of it when lo is before it.
    """
    starts = grid.starts()
    stops = np.minimum(starts + grid.width, end)
    counted = stops - starts
    inside = stops - np.maximum(lo, starts)
    share = np.divide(inside, counted, out=np.zeros(grid.n), where=counted > 0)
    return np.clip(share, 0.0, 1.0)


def offline_intervals(changes: Sequence[tuple[float, str]], end: float) -> list[Interval]:
    """From each `offline` to the next `online` (or `end`); `changes` are (ts, status) in time order."""
    out: list[Interval] = []
    since: float | None = None
    for ts, status in changes:
        if status == "offline" and since is None:
            since = ts
        elif status == "online" and since is not None:
            out.append((since, ts))
            since = None
    if since is not None and since < end:
        out.append((since, end))
    return out


def silence_intervals(
    heard: np.ndarray, grid: Grid, heartbeat_s: float, known_from: float, end: float
) -> list[Interval]:
    """Down time from silence: from a heartbeat after the last bucket with data to the next one with data.

    The last sample is taken at the end of its bucket (the bucket width is the resolution).
    """
    idx = np.flatnonzero(heard)
    heard_ends = grid.start + (idx + 1) * grid.width
    next_starts = np.append(grid.start + idx * grid.width, end)
    if known_from < grid.start:  # it had data before the grid: take it as heard at the grid's start
        heard_ends = np.insert(heard_ends, 0, grid.start)
    else:
        next_starts = next_starts[1:]
    lo = heard_ends + heartbeat_s
    hi = np.minimum(next_starts, end)
    keep = lo < hi
    return list(zip(lo[keep].tolist(), hi[keep].tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class EntityHistory:
    """What one entity's uptime is computed from, on a grid."""

    ref: str
    heartbeat_s: float
    known_from: float | None  # its first data (sample or status), None: never heard
    up_mean: np.ndarray  # mean of `up` per bucket, NaN where it has no `up` sample
    heard: np.ndarray  # bool per bucket: any sample of any of its series
    status_changes: Sequence[tuple[float, str]] = ()  # (ts, online/offline), time order, from before the grid
    maintenance: Sequence[Interval] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Account:
    """Seconds per bucket of one entity; up time is what is left of the known time."""

    grid: Grid
    known_s: np.ndarray
    maintenance_s: np.ndarray
    down_s: np.ndarray
    unreachable_s: np.ndarray
    bad_frac: np.ndarray = field(repr=False)  # own down or maintenance fraction, what dependents inherit

    @property
    def up_s(self) -> np.ndarray:
        return np.clip(self.known_s - self.maintenance_s - self.down_s, 0.0, None)

    def totals(self, weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones(self.grid.n) if weights is None else weights
        return {
            "known_s": float(np.dot(self.known_s, w)),
            "maintenance_s": float(np.dot(self.maintenance_s, w)),
            "down_s": float(np.dot(self.down_s, w)),
            "unreachable_s": float(np.dot(self.unreachable_s, w)),
        }

    def uptime_pct(self, lo: float | None = None, hi: float | None = None) -> float | None:
        """Uptime over [lo, hi) (default the whole grid), or None without known time outside maintenance."""
        if lo is None and hi is None:
            return pct(self.totals())
        span = (self.grid.start if lo is None else lo, self.grid.end if hi is None else hi)
        return pct(self.totals(coverage([span], self.grid)))

    def by_period(self, boundaries: Sequence[float]) -> list[dict[str, float]]:
        """Totals per period between consecutive `boundaries` (a bucket goes to the period it starts in)."""
        edges = np.asarray(boundaries, dtype=np.float64)
        which = np.searchsorted(edges, self.grid.starts(), side="right") - 1
        inside = (which >= 0) & (which < len(edges) - 1)
        n = len(edges) - 1
        sums = {
            name: np.bincount(which[inside], weights=values[inside], minlength=n)
            for name, values in (
                ("known_s", self.known_s), ("maintenance_s", self.maintenance_s),
                ("down_s", self.down_s), ("unreachable_s", self.unreachable_s),
            )
        }  # fmt: skip
        return [{name: float(v[i]) for name, v in sums.items()} for i in range(n)]


def pct(totals: Mapping[str, float], digits: int = 3) -> float | None:
    counted = totals["known_s"] - totals["maintenance_s"]
    if counted <= 1e-9:
        return None
    return round(100.0 * max(0.0, counted - totals["down_s"]) / counted, digits)


def carry_forward(values: np.ndarray, limit: int) -> np.ndarray:
    """NaN buckets take the last value before them, at most `limit` buckets on (a probe's `up` holds
    until its next sample; past the heartbeat silence decides)."""
    n = values.shape[0]
    idx = np.where(~np.isnan(values), np.arange(n), -1)
    last = np.maximum.accumulate(idx) if n else idx
    ok = (last >= 0) & (np.arange(n) - last <= limit)
    return np.where(ok, values[np.clip(last, 0, None)], np.nan)


def _own(history: EntityHistory, grid: Grid, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Known, maintenance and own-down fractions per bucket."""
    if history.known_from is None:
        zero = np.zeros(grid.n)
        return zero, zero, zero
    known = coverage([(history.known_from, end)], grid)
    maintenance = np.minimum(coverage(history.maintenance, grid), known) if history.maintenance else np.zeros(grid.n)
    offline = coverage(offline_intervals(history.status_changes, end), grid)
    heard = history.heard.copy()
    if history.status_changes:
        at = np.array([ts for ts, _ in history.status_changes], dtype=np.float64)
        b = ((at - grid.start) // grid.width).astype(np.int64)
        heard[b[(b >= 0) & (b < grid.n)]] = True
    silent = coverage(silence_intervals(heard, grid, history.heartbeat_s, history.known_from, end), grid)
    up = carry_forward(history.up_mean, max(1, math.ceil(history.heartbeat_s / grid.width)))
    probe = np.where(np.isnan(up), 0.0, 1.0 - np.clip(up, 0.0, 1.0))
    down = np.minimum(np.maximum.reduce([offline, silent, probe]), known - maintenance)
    return known, maintenance, np.clip(down, 0.0, None)


def _closure(ref: str, graph: Mapping[str, tuple[str, ...]]) -> list[str]:
    seen: list[str] = []
    stack = list(graph.get(ref, ()))
    while stack:
        dep = stack.pop()
        if dep == ref or dep in seen:
            continue
        seen.append(dep)
        stack.extend(graph.get(dep, ()))
    return seen


def own_all(histories: Sequence[EntityHistory], grid: Grid, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_own` of every history at once (entities x buckets), the same figures: one pass of numpy over the
    province's entities instead of a dozen small operations per entity."""
    m, n, w = len(histories), grid.n, grid.width
    starts = grid.starts()
    stops = np.minimum(starts + w, end)
    known_from = np.array([np.inf if h.known_from is None else h.known_from for h in histories])
    known = np.clip((np.minimum(end, starts + w)[None, :] - np.maximum(known_from[:, None], starts[None, :])) / w,
                    0.0, 1.0)  # fmt: skip
    heard = np.vstack([h.heard for h in histories]) if m else np.zeros((0, n), dtype=bool)
    maintenance = np.zeros((m, n))
    offline = np.zeros((m, n))
    for i, h in enumerate(histories):
        if h.known_from is None:
            continue
        if h.maintenance:
            maintenance[i] = np.minimum(coverage(h.maintenance, grid), known[i])
        if h.status_changes:
            offline[i] = coverage(offline_intervals(h.status_changes, end), grid)
            at = np.array([ts for ts, _ in h.status_changes], dtype=np.float64)
            b = ((at - grid.start) // w).astype(np.int64)
            row = heard[i].copy()
            row[b[(b >= 0) & (b < n)]] = True
            heard[i] = row
    # Silence: in a bucket with no data, from a heartbeat after the end of the last bucket with data (the
    # grid's start when its data began before the grid) to the bucket's end (the next data is later).
    cols = np.arange(n)
    last = np.maximum.accumulate(np.where(heard, cols[None, :], -1), axis=1) if n else np.zeros((m, 0), int)
    last_end = np.where(
        last >= 0, grid.start + (last + 1) * w, np.where(known_from < grid.start, grid.start, np.nan)[:, None]
    )
    beat = np.array([h.heartbeat_s for h in histories])
    with np.errstate(invalid="ignore"):
        silent = np.clip(stops[None, :] - np.maximum(last_end + beat[:, None], starts[None, :]), 0.0, None)
    silent = np.where(heard | np.isnan(silent), 0.0, np.clip(silent / w, 0.0, 1.0))
    # `up`: carried forward up to the heartbeat (in buckets, at least one).
    up_mean = np.vstack([h.up_mean for h in histories]) if m else np.zeros((0, n))
    limit = np.maximum(1, np.ceil(beat / w)).astype(np.int64)
    have = np.maximum.accumulate(np.where(~np.isnan(up_mean), cols[None, :], -1), axis=1) if n else last
    ok = (have >= 0) & (cols[None, :] - have <= limit[:, None])
    up = np.where(ok, np.take_along_axis(up_mean, np.clip(have, 0, None), axis=1), np.nan)
    probe = np.where(np.isnan(up), 0.0, 1.0 - np.clip(up, 0.0, 1.0))
    down = np.minimum(np.maximum(np.maximum(offline, silent), probe), known - maintenance)
    never = np.isinf(known_from)
    known[never] = 0.0
    return known, maintenance, np.where(never[:, None], 0.0, np.clip(down, 0.0, None))


def account(histories: Mapping[str, EntityHistory], grid: Grid, end: float) -> dict[str, Account]:
    """Every entity's account; dependencies missing from `histories` are taken as never down."""
    refs = list(histories)
    known_all, maint_all, down_all = own_all([histories[r] for r in refs], grid, end)
    own = {ref: (known_all[i], maint_all[i], down_all[i]) for i, ref in enumerate(refs)}
    bad = {ref: np.maximum(maint, down) for ref, (_, maint, down) in own.items()}
    graph = {ref: h.depends_on for ref, h in histories.items()}
    out: dict[str, Account] = {}
    for ref, (known, maint, down) in own.items():
        roots = [bad[d] for d in _closure(ref, graph) if d in bad]
        root_bad = np.maximum.reduce(roots) if roots else np.zeros(grid.n)
        unreachable = np.minimum(down, root_bad)
        w = grid.width
        out[ref] = Account(grid, known * w, maint * w, (down - unreachable) * w, unreachable * w, bad[ref])
    return out
