"""The series dimension: (kind, entity, metric, labels) <-> integer id, cached in memory."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from ioc.model import Labels


@dataclass(frozen=True, slots=True)
class SeriesKey:
    kind: str
    entity: str
    metric: str
    labels: Labels = ()

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)


class SeriesRegistry:
    """Maps series keys to ids and back; unknown keys are created in the store in one round trip.

    Thread-safe; the writer resolves keys with `resolve`, readers (the alert engine) use `key_of`.
    """

    def __init__(self) -> None:
        self._ids: dict[SeriesKey, int] = {}
        self._keys: dict[int, SeriesKey] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, key: SeriesKey) -> int | None:
        return self._ids.get(key)

    def key_of(self, series_id: int) -> SeriesKey | None:
        return self._keys.get(series_id)

    def _remember(self, key: SeriesKey, series_id: int) -> None:
        self._ids[key] = series_id
        self._keys[series_id] = key

    def resolve(self, conn: psycopg.Connection, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
        """Ids for every key, creating missing series; runs inside the caller's transaction."""
        ids = self._ids
        missing = list({k: None for k in keys if k not in ids})
        if missing:
            rows = conn.execute(
                """
                WITH wanted AS (
                    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::jsonb[])
                        AS w(kind, entity, metric, labels)
                ), created AS (
                    INSERT INTO series (kind, entity, metric, labels)
                    SELECT kind, entity, metric, labels FROM wanted
                    ON CONFLICT (kind, entity, metric, labels) DO NOTHING
                    RETURNING id, kind, entity, metric, labels
                )
                SELECT id, kind, entity, metric, labels FROM created
                UNION ALL
                SELECT s.id, s.kind, s.entity, s.metric, s.labels
                FROM series s JOIN wanted w USING (kind, entity, metric, labels)
                """,
                (
                    [k.kind for k in missing],
                    [k.entity for k in missing],
                    [k.metric for k in missing],
                    [Jsonb(dict(k.labels)) for k in missing],
                ),
            ).fetchall()
            with self._lock:
                for series_id, kind, entity, metric, labels in rows:
                    self._remember(SeriesKey(kind, entity, metric, tuple(sorted(labels.items()))), series_id)
        return {k: ids[k] for k in keys}

    def load_ids(self, conn: psycopg.Connection, series_ids: list[int]) -> None:
        """Fill the reverse map for ids created by another process."""
        wanted = [i for i in series_ids if i not in self._keys]
        if not wanted:
            return
        rows = conn.execute(
            "SELECT id, kind, entity, metric, labels FROM series WHERE id = ANY(%s)", (wanted,)
        ).fetchall()
        with self._lock:
            for series_id, kind, entity, metric, labels in rows:
                self._remember(SeriesKey(kind, entity, metric, tuple(sorted(labels.items()))), series_id)
