"""Ingest benchmark: one command, prints figures (not a test).

    .venv/bin/python bench/ingest.py [--single 50000] [--batched 5000] [--drain 10000] [--drain-single 50000]
                                     [--paced-rate 20000]
                                     [--series 100000] [--batch-samples N] [--py-spy drain.txt]

Starts its own Mosquitto (our production settings, unlimited queues and in-flight window) and a fresh
database `ioc_bench` on the local PostgreSQL, runs the real IngestService in this process, and measures
in one run, publishing from a separate process over MQTT v5 at QoS 1:
- the raw binary COPY rate into the same table (before and after the MQTT phases; the ratios use the mean);
- "burst": single-sample and 100-sample messages published at full speed WHILE the service ingests
  (the publisher competes with the service, Mosquitto and PostgreSQL for the same cores);
- "drain": 100-sample (and single-sample) messages published into the broker while the service is
  stopped (its persistent session queues them), then the service started: its own capacity, without a
  publisher running;
- "paced": 100-sample messages at a steady rate, for meaningful publish-to-commit latency p50/p99;
- RSS with N live series.
Rates are from the first to the last commit of each phase.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.ingest import IngestService
from ioc.settings import load_settings
from ioc.store.batch import CommittedBatch
from ioc.store.connect import ensure_database
from ioc.store.migrate import migrate
from ioc.store.writer import PG_EPOCH_S, copy_payload

ADMIN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish(port: int, mode: str, count: int, entities: int, rate: float = 0.0) -> None:
    """Runs in a child process: publish `count` messages at QoS 1, with ts = publish time; `rate` > 0
    paces the messages (messages per second), else as fast as paho can."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    last = None
    started = time.time()
    for i in range(count):
        if rate:
            pause = started + i / rate - time.time()
            if pause > 0:
                time.sleep(pause)
        now = time.time()
        if mode == "single":
            payload = orjson.dumps({"ts": now, "metrics": {"cpu_pct": float(i % 100)}})
            topic = f"ioc/v1/metrics/kiosk/k{i % entities}"
        elif mode == "batched":  # 100 samples of one series, 10 us apart (latency error < 1 ms)
            payload = orjson.dumps([{"ts": now - j * 1e-5, "metrics": {"rtt_ms": float(j)}} for j in range(100)])
            topic = f"ioc/v1/metrics/link/l{i % entities}"
        else:  # series: 100 metrics per message, `entities` entities -> entities * 100 live series
            payload = orjson.dumps({"ts": now, "metrics": {f"m{j}": float(j) for j in range(100)}})
            topic = f"ioc/v1/metrics/kiosk/s{i % entities}"
        last = client.publish(topic, payload, qos=1)
    if last is not None:
        last.wait_for_publish(600)
    client.disconnect()
    client.loop_stop()


