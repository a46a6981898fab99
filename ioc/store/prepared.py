"""A batch's samples as the store takes them: arrays, binary COPY data and rollups, computed ahead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ioc.store.pg_binary import PG_EPOCH_S, copy_payload
from ioc.store.rollups import rollup_params


@dataclass(frozen=True)
class Prepared:
    """What a batch's samples become before they are written; computed from the batch alone (and the
    series id cache), so it can be done in another thread while the previous batch is being written."""

    sid: np.ndarray
    ts_us: np.ndarray
    values: np.ndarray
    repeats: int  # rows repeating a (series, ts) of the same batch, dropped
    order: np.ndarray | None  # (series, ts) sort order of the rows
    copy_data: bytes
    rollups: list[object] | None  # 1 min and 1 h rollup parameters from all rows (plain back end)


def prepare_samples(sid: np.ndarray, ts: Sequence[float], values: Sequence[float], *, rollups: bool) -> Prepared:
    """`sid` the series id of each sample, `ts` in Unix seconds; `rollups` for the plain back end."""
    ts_us = np.rint((np.asarray(ts, dtype=np.float64) - PG_EPOCH_S) * 1e6).astype(np.int64)
    vals = np.asarray(values, dtype=np.float64)
    sid, ts_us, vals, repeats, order = drop_repeats(sid, ts_us, vals)
    params = rollup_params(sid, ts_us, vals, order) if rollups else None
    return Prepared(sid, ts_us, vals, repeats, order, copy_payload(sid, ts_us, vals), params)


def drop_repeats(
    sid: np.ndarray, ts_us: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Keep the first of rows repeating a (series, ts) within the batch, in arrival order. Also returns
    the (series, ts) sort order of the rows when they are kept as they are (None when rows dropped)."""
    n = sid.shape[0]
    order = np.lexsort((ts_us, sid))
    if n < 2:
        return sid, ts_us, values, 0, order
    s, t = sid[order], ts_us[order]
    repeat = (s[1:] == s[:-1]) & (t[1:] == t[:-1])
    if not repeat.any():
        return sid, ts_us, values, 0, order
    keep = np.ones(n, dtype=bool)
    keep[order[1:][repeat]] = False
    return sid[keep], ts_us[keep], values[keep], int(n - keep.sum()), None
