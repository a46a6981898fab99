"""Evaluation per rule type over a committed batch's arrays, at ingest speed.

Each (series, rule) pair is matched once and gets a slot. A batch's samples are grouped by series with
one sort; threshold conditions are judged for every sample of every pair at once, and only the pairs
where something can change (a breach, or an alert already open) advance their condition sample by
sample in Python. Window rules keep a buffer per series and are judged per series; the anomaly rule
judges the newest sample against a baseline cached per series and hour.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from alerts.detectors.anomaly import Baseline, anomaly_verdict, same_hour_of_week
from alerts.detectors.burn_rate import is_burning
from alerts.detectors.threshold import Condition, advance, compare
from alerts.detectors.window import counter_increase
from alerts.last_seen import LastSeen
from alerts.rule_types import (
    OPS,
    AnomalyRule,
    BurnRateRule,
    ComparingRule,
    PercentileRule,
    RateRule,
    Rule,
    ThresholdRule,
    WindowRule,
)

_OP_CODE = {op: code for code, op in enumerate(OPS)}
# breached[op code, (v < t) + 2 (v == t) + 4 (v > t)]: every operator from the three elementary
# comparisons, so one pass serves pairs of different operators (a NaN is none of the three: only != holds).
_BREACHED = np.zeros((len(OPS), 8), dtype=bool)
for _op, _code in _OP_CODE.items():
    for _pack in range(8):
        _lt, _eq, _gt = bool(_pack & 1), bool(_pack & 2), bool(_pack & 4)
        _BREACHED[_code, _pack] = {
            ">": _gt, ">=": _gt or _eq, "<": _lt, "<=": _lt or _eq, "==": _eq, "!=": not _eq
        }[_op]  # fmt: skip


def breached(op_codes: np.ndarray, values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """`value op threshold` elementwise, each element with its own operator (codes index `OPS`)."""
    pack = (values < thresholds).view(np.uint8) | ((values == thresholds).view(np.uint8) << 1)
    pack |= (values > thresholds).view(np.uint8) << 2
    return _BREACHED[op_codes, pack]


def op_code(op: str) -> int:
    return _OP_CODE[op]


@dataclass(slots=True)
class Pair:
    """One rule applied to one series or entity: the alert it would raise."""

    rule: Rule
    fingerprint: str
    labels: dict[str, str]
    kind: str
    entity: str
    series_id: int | None
    rank: int  # position among its series' rules: the order they are judged in


class Pairs:
    """Every matched pair, and per pair whether an alert of its fingerprint is open (kept by the engine)."""

    def __init__(self) -> None:
        self.items: list[Pair] = []
        self.open = np.zeros(64, dtype=bool)
        self.threshold = np.zeros(64)
        self.op = np.zeros(64, dtype=np.intp)
        self.heartbeat = np.zeros(64)
        self._by_fingerprint: dict[str, list[int]] = {}

    def add(self, pair: Pair, *, is_open: bool, heartbeat: float = np.nan) -> int:
        index = len(self.items)
        if index == self.open.size:
            self.open, self.threshold, self.op, self.heartbeat = (
                np.concatenate((a, np.zeros_like(a))) for a in (self.open, self.threshold, self.op, self.heartbeat)
            )
        self.items.append(pair)
        self.open[index] = is_open
        rule = pair.rule
        if isinstance(rule, ComparingRule):  # read for the threshold pairs only
            self.threshold[index], self.op[index] = rule.threshold, op_code(rule.op)
        else:
            self.threshold[index], self.op[index] = 0.0, op_code(">")
        self.heartbeat[index] = heartbeat
        self._by_fingerprint.setdefault(pair.fingerprint, []).append(index)
        return index

    def set_open(self, fingerprint: str, is_open: bool) -> None:
        for index in self._by_fingerprint.get(fingerprint, ()):
            self.open[index] = is_open


UNKNOWN = 0  # the slot every series id not seen yet maps to: never matched, nothing judged


class SeriesTable:
    """Series id -> slot; per slot its rules' pairs, the newest sample judged (NaN: none), whether it
    is matched to the current inventory's rules and, if so, whether any rule wants it (`active`)."""

    def __init__(self) -> None:
        self._slot_of: dict[int, int] = {}
        self._dense = np.zeros(0, dtype=np.intp)  # id -> slot, while ids are small enough for a table
        self._ids = np.empty(0, dtype=np.int64)  # else sorted ids and their slots
        self._slots = np.empty(0, dtype=np.intp)
        self._stale = False
        self.last_ts = np.full(1, np.nan)
        self.matched = np.zeros(1, dtype=bool)
        self.active = np.ones(1, dtype=bool)
        self.has_slow = np.zeros(1, dtype=bool)  # a window rule: judged per series
        self.threshold_pairs = np.full((1, 1), -1, dtype=np.intp)  # slot -> its threshold pairs, -1 padded
        self.anomaly_pairs = np.full((1, 1), -1, dtype=np.intp)
        self.window_pairs = np.full((1, 1), -1, dtype=np.intp)
        self.pairs: list[list[int]] = [[]]  # slot -> its pairs, in rule order
        self.slow: list[list[int]] = [[]]  # slot -> its window pairs
        self.horizon: list[float] = [0.0]
        self._series_ids: list[int] = [-1]

    def series_id(self, slot: int) -> int:
        return self._series_ids[slot]

    def __len__(self) -> int:
        return len(self._slot_of)

    def lookup(self, series_ids: np.ndarray) -> np.ndarray:
        """Slot of each id, UNKNOWN for ids not seen yet."""
        if self._stale:
            self._index()
        if self._ids.size == 0:
            at = np.minimum(series_ids, self._dense.size - 1)
            return np.where(series_ids == at, self._dense[at], UNKNOWN) if self._dense.size else np.zeros_like(at)
        at = np.minimum(np.searchsorted(self._ids, series_ids), self._ids.size - 1)
        return np.where(self._ids[at] == series_ids, self._slots[at], UNKNOWN)

    def _index(self) -> None:
        ids = np.fromiter(self._slot_of, dtype=np.int64, count=len(self._slot_of))
        slots = np.fromiter(self._slot_of.values(), dtype=np.intp, count=len(self._slot_of))
        if ids.min() >= 0 and ids.max() < 8 * ids.size + (1 << 20):  # ids from a sequence: a plain table
            self._dense = np.zeros(int(ids.max()) + 1, dtype=np.intp)
            self._dense[ids] = slots
            self._ids = np.empty(0, dtype=np.int64)
        else:
            order = np.argsort(ids)
            self._ids, self._slots = ids[order], slots[order]
        self._stale = False

    def slot(self, series_id: int) -> int:
        found = self._slot_of.get(series_id)
        if found is not None:
            return found
        slot = self._slot_of[series_id] = len(self._slot_of) + 1
        self._series_ids.append(series_id)
        self._stale = True
        self.pairs.append([])
        self.slow.append([])
        self.horizon.append(0.0)
        if slot == self.last_ts.size:
            more = max(64, slot)
            self.last_ts = np.concatenate((self.last_ts, np.full(more, np.nan)))
            self.matched, self.has_slow = (
                np.concatenate((a, np.zeros(more, dtype=bool))) for a in (self.matched, self.has_slow)
            )
            self.active = np.concatenate((self.active, np.ones(more, dtype=bool)))
            self.threshold_pairs, self.anomaly_pairs, self.window_pairs = (
                np.vstack((a, np.full((more, a.shape[1]), -1, dtype=np.intp)))
                for a in (self.threshold_pairs, self.anomaly_pairs, self.window_pairs)
            )
        return slot

    def set_pairs(self, slot: int, pairs: Pairs, indices: list[int]) -> None:
        by_type: dict[str, list[int]] = {"threshold": [], "anomaly": [], "window": []}
        horizon = 0.0
        for i in indices:
            rule = pairs.items[i].rule
            by_type["window" if isinstance(rule, WindowRule) else rule.type].append(i)
            horizon = max(horizon, rule.horizon_s)
        self.threshold_pairs = _put(self.threshold_pairs, slot, by_type["threshold"])
        self.anomaly_pairs = _put(self.anomaly_pairs, slot, by_type["anomaly"])
        self.window_pairs = _put(self.window_pairs, slot, by_type["window"])
        self.pairs[slot] = indices
        self.slow[slot] = by_type["window"]
        self.horizon[slot] = horizon
        self.matched[slot] = True
        self.active[slot] = bool(indices)
        self.has_slow[slot] = bool(self.slow[slot])

    def unmatch(self) -> None:
        """The inventory changed: match every series again when it next reports."""
        self.matched[:] = False
        self.active[:] = True
        self.has_slow[:] = False
        self.threshold_pairs[:] = -1
        self.anomaly_pairs[:] = -1
        self.window_pairs[:] = -1


