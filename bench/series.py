"""Series-creation benchmark: one command, prints figures (not a test).

    .venv/bin/python bench/series.py [--series 100000] [--batch 5000] [--profile 25]

The BatchWriter alone (no MQTT), on a fresh database `ioc_bench_series` on the local PostgreSQL, with
batches shaped like bench/ingest.py's live-series phase (100 metrics per entity and message):
- "new series": every batch brings `--batch` series the store has never seen;
- "known series": the same series again, later timestamps (the cached path, for comparison);
- "cold cache": the same series again from a second writer whose cache is empty (series that exist in
  the store but not in this process, as after a restart).
As in the ingest service, batch N+1 is prepared (`BatchWriter.prepare`: new series created on a
connection of its own) in a second thread while batch N is written.
Besides samples/s (wall clock: meaningless on a busy machine), CPU microseconds per sample, of this
process and of the PostgreSQL backends serving the bench database (read from /proc: a local server).
`--profile N` prints the N costliest functions (cProfile, cumulative) of the new-series phase, per thread.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ioc.settings import load_settings
from ioc.store.connect import ensure_database
from ioc.store.migrate import migrate
from ioc.store.writer import BatchWriter, PendingBatch, WriteResult

ADMIN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
METRICS = 100


def batches(series: int, size: int, ts: float) -> list[PendingBatch]:
    out = []
    for start in range(0, series, size):
        batch = PendingBatch()
        for e in range(start // METRICS, (start + size) // METRICS):
            entity = f"s{e}"
            for j in range(METRICS):
                batch.keys.append(("kiosk", entity, f"m{j}", ()))
                batch.ts.append(ts)
                batch.values.append(float(j))
            batch.seen("kiosk", entity, ts, ts)
        out.append(batch)
    return out


def backends_cpu_s(dsn: str) -> float | None:
    """CPU seconds used so far by the server processes connected to `dsn`'s database (None if not local)."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (dsn.rsplit("/", 1)[1],)
        )]  # fmt: skip
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def write_all(writer: BatchWriter, work: list[PendingBatch], profilers: tuple[cProfile.Profile, ...] = ()) -> int:
    """Write the batches in order, each prepared in another thread while the previous one is written;
    with `profilers` (writing thread, preparing thread), each call profiled."""

    def write(batch: PendingBatch) -> WriteResult:
        return profilers[0].runcall(writer.write, batch) if profilers else writer.write(batch)

    def prepare(batch: PendingBatch) -> None:
        return profilers[1].runcall(writer.prepare, batch) if profilers else writer.prepare(batch)

    stored = 0
    with ThreadPoolExecutor(1) as ahead:
        pending = ahead.submit(prepare, work[0])
        for i, batch in enumerate(work):
            pending.result()
            if i + 1 < len(work):
                pending = ahead.submit(prepare, work[i + 1])
            stored += write(batch).stored
    return stored


def phase(name: str, dsn: str, writer: BatchWriter, work: list[PendingBatch], profile: int = 0) -> None:
    profilers = (cProfile.Profile(), cProfile.Profile()) if profile else ()
    server0, cpu0, started = backends_cpu_s(dsn), time.process_time(), time.perf_counter()
    stored = write_all(writer, work, profilers)
    elapsed, cpu, server = time.perf_counter() - started, time.process_time() - cpu0, backends_cpu_s(dsn)
    figures: dict[str, object] = {"phase": name, "samples": stored, "seconds": round(elapsed, 2),
                                  "samples_per_s": round(stored / elapsed),
                                  "client_cpu_us": round(cpu / stored * 1e6, 1)}  # fmt: skip
    if server is not None and server0 is not None:
        figures["server_cpu_us"] = round((server - server0) / stored * 1e6, 1)
    print(orjson.dumps(figures).decode(), flush=True)
    for thread, profiler in zip(("writing", "preparing"), profilers, strict=False):
        print(f"--- the {thread} thread")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100_000, help="new series (a multiple of 100)")
    parser.add_argument("--batch", type=int, default=5_000, help="samples per batch (a multiple of 100)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the new-series phase")
    args = parser.parse_args()

    dsn = ADMIN.rsplit("/", 1)[0] + "/ioc_bench_series"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ioc_bench_series WITH (FORCE)")
    ensure_database(dsn)
    settings = load_settings(database_url=dsn, timescaledb="off")
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings)
    now = time.time() - 600
    writer = BatchWriter(dsn)
    phase("new series", dsn, writer, batches(args.series, args.batch, now), args.profile)
    phase("known series", dsn, writer, batches(args.series, args.batch, now + 1))
    writer.close()
    cold = BatchWriter(dsn)
    phase("cold cache", dsn, cold, batches(args.series, args.batch, now + 2))
    cold.close()


if __name__ == "__main__":
    main()
