"""Threshold rules over a batch: every sample of every pair compared at once, and only the pairs
where something can change (a breach, or an alert already open) advanced sample by sample."""

from __future__ import annotations

import numpy as np

from alerts.detectors.threshold import Condition, advance
from alerts.evaluation.batch import Grouped, Pairs, SeriesTable, breached
from alerts.rule_types import (
    ComparingRule,
    ThresholdRule,
)


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