def _put(table: np.ndarray, slot: int, row: list[int]) -> np.ndarray:
    """`table` (slot -> pair indices, -1 padded) with `slot`'s row set, wider if the row needs it."""
    if not row and table[slot, 0] < 0:
        return table  # nothing there, nothing to put
    if len(row) > table.shape[1]:
        wider = np.full((table.shape[0], len(row)), -1, dtype=np.intp)
        wider[:, : table.shape[1]] = table
        table = wider
    table[slot] = -1
    table[slot, : len(row)] = row
    return table


@dataclass
class Grouped:
    """A batch's new samples, sorted by series then time, of the series that have rules to judge."""

    ts: np.ndarray
    values: np.ndarray
    sample_slots: np.ndarray  # per sample: its series' slot
    series: np.ndarray  # per sample: its series' position in `slots`
    slots: np.ndarray  # per series
    starts: np.ndarray  # where each series' samples begin in ts / values
    ends: np.ndarray


def group(
    series_ids: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray,
    table: SeriesTable,
    match: Callable[[int], int | None],
) -> Grouped | None:
    """Sort and group the batch; drop what is not newer than what each series had judged (redeliveries,
    late samples) and series no rule wants; None when nothing is left. `match(series_id)` matches a
    series the table has not matched yet and returns its slot, or None when its key is unknown (it is
    asked again next batch)."""
    order = np.lexsort((ts, series_ids))
    sids, t = series_ids[order], ts[order]
    slots = table.lookup(sids)
    last = table.last_ts[slots]
    keep = table.active[slots] & (np.isnan(last) | (t > last))
    if not keep.all():
        order, sids, t, slots = order[keep], sids[keep], t[keep], slots[keep]
        if not sids.size:
            return None
    v = values[order]
    first = np.empty(sids.size, dtype=bool)
    first[0] = True
    np.not_equal(sids[1:], sids[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], sids.size)
    series_slots = slots[starts]
    fresh = ~table.matched[series_slots]
    if fresh.any():  # series seen for the first time (or since the inventory changed): match them
        wanted = np.ones(starts.size, dtype=bool)
        for i in np.flatnonzero(fresh).tolist():
            slot = match(int(sids[starts[i]]))
            if slot is None:
                wanted[i] = False
            else:
                series_slots[i] = slot
                table.last_ts[slot] = t[ends[i] - 1]
                wanted[i] = bool(table.active[slot])
        if not wanted.all():
            counts = ends - starts
            mask = np.repeat(wanted, counts)
            t, v, sids = t[mask], v[mask], sids[mask]
            if not sids.size:
                return None
            series_slots, counts = series_slots[wanted], counts[wanted]
            ends = np.cumsum(counts)
            starts = ends - counts
            first = np.zeros(sids.size, dtype=bool)
            first[starts] = True
        slots = np.repeat(series_slots, ends - starts)
    table.last_ts[series_slots] = t[ends - 1]
    return Grouped(t, v, slots, np.cumsum(first) - 1, series_slots, starts, ends)


