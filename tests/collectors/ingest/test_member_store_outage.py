"""An ingest member starting while the store is away: it connects and spools without its lock, then takes
its lock and registers once the store is back, and stops keeping its session (it never held the lock
through a decision)."""

from __future__ import annotations

import time

import orjson
from ingest_helpers import TcpProxy, publish_all, publisher, scalar, wait_for
from prometheus_client import CollectorRegistry

from collectors.ingest import IngestService
from collectors.ingest.membership import STORE_WAIT_S, IngestMember
from ioc.settings import load_settings

P = "ioc/v1"


def test_member_starts_without_the_store_and_registers_when_it_returns(dsn, broker, tmp_path):
    proxy = TcpProxy.for_dsn(dsn)  # not started: the store is unreachable
    settings = load_settings(
        database_url=proxy.proxied(dsn), mqtt_url=broker.url, spool_dir=tmp_path / "spool",
        mqtt_client_id="ioc-member-outage", db_retry_attempts=1, db_retry_max_s=0.2, batch_max_age_ms=20,
        timescaledb="off", ingest_member_gone_s=2,
    )  # fmt: skip
    registry = CollectorRegistry()
    member = IngestMember(settings, IngestService(settings, registry=registry))
    started = time.monotonic()
    member.start()
    try:
        assert time.monotonic() - started < STORE_WAIT_S + 3
        assert member.ingest.source.wait_connected(10)
        time.sleep(0.3)
        pub = publisher(broker.url)
        base = time.time() - 60
        publish_all(
            pub, [(f"{P}/metrics/kiosk/k1", orjson.dumps({"ts": base + i, "metrics": {"up": 1}})) for i in range(20)]
        )
        wait_for(lambda: (registry.get_sample_value("ioc_spooled_batches_total") or 0) >= 1, 20)
        assert scalar(dsn, "SELECT count(*) FROM ingest_members") == 0
        proxy.start()
        wait_for(
            lambda: scalar(dsn, "SELECT state FROM ingest_members WHERE client_id = 'ioc-member-outage'") == "live", 20
        )
        wait_for(lambda: scalar(dsn, "SELECT connected FROM ingest_members WHERE client_id = 'ioc-member-outage'"), 10)
        wait_for(lambda: scalar(dsn, "SELECT count(*) FROM samples") == 20, 20)
        pub.disconnect()
    finally:
        member.stop()
        proxy.cut()
    assert member.left is False  # the only member: it keeps its session
    assert scalar(dsn, "SELECT state FROM ingest_members WHERE client_id = 'ioc-member-outage'") == "kept"
