"""What the writer's marks of late rows cost per batch (ioc.store.uptime_marks): one command, prints figures.

    .venv/bin/python bench/uptime_marks.py [--series 1000] [--batch 5000] [--rounds 50]

Builds a fresh database `ioc_bench_marks` (plain PostgreSQL) with `--series` series of as many entities,
then times `LateMarks.mark` inside a transaction, as the writer calls it, for batches of `--batch` samples
spread over the series: live samples (now: nothing is late, one numpy comparison), late samples of two
UTC days three days ago (one UPSERT of the distinct (entity, day) pairs), and the same late batch again
within the 30 s a writer remembers its marks (no statement). Median and worst of `--rounds`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ioc.settings import load_settings
from ioc.store.connect import ensure_database
from ioc.store.migrate import migrate
from ioc.store.pg_binary import PG_EPOCH_S
from ioc.store.uptime_marks import LateMarks

ADMIN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "ioc_bench_marks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    dsn = ADMIN.rsplit("/", 1)[0] + "/" + DB
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, load_settings(database_url=dsn, timescaledb="off"))
        conn.execute(
            "INSERT INTO series (kind, entity, metric) SELECT 'kiosk', 'k-' || i, 'up' FROM generate_series(1, %s) i",
            (args.series,),
        )
        ids = np.array([r[0] for r in conn.execute("SELECT id FROM series ORDER BY id")], dtype=np.int32)
    rng = np.random.default_rng(1)
    sid = ids[rng.integers(0, len(ids), args.batch)]
    now = time.time()
    live_us = ((now - PG_EPOCH_S - rng.random(args.batch) * 5) * 1e6).astype(np.int64)
    late_us = ((now - 3 * 86400 - PG_EPOCH_S - rng.random(args.batch) * 86400) * 1e6).astype(np.int64)
    title = f"batch of {args.batch} samples over {args.series} series"
    print(f"{title:58} {'median ms':>10} {'worst ms':>9}")
    with psycopg.connect(dsn) as conn:
        cases = [
            ("live samples (nothing late)", live_us, True),
            ("late samples, two UTC days (UPSERT of the pairs)", late_us, True),
            ("the same late batch again within 30 s (remembered)", late_us, False),
        ]
        for label, ts_us, fresh in cases:
            times = []
            marks = LateMarks()
            if not fresh:
                with conn.transaction():
                    marks.mark(conn, sid, ts_us, [])
            for _ in range(args.rounds):
                if fresh:
                    marks = LateMarks()
                with conn.transaction():
                    started = time.perf_counter()
                    marks.mark(conn, sid, ts_us, [])
                    times.append((time.perf_counter() - started) * 1000)
            print(f"{label:58} {statistics.median(times):10.2f} {max(times):9.2f}", flush=True)
        pairs = conn.execute("SELECT count(*) FROM uptime_dirty").fetchone()[0]  # type: ignore[index]
    print(f"(entity, day) pairs marked: {pairs:,}")


if __name__ == "__main__":
    main()