def threshold_candidates(batch: Grouped, table: SeriesTable, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """(pair, series position) of the threshold pairs whose condition can change in this batch: a sample
    breached, or an alert is open. The rest stay inactive, so they need no step of their own."""
    columns = table.threshold_pairs[batch.sample_slots]
    flat = columns.ravel()
    at = np.flatnonzero(flat >= 0)
    pair = flat[at]
    sample = at // columns.shape[1] if columns.shape[1] > 1 else at
    hit = breached(pairs.op[pair], batch.values[sample], pairs.threshold[pair]) | pairs.open[pair]
    if not hit.any():
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    found, where = np.unique(pair[hit], return_index=True)
    return found, batch.series[sample[hit][where]]


def advance_threshold(
    cond: Condition, rule: ThresholdRule, ts: list[float], values: list[float], now: float
) -> Condition:
    """A threshold rule's condition after the series' new samples, one at a time."""
    for t, v in zip(ts, values, strict=True):
        cond = advance_by_rule(cond, rule, value=v, at=t, now=now)
    return cond


def advance_by_rule(cond: Condition, rule: ComparingRule, *, value: float, at: float, now: float) -> Condition:
    """One observation judged against the rule's own operator, threshold, clear level and `for`."""
    return advance(
        cond, value=value, at=at, now=now, op=rule.op, threshold=rule.threshold, clear=rule.clear, for_s=rule.for_s
    )


class Buffer:
    """Recent samples of one series, as long as its rules' windows need; times strictly increasing.

    Kept in arrays with room to spare, so that a batch copies only its own samples in."""

    def __init__(self, horizon: float, capacity: int = 16) -> None:
        self.horizon = horizon
        self._ts = np.empty(capacity)
        self._values = np.empty(capacity)
        self._start = self._end = 0
        self._later_ts = array("d")  # deferred samples (`defer`), appended before the buffer is read
        self._later_values = array("d")

    @property
    def ts(self) -> np.ndarray:
        if self._later_ts:
            self._catch_up()
        return self._ts[self._start : self._end]

    @property
    def values(self) -> np.ndarray:
        if self._later_ts:
            self._catch_up()
        return self._values[self._start : self._end]

    def defer(self, ts: list[float], values: list[float]) -> None:
        """Samples to append, cheaply, when the buffer is next read or extended (a window that cannot
        breach is not read)."""
        self._later_ts.extend(ts)
        self._later_values.extend(values)
        if len(self._later_ts) > 64:  # bounded: 1 kB a series at most
            self._catch_up()

    def _catch_up(self) -> None:
        ts, values = np.frombuffer(self._later_ts), np.frombuffer(self._later_values)
        self._later_ts, self._later_values = array("d"), array("d")
        self.extend(ts, values)

    def extend(self, ts: np.ndarray, values: np.ndarray) -> None:
        if self._later_ts:
            self._catch_up()
        if self._end > self._start and ts.size and ts[0] < self._ts[self._end - 1]:
            keep = ts > self._ts[self._end - 1]  # late samples do not rewrite the past the rules already judged
            ts, values = ts[keep], values[keep]
        n = self._end - self._start
        if self._end + ts.size > self._ts.size:  # out of room: move to the front, twice as large if need be
            size = max(self._ts.size, 2 * (n + ts.size))
            self._ts, self._values = (
                np.concatenate((a[self._start : self._end], np.empty(size - n))) for a in (self._ts, self._values)
            )
            self._start, self._end = 0, n
        self._ts[self._end : self._end + ts.size] = ts
        self._values[self._end : self._end + ts.size] = values
        self._end += ts.size
        if self._end > self._start:
            live = self._ts[self._start : self._end]
            self._start += int(live.searchsorted(live[-1] - self.horizon, side="right"))

    def since(self, end: float, window_s: float) -> int:
        """Index of the first sample in (end - window_s, end], for `end` the newest sample."""
        return int(self.ts.searchsorted(end - window_s, side="right"))


class WindowMemo:
    """Per window pair, the newest time one of its series' samples was notable: one that can make the
    window breach (a bad sample for a burn rate; for a percentile, a value beyond the threshold or
    within a hair of it). While no alert is open and no notable sample is in the window, the rule would
    judge it inactive, so it is passed over arrays and its samples wait in the buffer (`defer`).
    +inf: not known yet, or a rule this cannot tell for (a rate, `==`, `!=`): judged in Python."""

    def __init__(self) -> None:
        self.op = np.zeros(0, dtype=np.intp)
        self.level = np.zeros(0)
        self.reach = np.zeros(0)  # how far back a notable sample still counts
        self.mark = np.zeros(0)

    def setup(self, pair: int, rule: WindowRule) -> None:
        if pair >= self.mark.size:
            more = max(64, pair + 1, self.mark.size)
            self.op = np.concatenate((self.op, np.zeros(more, dtype=np.intp)))
            self.level = np.concatenate((self.level, np.zeros(more)))
            self.reach = np.concatenate((self.reach, np.zeros(more)))
            self.mark = np.concatenate((self.mark, np.full(more, np.inf)))
        self.mark[pair] = np.inf
        if isinstance(rule, BurnRateRule) and all(factor > 0 for _, _, factor in rule.windows):
            # burning needs a bad sample in a short window: a share of 0 never reaches a factor above 0
            self.op[pair], self.level[pair] = op_code(rule.bad_op), rule.bad_threshold
            self.reach[pair] = max(short_s for _, short_s, _ in rule.windows)
        elif isinstance(rule, PercentileRule) and rule.op in (">", ">=", "<", "<="):
            margin = 1e-9 * (abs(rule.threshold) + 1.0)  # far above rounding: p95 <= the window's greatest value
            if rule.op in (">", ">="):
                self.op[pair], self.level[pair] = op_code(">="), rule.threshold - margin
            else:
                self.op[pair], self.level[pair] = op_code("<="), rule.threshold + margin
            self.reach[pair] = rule.window_s
        else:
            self.reach[pair] = np.inf  # never passed over: the mark stays +inf

    def remember(self, pair: int, buffer: Buffer) -> None:
        """After a judgement in Python: the newest notable sample in the buffer (-inf: none)."""
        if self.reach[pair] == np.inf:
            return
        notable = np.flatnonzero(breached(self.op[pair], buffer.values, self.level[pair]))
        self.mark[pair] = buffer.ts[notable[-1]] if notable.size else -np.inf

    def candidates(self, batch: Grouped, table: SeriesTable, pairs: Pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pair, series position) of the window pairs to judge in Python, and the series positions
        whose window pairs can all be passed over (their samples to defer)."""
        columns = table.window_pairs[batch.sample_slots]
        flat = columns.ravel()
        at = np.flatnonzero(flat >= 0)
        if not at.size:
            return at, at, at
        pair, sample = flat[at], at // columns.shape[1]
        notable = breached(self.op[pair], batch.values[sample], self.level[pair])
        np.maximum.at(self.mark, pair[notable], batch.ts[sample[notable]])
        per_series = table.window_pairs[batch.slots]
        flat = per_series.ravel()
        at = np.flatnonzero(flat >= 0)
        pair, series = flat[at], at // per_series.shape[1]
        end = batch.ts[batch.ends[series] - 1]
        run = ~(self.mark[pair] <= end - self.reach[pair]) | pairs.open[pair]
        judged = np.unique(series[run])
        return pair[run], series[run], np.setdiff1d(series, judged, assume_unique=False)


def quantile(values: np.ndarray, q: float) -> float:
    """`np.quantile(values, q)` (its default, linear method) of a non-empty array, without its overhead:
    the same partition, the same interpolation."""
    n = values.size
    virtual = (n - 1) * q
    if virtual >= n - 1:
        below = above = -1
    else:
        below = math.floor(virtual)
        above = below + 1
    arranged = np.partition(values, sorted({0, -1, below, above}))
    if not (math.isfinite(arranged[0]) and math.isfinite(arranged[-1])):  # the least and the greatest (or NaN)
        return float(np.quantile(values, q))
    if n == 1:
        return float(values[0])
    a, b = float(arranged[below]), float(arranged[above])
    gamma = virtual - below
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def window_condition(cond: Condition, rule: WindowRule, buffer: Buffer, *, end: float, now: float) -> Condition | None:
    """A window rule's condition once the series' buffer holds the batch (`end` its newest sample);
    None when the window cannot be judged (too few samples)."""
    if isinstance(rule, PercentileRule):
        selected = buffer.values[buffer.since(end, rule.window_s) :]
        if selected.size == 0:
            return None
        value = quantile(selected, rule.quantile)
        return advance_by_rule(cond, rule, value=value, at=end, now=now)
    if isinstance(rule, RateRule):
        start = buffer.since(end, rule.window_s)
        t, v = buffer.ts[start:], buffer.values[start:]
        if t.size < 2 or t[-1] <= t[0]:
            return None
        change = counter_increase(v) if rule.counter else float(v[-1] - v[0])
        value = change / float(t[-1] - t[0]) * rule.per_s
        return advance_by_rule(cond, rule, value=value, at=end, now=now)
    # burn_rate: the share of bad samples over each window pair (the SRE workbook's recipe); counting
    # the bad samples gives exactly the sum of the 0/1 floats that burn_rates() adds up.
    bad = np.asarray(compare(rule.bad_op, buffer.values, rule.bad_threshold))
    budget = 1.0 - rule.objective
    starts = buffer.ts.searchsorted(end - _burn_windows(rule), side="right").tolist()
    ratios = []
    for start in starts:
        n = bad.size - start
        ratios.append(float(np.count_nonzero(bad[start:])) / n if n else float("nan"))
    rates = [
        (ratios[2 * k] / budget, ratios[2 * k + 1] / budget, factor) for k, (_, _, factor) in enumerate(rule.windows)
    ]
    burning, burn = is_burning(rates)
    cond = advance(cond, value=1.0 if burning else 0.0, at=end, now=now, op=">=", threshold=0.5, clear=None, for_s=0)
    return replace(cond, value=burn)


_WINDOWS: dict[tuple[tuple[float, float, float], ...], np.ndarray] = {}


def _burn_windows(rule: BurnRateRule) -> np.ndarray:
    """The rule's windows, long and short of each pair in turn."""
    found = _WINDOWS.get(rule.windows)
    if found is None:
        found = _WINDOWS[rule.windows] = np.array([w for long_s, short_s, _ in rule.windows for w in (long_s, short_s)])
    return found


class SameHour:
    """`same_hour_of_week`, once per local hour: the answer depends on nothing else.

    Times are looked up by their UTC quarter of an hour; a quarter maps to one local hour when both of
    its ends do (every zone's offsets and changes fall on quarters of an hour; a quarter where one does
    not, or where an hour starts, is not cached)."""

    QUARTER = 900.0

    def __init__(self, tz: str, is_holiday: Callable[[date], bool]) -> None:
        self.tz, self.is_holiday, self._zone = tz, is_holiday, ZoneInfo(tz)
        self._quarters: dict[int, tuple[datetime, int]] = {}
        self._answers: dict[tuple[datetime, int, int], tuple[bool, list[float]]] = {}

    def _hour(self, at: float) -> tuple[datetime, int]:
        local = datetime.fromtimestamp(at, self._zone).replace(minute=0, second=0, microsecond=0)
        return local.replace(tzinfo=None), local.fold

    def cached_quarter(self, at: float) -> float:
        """The quarter of an hour `at` falls in when its hour is cached for all of the quarter, else -1."""
        quarter = at // self.QUARTER
        if int(quarter) in self._quarters and at < (quarter + 1) * self.QUARTER - 0.001:
            return quarter
        return -1.0

    def __call__(self, at: float, weeks: int) -> tuple[bool, list[float]]:
        quarter = int(at // self.QUARTER)
        hour = self._quarters.get(quarter)
        if hour is None:
            hour = self._hour(at)
            lo, hi = quarter * self.QUARTER, (quarter + 1) * self.QUARTER - 0.001  # hi: clear of rounding to µs
            if lo <= at < hi and self._hour(lo) == hour == self._hour(hi):
                if len(self._quarters) > 10_000:
                    self._quarters.clear()
                self._quarters[quarter] = hour
        elif not at < (quarter + 1) * self.QUARTER - 0.001:
            hour = self._hour(at)
        key = (*hour, weeks)
        found = self._answers.get(key)
        if found is None:
            if len(self._answers) > 10_000:
                self._answers.clear()
            found = self._answers[key] = same_hour_of_week(at, weeks=weeks, tz=self.tz, is_holiday=self.is_holiday)
        return found


class AnomalyMemo:
    """Per anomaly pair, from its last judgement in Python: the times its hour's baseline holds for
    ([valid_from, valid_until), a quarter of an hour), whether that baseline can judge at all, and
    bounds outside which a value may be an anomaly; so most samples are passed over arrays."""

    FROM, UNTIL, UP, DOWN, JUDGES = range(5)

    def __init__(self) -> None:
        self.memo = np.zeros((0, 5))

    def _grow(self, size: int) -> None:
        if size > self.memo.shape[0]:  # new rows: never judged, so not known
            more = np.tile([np.inf, -np.inf, np.inf, -np.inf, 0.0], (max(64, size, self.memo.shape[0]), 1))
            self.memo = np.vstack((self.memo, more))

    def remember(self, pair: int, rule: AnomalyRule, quarter: float, baseline: Baseline | None) -> None:
        self._grow(pair + 1)
        row = self.memo[pair]
        known = quarter >= 0
        row[self.FROM] = quarter * SameHour.QUARTER if known else np.inf
        row[self.UNTIL] = (quarter + 1) * SameHour.QUARTER - 0.001 if known else -np.inf
        judges = baseline is not None and not baseline.n < rule.min_history
        row[self.JUDGES] = judges
        row[self.UP], row[self.DOWN] = np.inf, -np.inf
        if baseline is not None and judges:
            # anomaly_verdict needs |value - median| >= min_deviation and >= mads x scale; a margin far
            # above rounding keeps these bounds on the safe side (a few more go to Python, none less).
            least = max(rule.min_deviation, rule.mads * baseline.scale)
            margin = 1e-9 * (abs(least) + abs(baseline.median) + 1.0)
            if rule.direction in ("up", "both"):
                row[self.UP] = baseline.median + least - margin
            if rule.direction in ("down", "both"):
                row[self.DOWN] = baseline.median - least + margin

    def candidates(self, batch: Grouped, table: SeriesTable, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """(pair, series position) of the anomaly pairs to judge in Python: their hour's baseline not at
        hand, a value that may be an anomaly, or an open alert to advance. For the rest
        `anomaly_condition` would return None (not judged, or no anomaly and nothing open)."""
        columns = table.anomaly_pairs[batch.slots]
        if columns.shape[1] == 1:
            pair = columns[:, 0]
            series = np.flatnonzero(pair >= 0)
            pair = pair[series]
        else:
            flat = columns.ravel()
            at = np.flatnonzero(flat >= 0)
            pair, series = flat[at], at // columns.shape[1]
        if not pair.size:
            return pair, series
        self._grow(len(pairs.items))
        last = batch.ends[series] - 1
        end, value, memo = batch.ts[last], batch.values[last], self.memo[pair]
        known = (end >= memo[:, self.FROM]) & (end < memo[:, self.UNTIL])
        maybe = (
            (value >= memo[:, self.UP])
            | (value <= memo[:, self.DOWN])
            | ((memo[:, self.JUDGES] > 0) & pairs.open[pair])
        )
        need = ~known | maybe
        return pair[need], series[need]


def anomaly_condition(
    cond: Condition, rule: AnomalyRule, baseline: Baseline, *, value: float, end: float, now: float, is_open: bool
) -> Condition | None:
    """The anomaly rule's condition for the newest sample; None when there is nothing to change (too
    short a history, or no anomaly and no open alert)."""
    hit = anomaly_verdict(
        value,
        baseline,
        min_history=rule.min_history,
        mads=rule.mads,
        min_deviation=rule.min_deviation,
        direction=rule.direction,
    )[0]
    if hit is None or (not hit and not is_open):
        return None
    cond = advance(
        cond, value=1.0 if hit else 0.0, at=end, now=now, op=">=", threshold=0.5, clear=None, for_s=rule.for_s
    )
    return replace(cond, value=value)


class EntityPairs:
    """Per entity (its `LastSeen` slot): the pairs of the `down` rules that match it, -1 where one does not."""

    def __init__(self, rules: int) -> None:
        self.columns = np.full((0, rules), -1, dtype=np.intp)
        self.matched = np.empty(0, dtype=bool)

    def grow(self, size: int) -> None:
        if size > self.matched.size:
            more = max(size - self.matched.size, 64, self.matched.size)
            self.columns = np.vstack((self.columns, np.full((more, self.columns.shape[1]), -1, dtype=np.intp)))
            self.matched = np.concatenate((self.matched, np.zeros(more, dtype=bool)))

    def candidates(self, slots: np.ndarray, pairs: Pairs, seen: LastSeen, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Of these entities' pairs, (pair, entity slot) of those that may be down or have an alert open,
        in entity order then rule order. The others are up with nothing open: nothing to do."""
        columns = self.columns[slots]
        row, column = np.nonzero(columns >= 0)
        pair = columns[row, column]
        entity = slots[row]
        hit = seen.suspects(entity, pairs.heartbeat[pair], now) | pairs.open[pair]
        return pair[hit], entity[hit]
