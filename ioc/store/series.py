"""The series dimension: (kind, entity, metric, labels) <-> integer id, cached in memory.

Unknown series are created in a few statements per batch, whatever their number, keys in sorted
order (two processes creating overlapping sets lock rows in the same order: no deadlock). Usually
they are new: a plain INSERT of all of them (a savepoint around it). When one exists already (after
a restart, or created meanwhile by another process: the INSERT waits for that one's commit), the
INSERT is rolled back and repeated with `ON CONFLICT DO NOTHING`, and the keys it did not insert are
looked up by a SELECT: a statement of its own, whose snapshot sees what the other process committed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg import errors as pg_errors

from ioc.model import Labels
from ioc.store.pg_binary import TextArray, register_pg_arrays

SeriesTuple = tuple[str, str, str, Labels]  # kind, entity, metric, labels


class SeriesKey(NamedTuple):
    """A series' identity. A tuple: equal to, and hashed as, the plain (kind, entity, metric, labels)
    tuples the decoders produce, so either looks up the same cache entry."""

    kind: str
    entity: str
    metric: str
    labels: Labels = ()

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)


# Rows are inserted in the order of the arrays (the keys sorted by the caller); RETURNING gives the
# labels as text, which orjson parses (psycopg's jsonb loader uses the json module: ~9 us a row).
# Without ON CONFLICT (its speculative insertion) the server spends ~35% less per new series.
_INSERT_SQL = """
INSERT INTO series (kind, entity, metric, labels)
SELECT kind, entity, metric, labels::jsonb
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS w(kind, entity, metric, labels)
{on_conflict}RETURNING id, kind, entity, metric, labels::text
"""
_CREATE_NEW_SQL = _INSERT_SQL.format(on_conflict="")
_CREATE_SQL = _INSERT_SQL.format(on_conflict="ON CONFLICT (kind, entity, metric, labels) DO NOTHING\n")
# One index probe per key (LIMIT keeps the planner from a hash join over the whole series table).
_FIND_SQL = """
SELECT w.i, s.id
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY AS w(kind, entity, metric, labels, i)
CROSS JOIN LATERAL (
    SELECT id FROM series s
    WHERE s.kind = w.kind AND s.entity = w.entity AND s.metric = w.metric AND s.labels = w.labels::jsonb
    LIMIT 1
) s
"""
_NO_LABELS_JSON = "{}"


class SeriesRegistry:
    """Maps series keys to ids and back; unknown keys are created in the store (see the module).

    Thread-safe; the writer resolves keys with `cached` and `ids_for`, readers (the alert engine) use `key_of`.
    """

    def __init__(self) -> None:
        # Plain tuples or SeriesKeys (equal and hashed alike); SeriesKeys made only when `key_of` asks.
        self._ids: dict[SeriesTuple, int] = {}
        self._keys: dict[int, SeriesTuple] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, key: SeriesTuple) -> int | None:
        return self._ids.get(key)

    def cached(self, keys: Sequence[SeriesTuple]) -> list[int | None]:
        """The cached id of each key, None where unknown to this process; no I/O."""
        return list(map(self._ids.get, keys))

    def key_of(self, series_id: int) -> SeriesKey | None:
        key = self._keys.get(series_id)
        if key is None or isinstance(key, SeriesKey):
            return key
        key = self._keys[series_id] = SeriesKey._make(key)
        return key

    def _remember(self, pairs: list[tuple[SeriesTuple, int]]) -> None:
        with self._lock:
            self._ids.update(pairs)
            self._keys.update((series_id, key) for key, series_id in pairs)

    def resolve(self, conn: psycopg.Connection, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
        """Ids for every key, creating missing series inside the caller's transaction (cached at once:
        the caller is to commit)."""
        return dict(zip(keys, self._ids_for(conn, keys, commit=False), strict=True))

    def ids_for(self, conn: psycopg.Connection, keys: Sequence[SeriesTuple]) -> list[int]:
        """The id of each key; missing series are created and committed on `conn` BEFORE they are
        cached, so that the cache never holds an id the store does not (samples have no foreign key)."""
        return self._ids_for(conn, keys, commit=True)

    def _ids_for(self, conn: psycopg.Connection, keys: Sequence[SeriesTuple], *, commit: bool) -> list[int]:
        ids = self.cached(keys)
        if None in ids:
            missing = list(dict.fromkeys(k for k, i in zip(keys, ids, strict=True) if i is None))
            found = _create_or_find(conn, missing)
            if commit:
                conn.commit()
            self._remember(found)
            ids = list(map(self._ids.__getitem__, keys))
        return ids  # type: ignore[return-value]  # every key is cached now

    def load_ids(self, conn: psycopg.Connection, series_ids: list[int]) -> None:
        """Fill the reverse map for ids created by another process."""
        wanted = [i for i in series_ids if i not in self._keys]
        if not wanted:
            return
        rows = conn.execute(
            "SELECT id, kind, entity, metric, labels FROM series WHERE id = ANY(%s)", (wanted,)
        ).fetchall()
        self._remember(
            [
                (SeriesKey(kind, entity, metric, tuple(sorted(labels.items()))), i)
                for i, kind, entity, metric, labels in rows
            ]
        )


def _create_or_find(conn: psycopg.Connection, keys: list[SeriesTuple]) -> list[tuple[SeriesTuple, int]]:
    """(key, id) for every key: created, or found when it exists (or was created meanwhile)."""
    keys = sorted(keys)  # one lock order for every process (see the module docstring)
    with conn.cursor() as cur:
        register_pg_arrays(cur)  # on this cursor only: the caller's connection stays as it is
        columns = _columns(keys)
        rows = _insert_new(conn, cur, columns)
        if rows is None:
            rows = cur.execute(_CREATE_SQL, columns).fetchall()
        created = [((k, e, m, _labels(text)), i) for i, k, e, m, text in rows]
        if len(created) == len(keys):
            return created
        done = {key for key, _ in created}
        rest = [k for k in keys if k not in done]
        found: dict[int, int] = dict(cur.execute(_FIND_SQL, _columns(rest)).fetchall())
    if len(found) < len(rest):
        raise LookupError(f"{len(rest) - len(found)} series neither created nor found, e.g. {rest[0]}")
    return created + [(k, found[i]) for i, k in enumerate(rest, 1)]


def _insert_new(conn: psycopg.Connection, cur: psycopg.Cursor, columns: tuple[TextArray, ...]) -> list[Any] | None:
    """The plain INSERT, undone (None) when one of the keys exists already; in the caller's transaction
    (a savepoint: `conn.transaction()` on an idle connection would commit a transaction of its own)."""
    if conn.autocommit:
        try:
            with conn.transaction():
                return cur.execute(_CREATE_NEW_SQL, columns).fetchall()
        except pg_errors.UniqueViolation:
            return None
    cur.execute("SAVEPOINT ioc_new_series")
    try:
        rows = cur.execute(_CREATE_NEW_SQL, columns).fetchall()
    except pg_errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT ioc_new_series")
        return None
    cur.execute("RELEASE SAVEPOINT ioc_new_series")
    return rows


def _labels(text: str) -> Labels:
    return tuple(sorted(orjson.loads(text).items())) if text != _NO_LABELS_JSON else ()


def _columns(keys: list[SeriesTuple]) -> tuple[TextArray, TextArray, TextArray, TextArray]:
    """The keys as four binary text[] parameters; labels as JSON text (jsonb compares them by value)."""
    labels = [k[3] for k in keys]
    texts = {ls: orjson.dumps(dict(ls)).decode() if ls else _NO_LABELS_JSON for ls in set(labels)}
    return (
        TextArray([k[0] for k in keys]),
        TextArray([k[1] for k in keys]),
        TextArray([k[2] for k in keys]),
        TextArray(list(map(texts.__getitem__, labels))),
    )
