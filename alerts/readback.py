"""Samples read back from the store by an alerts process: the committed batches the ingest writer
announces with NOTIFY (when alerting runs in a process of its own), and the windows of percentiles,
rates and burn rates, primed when an engine is built (at start, and when a standby comes to lead)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np
import orjson
import psycopg

from alerts.engine import Engine
from ioc.model import StatusUpdate
from ioc.settings import Settings
from ioc.store.batch import COMMITTED_CHANNEL, CommittedBatch
from ioc.store.connect import connect
from ioc.store.series import SeriesRegistry

log = logging.getLogger("ioc.alerts")


def prime_windows(conn: psycopg.Connection, engine: Engine, series: SeriesRegistry, now: float) -> None:
    """Windows start full, from the store: one row per series with its window as two arrays, read in
    binary, and only for the kinds whose rules keep one (a takeover waits for this)."""
    kinds = engine.window_kinds()  # a link's `up` keeps no window when only services' burn rates need one
    for metric, horizon in engine.window_metrics().items():
        with conn.cursor(binary=True) as cur:
            rows = cur.execute(
                """
                SELECT x.series_id, array_agg(extract(epoch FROM x.ts)::float8 ORDER BY x.ts),
                       array_agg(x.value ORDER BY x.ts)
                FROM series s JOIN samples x ON x.series_id = s.id
                WHERE s.metric = %s AND (%s::text[] IS NULL OR s.kind = ANY(%s)) AND x.ts > to_timestamp(%s)
                GROUP BY x.series_id ORDER BY x.series_id
                """,
                (metric, kinds.get(metric), kinds.get(metric), now - horizon),
            ).fetchall()
        if not rows:
            continue
        series.load_ids(conn, [int(r[0]) for r in rows])
        for sid, ts, values in rows:
            key = series.key_of(sid)
            if key is not None:
                engine.prime(sid, key, np.array(ts, dtype=np.float64), np.array(values, dtype=np.float64))


class CommittedListener:
    """Waits for the writer's NOTIFY and reads the new rows back, as the batches the writer committed."""

    def __init__(
        self,
        settings: Settings,
        series: SeriesRegistry,
        deliver: Callable[[CommittedBatch], None],
        stopping: threading.Event,
        wanted: Callable[[], bool] = lambda: True,
        regained: Callable[[], None] = lambda: None,
    ):
        self.settings, self.series, self.deliver, self.stopping = settings, series, deliver, stopping
        self.wanted = wanted  # False on a standby: the store has it all when it comes to lead
        self.regained = regained  # listening again after a loss: what was committed meanwhile went unseen
        self.last_status_ts = 0.0  # status changes after this are new

    def run(self) -> None:
        lost = False
        while not self.stopping.is_set():
            try:
                with connect(self.settings.database_url, autocommit=True, application_name="ioc-alerts") as conn:
                    conn.execute(f"LISTEN {COMMITTED_CHANNEL}")
                    if lost:
                        log.info("alert listener: listening again; silence counts from now")
                        self.regained()
                        lost = False
                    while not self.stopping.is_set():
                        # The generator holds the connection: take the payloads out before querying.
                        payloads = [orjson.loads(n.payload) for n in conn.notifies(timeout=0.5, stop_after=1)]
                        if not self.wanted():
                            continue
                        for payload in payloads:
                            self.deliver(self.fetch(conn, payload))
            except psycopg.Error as exc:
                if not lost:
                    log.warning("alert listener lost the store (%s); reconnecting", exc)
                lost = True
                self.stopping.wait(1.0)

    def fetch(self, conn: psycopg.Connection, payload: dict[str, object]) -> CommittedBatch:
        """The samples (and status changes) a NOTIFY payload announces, read back from the store."""
        rows: list[tuple[int, float, float]] = []
        if payload.get("min_ts") is not None and payload.get("max_ts") is not None:
            query = (
                "SELECT series_id, extract(epoch FROM ts)::float8, value FROM samples "
                "WHERE ts >= to_timestamp(%s) AND ts <= to_timestamp(%s)"
            )
            # A microsecond either side, so float rounding of the bounds loses no sample at the edges.
            params: list[object] = [float(payload["min_ts"]) - 1e-6, float(payload["max_ts"]) + 1e-6]  # type: ignore[arg-type]
            series = payload.get("series")
            if isinstance(series, list):
                query += " AND series_id = ANY(%s)"
                params.append(series)
            rows = conn.execute(query, params).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int32)
        ts = np.array([r[1] for r in rows], dtype=np.float64)
        values = np.array([r[2] for r in rows], dtype=np.float64)
        statuses: list[StatusUpdate] = []
        if payload.get("status"):
            status_rows = conn.execute(
                "SELECT kind, entity, extract(epoch FROM ts)::float8, status FROM status_changes "
                "WHERE ts > to_timestamp(%s) ORDER BY ts",
                (self.last_status_ts,),
            ).fetchall()
            statuses = [StatusUpdate(r[0], r[1], r[2], r[3]) for r in status_rows]
            if statuses:
                self.last_status_ts = max(s.ts for s in statuses)
        seen: dict[tuple[str, str], float] = {}
        if rows:
            unknown = sorted({int(i) for i in ids if self.series.key_of(int(i)) is None})
            self.series.load_ids(conn, unknown)
            for sid, t in zip(ids.tolist(), ts.tolist(), strict=True):
                key = self.series.key_of(sid)
                if key is not None and t > seen.get((key.kind, key.entity), float("-inf")):
                    seen[(key.kind, key.entity)] = t
        return CommittedBatch(ids, ts, values, statuses=statuses, entities_seen=seen)
