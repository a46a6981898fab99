"""Alert benchmark: one command, prints figures (not a test).

    .venv/bin/python bench/alerts.py [--rounds 100] [--series 10000]

Starts its own Mosquitto and a fresh database `ioc_bench_alerts` on the local PostgreSQL, runs the
real ingest and alert services wired as `ioc run` wires them, and a local webhook receiver. Measures:
- sample published (MQTT, QoS 1) -> webhook received, for a threshold rule (link `up` < 0.5) and for
  the status topic's `offline` (Last Will), p50/p99 over --rounds incidents each;
- the engine's CPU time to evaluate a committed batch of one sample for each of --series series
  under the default rules, and one tick over as many entities;
- with --prometheus N, N link incidents at random moments through Debian's Prometheus + Alertmanager
  with common settings (scrape 15 s, evaluation 15 s, group_wait 30 s), to the same kind of receiver.
The group wait is set to 0 here, so the figures are the engine's own latency; in production each
message waits `IOC_ALERT_GROUP_WAIT_S` more (default 2 s) so that a storm becomes one message.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from prometheus_client import CollectorRegistry

from alerts.engine import Engine
from alerts.rules import load_rules
from ioc.inventory import Entity, Inventory, Site, parse_inventory, store_inventory
from ioc.model import StatusUpdate
from ioc.runtime import build_services
from ioc.settings import load_settings
from ioc.store.connect import ensure_database, make_pool
from ioc.store.migrate import migrate
from ioc.store.series import SeriesKey

ADMIN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
P = "ioc/v1"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Webhook receiver recording when each (alertname, entity, status) first arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, str, str], float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                now = time.time()
                with receiver.lock:
                    for a in body["alerts"]:
                        entity = a["labels"].get("entity") or a["labels"].get("link", "")
                        key = (a["labels"]["alertname"], entity, a["status"])
                        receiver.arrivals.setdefault(key, now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, key: tuple[str, str, str], timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if key in self.arrivals:
                    return self.arrivals[key]
            time.sleep(0.001)
        raise TimeoutError(f"no page for {key}")


def inventory_text(rounds: int) -> str:
    lines = ["sites:"]
    lines += [f'  - {{id: s{i}, name: "Xã {i}"}}' for i in range(rounds)]
    lines.append("entities:")
    for i in range(rounds):
        lines.append(f'  - {{kind: link, id: wan-{i}, name: "Đường truyền xã {i}", site: s{i}, interval_s: 60}}')
        lines.append(f'  - {{kind: kiosk, id: kiosk-{i}, name: "Kiosk lấy số {i}", site: s{i}, interval_s: 60}}')
    return "\n".join(lines) + "\n"


def percentiles(values: list[float]) -> str:
    a = np.array(values) * 1000
    return f"p50 {np.percentile(a, 50):.1f} ms, p99 {np.percentile(a, 99):.1f} ms, max {a.max():.1f} ms"


def latency(rounds: int, batch_age_ms: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ioc-bench-alerts-"))
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n"
        "max_inflight_messages 0\nlog_dest none\n"
    )
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
    dsn = ADMIN.rsplit("/", 1)[0] + "/ioc_bench_alerts"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ioc_bench_alerts WITH (FORCE)")
    ensure_database(dsn)
    receiver = Receiver()
    rules_dir = workdir / "rules"
    rules_dir.mkdir()
    # The shipped rules, with the link rule's `for` at 0 so the figure is the pipeline's, not the rule's.
    (rules_dir / "link.yaml").write_text(
        "rules:\n  - {name: link_down, kind: link, type: threshold, metric: up, op: '<', threshold: 0.5, down: true,"
        " severity: critical, summary: {vi: '{name} mất kết nối', en: '{name} is down'}}\n",
        encoding="utf-8",
    )
    settings = load_settings(
        database_url=dsn,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        spool_dir=workdir / "spool",
        alert_webhook_urls=receiver.url,
        alert_group_wait_s=0.0,
        batch_max_age_ms=batch_age_ms,
        alert_tick_s=1.0,
        rules_dir=rules_dir,
        mqtt_client_id=f"ioc-bench-{os.getpid()}",
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings)
    with psycopg.connect(dsn) as conn:
        store_inventory(conn, parse_inventory(inventory_text(rounds)))
    pool = make_pool(dsn, max_size=4, name="ioc-bench")
    pool.open(wait=True)
    services, (checks, _) = build_services(settings, {"ingest", "alerts"}, pool, CollectorRegistry())
    for service in services:
        service.start()
    while not checks["broker"]():
        time.sleep(0.01)
    time.sleep(0.5)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        threshold, offline = [], []
        for i in range(rounds):
            sent = time.time()
            payload = orjson.dumps({"ts": sent, "metrics": {"up": 0}})
            client.publish(f"{P}/metrics/link/wan-{i}", payload, qos=1)
            threshold.append(receiver.wait(("link_down", f"wan-{i}", "firing")) - sent)
            sent = time.time()
            client.publish(f"{P}/status/kiosk/kiosk-{i}", b"offline", qos=1, retain=True)
            offline.append(receiver.wait(("kiosk_down", f"kiosk-{i}", "firing")) - sent)
        where = f"{rounds} incidents, ingest batch age {batch_age_ms} ms"
        print(f"threshold rule, published -> webhook received ({where}): {percentiles(threshold)}")
        print(f"offline (Last Will), published -> webhook received ({where}): {percentiles(offline)}")
    finally:
        client.loop_stop()
        client.disconnect()
        for service in reversed(services):
            service.stop()
        pool.close()
        broker.terminate()
        broker.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        receiver.server.shutdown()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS ioc_bench_alerts WITH (FORCE)")


def evaluation_cpu(series: int, repeats: int = 10) -> None:
    """CPU time of the engine alone: one sample for each of `series` series under the default rules."""
    metrics = ("cpu_pct", "printer_ok", "printer_paper_pct", "temp_c")
    kiosks = series // len(metrics)
    entities = tuple(Entity("kiosk", f"k{i}", f"Kiosk {i}", site=f"s{i % 100}", interval_s=60) for i in range(kiosks))
    sites = tuple(Site(f"s{i}", f"Xã {i}") for i in range(100))
    start = time.time()
    engine = Engine(load_rules(), Inventory((), sites, entities), start=start)
    keys = {i: SeriesKey("kiosk", f"k{i // len(metrics)}", metrics[i % len(metrics)]) for i in range(kiosks * 4)}
    ids = np.array(sorted(keys), dtype=np.int32)
    values = np.where(np.arange(ids.size) % 4 == 1, 1.0, 50.0)
    seen = {("kiosk", e.id): start for e in entities}
    cpu: list[float] = []
    for r in range(repeats):
        ts = np.full(ids.size, start + r + 1.0)
        began = time.process_time()
        engine.observe(ids, ts, values, keys.get, seen=seen, now=start + r + 1)
        cpu.append(time.process_time() - began)
    began = time.process_time()
    for r in range(repeats):
        engine.tick(start + repeats + r)
    tick = (time.process_time() - began) / repeats
    per10k = np.median(cpu[1:]) * 10_000 / ids.size
    print(
        f"evaluation CPU: {per10k * 1000:.1f} ms per 10k series (one sample each, {ids.size} series, "
        f"{len(engine.rules)} default rules; first batch {cpu[0] * 1000:.0f} ms incl. rule matching); "
        f"tick over {kiosks} entities: {tick * 1000:.1f} ms"
    )
    statuses = [StatusUpdate("kiosk", f"k{i}", start + 100, "offline") for i in range(kiosks)]
    began = time.process_time()
    engine.observe(np.empty(0, dtype=np.int32), np.empty(0), np.empty(0), keys.get, statuses=statuses, now=start + 100)
    print(f"offline storm: {kiosks} Last Wills evaluated in {(time.process_time() - began) * 1000:.0f} ms CPU")


def prometheus_side_by_side(incidents: int) -> None:
    """The same kind of incident through Debian's Prometheus + Alertmanager with common settings:
    scrape 15 s, evaluation 15 s, group_wait 30 s; a link gauge flips to 0 at random moments."""
    import random

    from prometheus_client import Gauge, start_http_server

    prometheus, alertmanager = shutil.which("prometheus"), shutil.which("prometheus-alertmanager")
    if not prometheus or not alertmanager:
        print("prometheus side by side: skipped (apt-get install prometheus prometheus-alertmanager)")
        return
    workdir = Path(tempfile.mkdtemp(prefix="ioc-bench-prom-"))
    registry = CollectorRegistry()
    gauge = Gauge("link_up", "1 while the link answers", ["link"], registry=registry)
    for i in range(incidents):
        gauge.labels(f"wan-{i}").set(1)
    exporter_port, prom_port, am_port = free_port(), free_port(), free_port()
    server, _thread = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    receiver = Receiver()
    (workdir / "am.yml").write_text(
        "route:\n  receiver: hook\n  group_by: [link]\n  group_wait: 30s\n  group_interval: 5m\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {receiver.url}\n"
    )
    (workdir / "rules.yml").write_text(
        "groups:\n  - name: links\n    rules:\n      - alert: link_down\n        expr: link_up < 0.5\n"
        "        labels: {severity: critical}\n"
    )
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 15s, evaluation_interval: 15s}\n"
        f"rule_files: [{workdir / 'rules.yml'}]\n"
        f"alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n"
        f"scrape_configs:\n  - job_name: links\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [alertmanager, f"--config.file={workdir / 'am.yml'}", f"--storage.path={workdir / 'am'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="], **quiet,
        ),
        subprocess.Popen(
            [prometheus, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"], **quiet,
        ),
    ]  # fmt: skip
    try:
        time.sleep(20)  # the first scrapes and evaluations
        rng = random.Random(1)
        flips = sorted((rng.uniform(0, 60), i) for i in range(incidents))
        began = time.time()
        sent: dict[int, float] = {}
        for at, i in flips:
            time.sleep(max(0.0, began + at - time.time()))
            gauge.labels(f"wan-{i}").set(0)
            sent[i] = time.time()
        delays = [receiver.wait(("link_down", f"wan-{i}", "firing"), timeout=180) - sent[i] for i in range(incidents)]
        print(
            f"Prometheus {prometheus} + Alertmanager, scrape 15 s, evaluation 15 s, group_wait 30 s "
            f"({incidents} incidents at random moments): {percentiles(delays)}"
        )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        server.shutdown()
        receiver.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="incidents per rule for the latency figures")
    parser.add_argument(
        "--batch-age-ms", type=int, default=200, help="IOC_BATCH_MAX_AGE_MS of the ingest writer (default as shipped)"
    )
    parser.add_argument(
        "--prometheus", type=int, default=0, metavar="N", help="also time N incidents through Prometheus + Alertmanager"
    )
    parser.add_argument("--series", type=int, default=10_000, help="series for the CPU figure")
    args = parser.parse_args()
    latency(args.rounds, args.batch_age_ms)
    evaluation_cpu(args.series)
    if args.prometheus:
        prometheus_side_by_side(args.prometheus)


if __name__ == "__main__":
    main()
