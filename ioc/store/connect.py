"""Opening connections and pools to the store; nothing connects at import time."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "ioc") -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=autocommit, application_name=application_name, connect_timeout=5)


def make_pool(dsn: str, *, min_size: int = 1, max_size: int = 4, name: str = "ioc") -> ConnectionPool:
    return ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"application_name": name, "connect_timeout": 5},
        open=False,
        name=name,
    )


def ensure_database(dsn: str) -> bool:
    """Create the database the DSN names when it does not exist yet; True when it was created."""
    parts = urlsplit(dsn)
    dbname = parts.path.lstrip("/")
    if not dbname:
        return False
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
        return False
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return True
