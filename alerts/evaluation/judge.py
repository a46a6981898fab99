"""A grouped batch judged per rule type: the pairs where something can change, in series order then
rule order, each with its new condition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from alerts.alert import Alert
from alerts.detectors.threshold import Condition
from alerts.evaluation.anomaly import AnomalyJudge
from alerts.evaluation.batch import Grouped, Pair, Pairs, SeriesTable
from alerts.evaluation.threshold import advance_threshold, threshold_candidates
from alerts.evaluation.window import Buffer, WindowMemo, window_condition
from alerts.rule_types import AnomalyRule, ThresholdRule, WindowRule


class SeriesJudge:
    """The series' window buffers, the window pairs' memo and the anomaly judgement."""

    def __init__(self, anomalies: AnomalyJudge) -> None:
        self.anomalies = anomalies
        self.windows = WindowMemo()
        self._buffers: dict[int, Buffer] = {}

    def forget(self) -> None:
        """The pairs are matched anew (the inventory changed): their memos go, buffers and baselines stay."""
        self.windows = WindowMemo()
        self.anomalies.forget()

    def prime(self, series_id: int, horizon: float, ts: np.ndarray, values: np.ndarray) -> None:
        """Fill a series' buffer from the store after a restart."""
        self._buffers.setdefault(series_id, Buffer(horizon)).extend(ts, values)

    def _buffer(self, table: SeriesTable, slot: int) -> Buffer:
        series_id = table.series_id(slot)
        buffer = self._buffers.get(series_id)
        if buffer is None:
            buffer = self._buffers[series_id] = Buffer(table.horizon[slot])
        return buffer

    def judge(
        self, batch: Grouped, table: SeriesTable, pairs: Pairs, alerts: Mapping[str, Alert], now: float
    ) -> Iterator[tuple[Pair, Condition]]:
        """The new conditions of the pairs that can change, per series in id order and per series in rule
        order; `alerts` (the open ones) is read as each is applied."""
        found, where = threshold_candidates(batch, table, pairs)
        work = [(s, pairs.items[p].rank, p) for p, s in zip(found.tolist(), where.tolist(), strict=True)]
        found, where = self.anomalies.memo.candidates(batch, table, pairs)
        work.extend((s, pairs.items[p].rank, p) for p, s in zip(found.tolist(), where.tolist(), strict=True))
        found, where, deferred = self.windows.candidates(batch, table, pairs)
        work.extend((s, pairs.items[p].rank, p) for p, s in zip(found.tolist(), where.tolist(), strict=True))
        if not work and not deferred.size:
            return
        starts, ends, slots = batch.starts.tolist(), batch.ends.tolist(), batch.slots.tolist()
        if deferred.size:
            ts, values = batch.ts.tolist(), batch.values.tolist()
            for s in deferred.tolist():
                a, b = starts[s], ends[s]
                self._buffer(table, slots[s]).defer(ts[a:b], values[a:b])
        work.sort()
        buffer, extended = None, -1
        for s, _, p in work:
            pair = pairs.items[p]
            rule, a, b = pair.rule, starts[s], ends[s]
            open_alert = alerts.get(pair.fingerprint)
            cond = open_alert.cond if open_alert is not None else Condition()
            end = float(batch.ts[b - 1])
            new: Condition | None
            if isinstance(rule, ThresholdRule):
                new = advance_threshold(cond, rule, batch.ts[a:b].tolist(), batch.values[a:b].tolist(), now)
            elif isinstance(rule, AnomalyRule):
                assert pair.series_id is not None
                value, is_open = float(batch.values[b - 1]), open_alert is not None
                new = self.anomalies.judge(
                    p, rule, pair.series_id, cond, value=value, end=end, now=now, is_open=is_open
                )
            elif isinstance(rule, WindowRule):
                if extended != s:
                    buffer, extended = self._buffer(table, slots[s]), s
                    buffer.extend(batch.ts[a:b], batch.values[a:b])
                assert buffer is not None
                new = window_condition(cond, rule, buffer, end=end, now=now)
                self.windows.remember(p, buffer)
            else:
                continue  # a down rule: judged per entity, never on samples
            if new is not None:
                yield pair, new
