"""The plain back end's rollups: samples grouped into 1 min and 1 h buckets, upserted into
`samples_1m` / `samples_1h` in the batch's transaction (TimescaleDB keeps its own)."""

from __future__ import annotations

import numpy as np

from ioc.store.pg_binary import Float8Array, Int4Array, Int8Array

MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000
TABLES = ("samples_1m", "samples_1h")  # in the order of `rollup_params`

_UPSERT_SQL = """
INSERT INTO {table} AS r (series_id, bucket, cnt, total, min_value, max_value)
SELECT s, timestamptz '2000-01-01 00:00:00+00' + b * interval '1 microsecond', c, t, lo, hi
FROM unnest(%b::int4[], %b::int8[], %b::int8[], %b::float8[], %b::float8[], %b::float8[]) AS u(s, b, c, t, lo, hi)
ON CONFLICT (series_id, bucket) DO UPDATE SET
    cnt = r.cnt + excluded.cnt,
    total = r.total + excluded.total,
    min_value = least(r.min_value, excluded.min_value),
    max_value = greatest(r.max_value, excluded.max_value)
"""


def upsert_sql(table: str) -> str:
    """Adds one bucket's rows (six binary array parameters, see `rollup_params`) to `table`."""
    return _UPSERT_SQL.format(table=table)


def rollup(
    series_ids: np.ndarray, ts_us: np.ndarray, values: np.ndarray, width_us: int, order: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Group rows by (series, bucket): ids, bucket starts (us since 2000), count, sum, min, max.

    `order`, when given, sorts the rows by (series, ts), hence also by (series, bucket) for any width."""
    buckets = ts_us // width_us * width_us
    if order is None:
        order = np.lexsort((buckets, series_ids))
    s, b, v = series_ids[order], buckets[order], values[order]
    n = s.shape[0]
    change = np.empty(n, dtype=bool)
    change[:1] = True
    np.not_equal(s[1:], s[:-1], out=change[1:])
    change[1:] |= b[1:] != b[:-1]
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, n))
    return (
        s[starts],
        b[starts],
        counts,
        np.add.reduceat(v, starts),
        np.minimum.reduceat(v, starts),
        np.maximum.reduceat(v, starts),
    )


def rollup_params(sid: np.ndarray, ts_us: np.ndarray, values: np.ndarray, order: np.ndarray | None) -> list[object]:
    """The 1 min and 1 h rollups' query parameters, as binary arrays."""
    if order is None:
        order = np.lexsort((ts_us, sid))
    params: list[object] = []
    for width in (MINUTE_US, HOUR_US):
        s, b, c, t, lo, hi = rollup(sid, ts_us, values, width, order)
        params += [Int4Array(s), Int8Array(b), Int8Array(c), Float8Array(t), Float8Array(lo), Float8Array(hi)]
    return params
