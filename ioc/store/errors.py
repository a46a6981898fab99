"""Sorting database failures into temporary (retry, keep the data) and permanent ones, by SQLSTATE."""

from __future__ import annotations

import psycopg

# SQLSTATE classes and codes worth another try: the server or the connection is away or busy.
_TEMPORARY_CLASSES = (
    "08",  # connection exception
    "53",  # insufficient resources (disk full, out of memory, too many connections)
    "57",  # operator intervention (admin shutdown, crash shutdown, cannot connect now)
    "58",  # system error (I/O error)
)
_TEMPORARY_CODES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "55006",  # object_in_use
        "XX000",  # internal_error, as raised by an unavailable extension background worker
    }
)


def is_temporary(exc: BaseException) -> bool:
    """True when the same work may succeed if tried again later."""
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True  # no SQLSTATE: the connection itself failed or was lost
    if isinstance(exc, (psycopg.InterfaceError, ConnectionError, TimeoutError, OSError)):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if not sqlstate:
        return False
    return sqlstate in _TEMPORARY_CODES or sqlstate[:2] in _TEMPORARY_CLASSES
