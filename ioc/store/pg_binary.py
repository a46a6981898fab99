"""PostgreSQL's binary formats built in one go (numpy, or one join): COPY rows of samples, array parameters."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg.abc import AdaptContext
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


class TextArray:
    """Strings sent as a binary PostgreSQL text[]: one join of their UTF-8 bytes and lengths, no
    per-element dumper calls (psycopg's list dumper costs ~1 us an element)."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[str]):
        self.items = items


_INT4 = struct.Struct(">i").pack


def text_array_bytes(array: TextArray) -> bytes:
    """The binary array format (see `pg_array_bytes`) of text elements (oid 25), none of them NULL."""
    n = len(array.items)
    if n == 0:
        return struct.pack(">iii", 0, 0, 25)
    # Each distinct string encoded once: kinds, entities and labels repeat across a batch's keys.
    elements = {s: _INT4(len(b := s.encode())) + b for s in set(array.items)}
    return struct.pack(">iiiii", 1, 0, 25, n, 1) + b"".join(map(elements.__getitem__, array.items))


class _TextArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1009  # text[]

    def dump(self, obj: TextArray) -> bytes:
        return text_array_bytes(obj)


class _PgArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: PgArray) -> bytes:
        return pg_array_bytes(obj)


def _array_dumper(array_oid: int) -> type[Dumper]:
    return type(f"PgArrayDumper{array_oid}", (_PgArrayDumper,), {"oid": array_oid})


def register_pg_arrays(context: AdaptContext) -> None:
    """Teach a connection (or only a cursor) to send the array classes above."""
    for cls, array_oid in ((Int4Array, 1007), (Int8Array, 1016), (Float8Array, 1022)):
        context.adapters.register_dumper(cls, _array_dumper(array_oid))
    context.adapters.register_dumper(TextArray, _TextArrayDumper)
