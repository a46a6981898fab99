"""A committed batch's samples grouped by series, and the (series, rule) pairs they are judged for.

Each (series, rule) pair is matched once and gets a slot. A batch's samples are grouped by series with
one sort; each rule type's module (`threshold`, `window`, `anomaly`) then picks, over arrays, the pairs
where something can change, and only those advance their condition in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alerts.rule_types import (
    OPS,
    ComparingRule,
    Rule,
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
