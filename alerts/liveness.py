"""Liveness: which entities' `down` rules may hold, from heartbeats (the last sample or `online`) and
`offline` statuses, judged over arrays."""

from __future__ import annotations

import numpy as np

from alerts.evaluation.batch import Pairs
from alerts.last_seen import LastSeen


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
