"""The anomaly rule: the newest sample against the same hour of past weeks, the baseline cached per
series and hour, and bounds that pass most samples over arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from alerts.detectors.anomaly import Baseline, anomaly_verdict, robust_baseline, same_hour_of_week
from alerts.detectors.threshold import Condition, advance
from alerts.evaluation.batch import Grouped, Pairs, SeriesTable
from alerts.rule_types import AnomalyRule


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


# (series id, the starts of the hours wanted) -> the series' hourly averages at those hours.
BaselineSource = Callable[[int, list[float]], np.ndarray]


class AnomalyJudge:
    """The anomaly pairs' judgement: the same hour of past weeks, its baseline from `source` (cached per
    series and hour), and the memo that lets most samples pass over arrays."""

    def __init__(self, source: BaselineSource, tz: str, is_holiday: Callable[[date], bool]) -> None:
        self.source = source
        self.memo = AnomalyMemo()
        self._same_hour = SameHour(tz, is_holiday)
        self._baselines: dict[tuple[int, float], Baseline] = {}

    def forget(self) -> None:
        """The pairs are matched anew: their memo goes, the baselines stay."""
        self.memo = AnomalyMemo()

    def judge(
        self, p: int, rule: AnomalyRule, series_id: int, cond: Condition, *, value: float, end: float, now: float,
        is_open: bool,
    ) -> Condition | None:  # fmt: skip
        holiday, starts = self._same_hour(end, rule.weeks)
        quarter = self._same_hour.cached_quarter(end)
        if holiday or not starts:
            self.memo.remember(p, rule, quarter, None)
            return None
        baseline = self._baseline(series_id, starts)
        self.memo.remember(p, rule, quarter, baseline)
        return anomaly_condition(cond, rule, baseline, value=value, end=end, now=now, is_open=is_open)

    def _baseline(self, sid: int, starts: list[float]) -> Baseline:
        cache_key = (sid, starts[0])
        found = self._baselines.get(cache_key)
        if found is None:
            if len(self._baselines) > 100_000:
                self._baselines.clear()
            found = self._baselines[cache_key] = robust_baseline(self.source(sid, starts))
        return found
