"""What the ingest bench reads from the store: when batches commit, how many samples are stored, whether each
was stored exactly once, and the reference rate of a raw binary COPY on the same server."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import orjson
import psycopg

from ioc.store.batch import COMMITTED_CHANNEL
from ioc.store.writer import PG_EPOCH_S, copy_payload


class CommitWatch:
    """LISTENs on the writer's commit channel (whatever process the writer runs in): the time each batch's
    commit reached the bench, and the sample ts range it announced. Cheap, and exact to the commit."""

    def __init__(self, dsn: str):
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._conn.execute(f"LISTEN {COMMITTED_CHANNEL}")
        self._lock = threading.Lock()
        self._commits: list[tuple[float, float, float]] = []  # (received, min_ts, max_ts)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for note in self._conn.notifies(timeout=0.2):
                received = time.time()
                payload = orjson.loads(note.payload)
                if payload.get("min_ts") is not None:
                    with self._lock:
                        self._commits.append((received, payload["min_ts"], payload["max_ts"]))

    def last_commit(self, t0: float, t1: float) -> float | None:
        """When the latest batch holding samples with ts in [t0, t1] committed (None: none seen)."""
        with self._lock:
            times = [r for r, lo, hi in self._commits if hi >= t0 and lo <= t1]
        return max(times) if times else None

    def commits(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(1 for _, lo, hi in self._commits if hi >= t0 and lo <= t1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


def stored_count(conn: psycopg.Connection, t0: float, t1: float) -> int:
    """Exact count of the samples with ts in [t0, t1] (the bench gives each phase a ts range of its own)."""
    row = conn.execute(
        "SELECT count(*) FROM samples WHERE ts BETWEEN to_timestamp(%s) AND to_timestamp(%s)", (t0, t1)
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Verdict:
    rows: int
    distinct: int  # distinct (kind, entity, metric, labels, ts): a sample stored twice counts once
    value_sum: float
    series: int
    dead_letters: int

    def problems(self, expected_rows: int, expected_sum: float, expected_series: int | None) -> list[str]:
        found = []
        if self.rows < expected_rows:
            found.append(f"{expected_rows - self.rows} samples lost")
        if self.rows > self.distinct:
            found.append(f"{self.rows - self.distinct} samples stored twice")
        if self.distinct > expected_rows:
            found.append(f"{self.distinct - expected_rows} samples stored that were not published")
        if abs(self.value_sum - expected_sum) > 1e-6 * max(1.0, abs(expected_sum)):
            found.append(f"sum of values {self.value_sum:g}, published {expected_sum:g}")
        if expected_series is not None and self.series != expected_series:
            found.append(f"{self.series} series stored, {expected_series} published")
        if self.dead_letters:
            found.append(f"{self.dead_letters} dead letters")
        return found


def verify(conn: psycopg.Connection, t0: float, t1: float) -> Verdict:
    """Every sample of a phase by its identity (series key and ts), so a sample stored under two series
    ids, or twice, shows; dead letters of the whole run."""
    row = conn.execute(
        """
        SELECT count(*), count(DISTINCT (se.kind, se.entity, se.metric, se.labels, s.ts)),
               coalesce(sum(s.value), 0), count(DISTINCT s.series_id)
        FROM samples s JOIN series se ON se.id = s.series_id
        WHERE s.ts BETWEEN to_timestamp(%s) AND to_timestamp(%s)
        """,
        (t0, t1),
    ).fetchone()
    dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert row is not None and dead is not None
    return Verdict(int(row[0]), int(row[1]), float(row[2]), int(row[3]), int(dead[0]))


_COLUMNS = "(series_id, ts, value)"
REFERENCE_DDL = """
CREATE TABLE IF NOT EXISTS bench_reference (series_id integer NOT NULL, ts timestamptz NOT NULL,
                                            value double precision NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS bench_reference_series_ts ON bench_reference (series_id, ts);
"""


def reference_copy_rate(dsn: str, rows: int, series: int = 1000) -> float:
    """Rows/s of one binary COPY of `rows` rows (`samples`' row shape) into an empty table with one unique
    index on (series_id, ts), committed: what this server takes in at best, beside the service."""
    sid = (np.arange(rows) % series).astype(np.int32)
    base = int((time.time() - 3600 - PG_EPOCH_S) * 1e6)
    ts = base + (np.arange(rows, dtype=np.int64) // series) * 1000
    data = copy_payload(sid, ts, np.random.default_rng(1).random(rows))
    with psycopg.connect(dsn) as conn:
        conn.execute(REFERENCE_DDL)
        conn.execute("TRUNCATE bench_reference")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_reference (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as cp,
        ):
            cp.write(data)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("TRUNCATE bench_reference")
        conn.commit()
    return rows / elapsed
