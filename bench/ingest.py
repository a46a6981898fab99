"""Ingest benchmark: one command, prints figures (not a test).

    .venv/bin/python bench/ingest.py [--single 50000] [--batched 5000] [--series 100000]

Starts its own Mosquitto (our production settings, unlimited queues and in-flight window) and a fresh
database `ioc_bench` on the local PostgreSQL, runs the real IngestService in this process, publishes
from a separate process over MQTT at QoS 1 as fast as it can, and measures in one run:
end-to-end stored samples/s for single-sample messages and for 100-sample batches, publish-to-commit
latency p50/p99, the raw binary COPY rate into the same table and the ratio, and RSS with N live series.
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def publish(port: int, mode: str, count: int, entities: int) -> None:
    """Runs in a child process: publish `count` messages at QoS 1, with ts = publish time."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    last = None
    for i in range(count):
        now = time.time()
        if mode == "single":
            payload = orjson.dumps({"ts": now, "metrics": {"cpu_pct": float(i % 100)}})
            topic = f"ioc/v1/metrics/kiosk/k{i % entities}"
        elif mode == "batched":
            payload = orjson.dumps([{"ts": now - j * 1e-3, "metrics": {"rtt_ms": float(j)}} for j in range(100)])
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


def run_phase(
    name: str,
    port: int,
    recorder: Recorder,
    service: IngestService,
    mode: str,
    count: int,
    expected: int,
    entities: int,
) -> dict:
    recorder.reset()
    dup0 = service.metrics.samples_duplicate._value.get()
    started = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--publish", mode, str(port), str(count), str(entities)])
    deadline = time.time() + 900
    while recorder.stored + service.metrics.samples_duplicate._value.get() - dup0 < expected and time.time() < deadline:
        time.sleep(0.05)
    proc.wait()
    elapsed = recorder.last - (recorder.first or started)  # first to last commit: publisher start-up left out
    lat = np.concatenate(recorder.latencies) if recorder.latencies else np.zeros(1)
    figures = {
        "phase": name,
        "samples": recorder.stored,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=50_000, help="single-sample messages")
    parser.add_argument("--batched", type=int, default=5_000, help="messages of 100 samples")
    parser.add_argument("--series", type=int, default=100_000, help="live series for the RSS figure")
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
    settings = load_settings(
        database_url=dsn, mqtt_url=f"mqtt://127.0.0.1:{port}", spool_dir=workdir / "spool",
        mqtt_client_id="ioc-bench", timescaledb="on" if args.timescaledb else "off",
    )  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings)
        backend = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()[0]
    print(f"back end {backend}; {os.cpu_count()} CPUs; batch_max_samples {settings.batch_max_samples}")
    recorder = Recorder()
    service = IngestService(settings, listeners=[recorder])
    service.start()
    try:
        service.source.wait_connected(10)
        time.sleep(0.3)
        raw = raw_copy_rate(dsn, 1_000_000)
        single = run_phase("single-sample messages", port, recorder, service, "single", args.single, args.single, 1000)
        batched = run_phase(
            "100-sample messages", port, recorder, service, "batched", args.batched, args.batched * 100, 1000
        )
        entities = args.series // 100
        run_phase(
            f"{args.series} live series", port, recorder, service, "series", entities * 2, entities * 200, entities
        )
        rss = rss_mb()
        print(
            orjson.dumps({"phase": "RSS", "live_series": len(service.writer.registry), "rss_mb": round(rss)}).decode()
        )
        print(
            f"\nsingle {single['messages_per_s']} msg/s (target >= 10000); batched {batched['samples_per_s']} "
            f"samples/s (target >= 100000), {batched['samples_per_s'] / raw:.0%} of raw COPY {raw:.0f}/s "
            f"(target >= 60%); latency p50/p99 single {single['p50_ms']}/{single['p99_ms']} ms, batched "
            f"{batched['p50_ms']}/{batched['p99_ms']} ms; RSS {rss:.0f} MB with {len(service.writer.registry)} "
            f"series (target < 300 MB)"
        )
    finally:
        service.stop()
        broker.terminate()
        broker.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--publish":
        publish(int(sys.argv[3]), sys.argv[2], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