class Recorder:
    def __init__(self) -> None:
        self.stored = 0
        self.first: float | None = None
        self.last = 0.0
        self.latencies: list[np.ndarray] = []
        self.lock = threading.Lock()

    def __call__(self, batch: CommittedBatch) -> None:
        now = time.time()
        with self.lock:
            if self.first is None:
                self.first = now
            self.last = now
            self.stored += len(batch)
            if len(batch):
                self.latencies.append(now - batch.ts[:: max(1, len(batch) // 50)])

    def reset(self) -> None:
        with self.lock:
            self.stored, self.first, self.last, self.latencies = 0, None, 0.0, []


def publisher(port: int, mode: str, count: int, entities: int, rate: float = 0.0) -> subprocess.Popen:
    args = [sys.executable, __file__, "--publish", mode, str(port), str(count), str(entities), str(rate)]
    return subprocess.Popen(args)


def run_phase(
    name: str,
    port: int,
    recorder: Recorder,
    service: IngestService,
    mode: str,
    count: int,
    expected: int,
    entities: int,
    rate: float = 0.0,
    proc: subprocess.Popen | None = None,
) -> dict:
    """Publish (unless `proc` already did) and wait until `expected` samples were committed."""
    if proc is None:
        recorder.reset()
        proc = publisher(port, mode, count, entities, rate)
    dup0 = service.metrics.samples_duplicate._value.get()
    started = time.time()
    deadline = time.time() + 900
    while recorder.stored + service.metrics.samples_duplicate._value.get() - dup0 < expected:
        if time.time() > deadline:
            raise SystemExit(f"{name}: only {recorder.stored} of {expected} samples committed in 900 s")
        time.sleep(0.02)
    proc.wait()
    # first to last commit: publisher start-up left out (a phase of one batch has no span: its wait counts)
    elapsed = recorder.last - (recorder.first or started) or time.time() - started
    lat = np.concatenate(recorder.latencies) if recorder.latencies else np.zeros(1)
    figures = {
        "phase": name,
        "samples": recorder.stored,
        "duplicates": int(service.metrics.samples_duplicate._value.get() - dup0),
        "seconds_first_to_last_commit": round(elapsed, 2),
        "samples_per_s": round(recorder.stored / elapsed),
        "messages_per_s": round(count / elapsed),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1),
        "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1),
    }
    print(orjson.dumps(figures).decode(), flush=True)
    return figures


def raw_copy_rate(dsn: str, rows: int) -> float:
    with psycopg.connect(dsn) as conn:
        sid = (np.arange(rows) % 1000).astype(np.int32) + 1_000_000
        base = int((time.time() - 3600 - PG_EPOCH_S) * 1e6)
        ts = base + np.arange(rows, dtype=np.int64) // 1000 * 1000
        data = copy_payload(sid, ts, np.random.default_rng(1).random(rows))
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY samples (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(data)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DELETE FROM samples WHERE series_id >= 1000000")
        conn.commit()
    rate = rows / elapsed
    print(orjson.dumps({"phase": "raw binary COPY", "samples": rows, "samples_per_s": round(rate)}).decode())
    return rate


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_py_spy(out: str) -> subprocess.Popen:
    """py-spy on this process (all threads, CPU samples only: a thread waiting on a socket or the GIL
    is not counted), collapsed stacks in `out`; stopped with SIGINT."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "--pid", str(os.getpid()), "--rate", "200", "--threads", "--gil",
                             "--format", "raw", "--output", out], stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=50_000, help="single-sample messages, burst")
    parser.add_argument("--batched", type=int, default=5_000, help="messages of 100 samples, burst")
    parser.add_argument("--drain", type=int, default=10_000, help="messages of 100 samples, drained from a backlog")
    parser.add_argument("--drain-single", type=int, default=50_000, help="single-sample messages, drained")
    parser.add_argument("--paced-rate", type=float, default=20_000, help="samples/s of the paced phase")
    parser.add_argument("--paced-seconds", type=float, default=15, help="length of the paced phase")
    parser.add_argument("--series", type=int, default=100_000, help="live series for the RSS figure")
    parser.add_argument("--batch-samples", type=int, default=None, help="IOC_BATCH_MAX_SAMPLES (default: settings)")
    parser.add_argument("--py-spy", metavar="OUT", help="record the drain phase with py-spy (collapsed stacks)")
    parser.add_argument("--timescaledb", action="store_true", help="bench the TimescaleDB back end")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
    port = free_port()
    (workdir / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\nlog_type error\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(workdir / "mosquitto.conf")]
    )
    dsn = ADMIN.rsplit("/", 1)[0] + "/ioc_bench"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ioc_bench WITH (FORCE)")
    ensure_database(dsn)
    overrides = {"batch_max_samples": args.batch_samples} if args.batch_samples else {}
    settings = load_settings(
        database_url=dsn, mqtt_url=f"mqtt://127.0.0.1:{port}", spool_dir=workdir / "spool",
        mqtt_client_id="ioc-bench", timescaledb="on" if args.timescaledb else "off", **overrides,
    )  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings)
        backend = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()[0]
    print(
        f"back end {backend}; {os.cpu_count()} CPUs; batch_max_samples {settings.batch_max_samples}, "
        f"batch_max_age_ms {settings.batch_max_age_ms}"
    )
    recorder = Recorder()
    service = IngestService(settings, listeners=[recorder])
    service.start()
    try:
        service.source.wait_connected(10)
        time.sleep(0.3)
        raw_before = raw_copy_rate(dsn, 1_000_000)
        single = run_phase(
            "burst: single-sample messages", port, recorder, service, "single", args.single, args.single, 1000
        )
        batched = run_phase(
            "burst: 100-sample messages", port, recorder, service, "batched", args.batched, args.batched * 100, 1000
        )

        # Drain: the service stopped (clean disconnect, its persistent session keeps queuing), a backlog
        # published, then a new service started on the same session.
        def drain_phase(name: str, mode: str, count: int, per_message: int, spy_out: str | None) -> dict:
            nonlocal service
            service.stop()
            recorder.reset()
            backlog = publisher(port, mode, count, 1000)
            backlog.wait()
            service = IngestService(settings, listeners=[recorder])
            spy = start_py_spy(spy_out) if spy_out else None
            service.start()
            figures = run_phase(name, port, recorder, service, mode, count, count * per_message, 1000, proc=backlog)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            return figures

        drain = drain_phase("drain: 100-sample messages from a backlog", "batched", args.drain, 100, args.py_spy)
        drain_single = drain_phase("drain: single-sample messages from a backlog", "single", args.drain_single, 1, None)
        paced_count = int(args.paced_rate * args.paced_seconds / 100)
        paced = run_phase(
            f"paced: {args.paced_rate:.0f} samples/s in 100-sample messages", port, recorder, service, "batched",
            paced_count, paced_count * 100, 1000, rate=args.paced_rate / 100,
        )  # fmt: skip
        entities = args.series // 100
        run_phase(
            f"{args.series} live series", port, recorder, service, "series", entities * 2, entities * 200, entities
        )
        rss = rss_mb()
        print(
            orjson.dumps({"phase": "RSS", "live_series": len(service.writer.registry), "rss_mb": round(rss)}).decode()
        )
        raw_after = raw_copy_rate(dsn, 1_000_000)
        raw = (raw_before + raw_after) / 2
        print(
            f"\nraw COPY {raw_before:.0f} / {raw_after:.0f} samples/s (before / after; mean {raw:.0f})"
            f"\nsingle-sample burst {single['messages_per_s']} msg/s (target >= 10000); drained from a backlog "
            f"{drain_single['messages_per_s']} msg/s"
            f"\n100-sample burst, publisher running: {batched['samples_per_s']} samples/s (target >= 100000), "
            f"{batched['samples_per_s'] / raw:.0%} of raw COPY (target >= 60%)"
            f"\n100-sample drain of a backlog: {drain['samples_per_s']} samples/s, "
            f"{drain['samples_per_s'] / raw:.0%} of raw COPY"
            f"\npaced {args.paced_rate:.0f} samples/s: publish -> committed p50 {paced['p50_ms']} ms, "
            f"p99 {paced['p99_ms']} ms"
            f"\nRSS {rss:.0f} MB with {len(service.writer.registry)} series (target < 300 MB)"
        )  # fmt: skip
    finally:
        service.stop()
        broker.terminate()
        broker.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--publish":
        publish(int(sys.argv[3]), sys.argv[2], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        main()
