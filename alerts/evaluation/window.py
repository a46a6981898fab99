"""Window rules (percentile, rate, burn rate): a buffer per series, judged per series once the batch
is in it; a window that cannot breach is passed over arrays and its samples wait in the buffer."""

from __future__ import annotations

import math
from array import array
from dataclasses import replace

import numpy as np

from alerts.detectors.burn_rate import is_burning
from alerts.detectors.threshold import Condition, advance, compare
from alerts.detectors.window import counter_increase
from alerts.evaluation.batch import Grouped, Pairs, SeriesTable, breached, op_code
from alerts.evaluation.threshold import advance_by_rule
from alerts.rule_types import (
    BurnRateRule,
    PercentileRule,
    RateRule,
    WindowRule,
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
