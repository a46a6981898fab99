"""Nothing lost: across a store outage (a loopback TCP proxy cut and restored) and a kill -9 mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from ingest_helpers import TcpProxy, publish_all, publisher, scalar, wait_for
from prometheus_client import CollectorRegistry

from collectors.ingest import IngestService
from ioc.settings import load_settings

P = "ioc/v1"


def sample(i: int, base: float) -> tuple[str, bytes]:
    return f"{P}/metrics/kiosk/k{i % 7}", orjson.dumps({"ts": base + i * 0.001, "metrics": {"queue_waiting": i}})


def test_store_outage_spools_and_replays_in_order(dsn, broker, tmp_path):
    proxy = TcpProxy.for_dsn(dsn)
    proxy.start()
    proxied = proxy.proxied(dsn)
    settings = load_settings(
        database_url=proxied, mqtt_url=broker.url, spool_dir=tmp_path / "spool", mqtt_client_id="ioc-outage",
        db_retry_attempts=2, db_retry_max_s=0.2, batch_max_age_ms=20, timescaledb="off",
    )  # fmt: skip
    registry = CollectorRegistry()
    service = IngestService(settings, registry=registry)
    service.start()
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.2)
        pub = publisher(broker.url)
        base = time.time() - 60
        publish_all(pub, [sample(i, base) for i in range(100)])
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") == 100)
        proxy.cut()
        publish_all(pub, [sample(i, base) for i in range(100, 400)])
        wait_for(lambda: (registry.get_sample_value("ioc_spooled_batches_total") or 0) >= 1)
        wait_for(lambda: registry.get_sample_value("ioc_samples_received_total") == 400)
        assert scalar(dsn, "SELECT count(*) FROM samples") == 100
        assert (registry.get_sample_value("ioc_db_retries_total") or 0) >= 1
        proxy.start()
        publish_all(pub, [sample(i, base) for i in range(400, 450)])
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") == 450, 20)
        wait_for(lambda: registry.get_sample_value("ioc_spool_bytes") == 0)
        assert (registry.get_sample_value("ioc_spool_replayed_batches_total") or 0) >= 1
        assert scalar(dsn, "SELECT count(DISTINCT (series_id, ts)) FROM samples") == 450
        assert scalar(dsn, "SELECT sum(cnt) FROM samples_1m") == 450
        pub.disconnect()
    finally:
        service.stop()
        proxy.cut()


def _run_ingest(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "collectors.ingest"], env=env, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_kill_9_mid_batch_loses_nothing_and_stores_each_sample_once(dsn, broker, tmp_path: Path):
    env = dict(os.environ, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_SPOOL_DIR=str(tmp_path / "spool"),
               IOC_MQTT_CLIENT_ID="ioc-ingest-kill", IOC_BATCH_MAX_SAMPLES="200", IOC_BATCH_MAX_AGE_MS="100",
               IOC_TIMESCALEDB="off", PYTHONPATH=str(Path(__file__).resolve().parents[3]))  # fmt: skip
    proc = _run_ingest(env)
    pub = publisher(broker.url)
    base = time.time() - 120
    total = 5000
    try:
        # Until the first sample is stored, the subscription may not exist yet: publish a probe until it lands.
        def ready() -> bool:
            publish_all(pub, [(f"{P}/metrics/kiosk/probe", orjson.dumps({"ts": base, "metrics": {"up": 1}}))])
            return scalar(dsn, "SELECT count(*) FROM samples") > 0

        wait_for(ready, 20, 0.2)
        done = threading.Event()

        def publish() -> None:
            for start in range(0, total, 250):
                publish_all(pub, [sample(i, base) for i in range(start, min(start + 250, total))])
            done.set()

        threading.Thread(target=publish, daemon=True).start()
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") > 800, 20, 0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        killed_at = scalar(dsn, "SELECT count(*) FROM samples")
        assert killed_at < total + 1, "the kill came too late to test anything"
        wait_for(done.is_set, 30)
        proc = _run_ingest(env)
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") >= total + 1, 30)
        time.sleep(0.3)  # anything extra would land now
        assert scalar(dsn, "SELECT count(*) FROM samples") == total + 1
        assert scalar(dsn, "SELECT count(DISTINCT value) FROM samples s JOIN series r ON r.id = s.series_id"
                           " WHERE r.metric = 'queue_waiting'") == total  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        pub.disconnect()
