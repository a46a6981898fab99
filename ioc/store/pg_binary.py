"""PostgreSQL's binary formats built by numpy in one go: COPY rows of samples, and array parameters."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

PG_EPOCH_S = 946_684_800  # 2000-01-01T00:00:00Z, the origin of PostgreSQL's binary timestamps

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("sid", ">i4"), ("l2", ">i4"), ("ts", ">i8"), ("l3", ">i4"), ("v", ">f8")]
)


def copy_payload(series_ids: np.ndarray, ts_us: np.ndarray, values: np.ndarray) -> bytes:
    """PostgreSQL binary COPY data for rows of (integer, timestamptz, double precision)."""
    rows = np.empty(series_ids.shape[0], _COPY_ROW)
    rows["n"] = 3
    rows["l1"] = 4
    rows["sid"] = series_ids
    rows["l2"] = 8
    rows["ts"] = ts_us
    rows["l3"] = 8
    rows["v"] = values
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


class PgArray:
    """A one-dimensional numpy array sent as a binary PostgreSQL array, built by numpy in one go
    (psycopg's list dumpers convert element by element in Python: they were the writer's main cost)."""

    __slots__ = ("data",)
    elem_oid = 0
    dtype: np.dtype[Any] = np.dtype(">f8")

    def __init__(self, data: np.ndarray):
        self.data = data


class Int4Array(PgArray):
    elem_oid, dtype = 23, np.dtype(">i4")


class Int8Array(PgArray):
    elem_oid, dtype = 20, np.dtype(">i8")


class Float8Array(PgArray):
    elem_oid, dtype = 701, np.dtype(">f8")


def pg_array_bytes(array: PgArray) -> bytes:
    """PostgreSQL's binary array format: ndim, has-null flag, element oid, (length, lower bound) per
    dimension, then per element an int32 length and the big-endian value."""
    n = array.data.shape[0]
    if n == 0:
        return struct.pack(">iii", 0, 0, array.elem_oid)
    rows = np.empty(n, np.dtype([("len", ">i4"), ("value", array.dtype)]))
    rows["len"] = array.dtype.itemsize
    rows["value"] = array.data
    return struct.pack(">iiiii", 1, 0, array.elem_oid, n, 1) + rows.tobytes()


class _PgArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: PgArray) -> bytes:
        return pg_array_bytes(obj)


def _array_dumper(array_oid: int) -> type[Dumper]:
    return type(f"PgArrayDumper{array_oid}", (_PgArrayDumper,), {"oid": array_oid})


def register_pg_arrays(conn: psycopg.Connection) -> None:
    for cls, array_oid in ((Int4Array, 1007), (Int8Array, 1016), (Float8Array, 1022)):
        conn.adapters.register_dumper(cls, _array_dumper(array_oid))
