"""The lone member's plain subscription (contract section 11), against real Mosquitto and PostgreSQL: what
devices publish across a broker restart, before ingest is back, is kept for it (the shared subscription
loses it: Mosquitto 2.0 does not restore shared subscriptions); a second member joining moves the first
to the shared subscription with nothing lost or stored twice; a member joining while a stopped lone
member's session holds the plain subscription drains that session."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from ingest_helpers import publish_all, publisher, scalar, wait_for
from prometheus_client import CollectorRegistry

from collectors.ingest import IngestService
from collectors.ingest.membership import IngestMember
from collectors.ingest.switching import RouteDedupe
from ioc.settings import Settings
from ioc.supervisor import child_specs
from tests.support import Broker

P = "ioc/v1"

pytestmark = pytest.mark.slow


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A broker whose persistence file survives its restart: Mosquitto started as root runs as user
    mosquitto, which cannot write into pytest's private folders, so its folder is one it may write."""
    folder = Path(tempfile.mkdtemp(prefix="ioc-broker-"))
    os.chmod(folder, 0o777)
    b = Broker(folder).start()
    yield b
    b.stop()
    shutil.rmtree(folder, ignore_errors=True)


def member(settings: Settings, client_id: str, mode: str) -> IngestMember:
    s = settings.model_copy(
        update={
            "mqtt_client_id": client_id, "mqtt_subscription": mode, "spool_dir": settings.spool_dir / client_id,
            "batch_max_age_ms": 20, "ingest_member_gone_s": 4.0,
        }
    )  # fmt: skip
    return IngestMember(s, IngestService(s, registry=CollectorRegistry()))


def messages(base: float, start: int, stop: int) -> list[tuple[str, bytes]]:
    return [
        (f"{P}/metrics/kiosk/k{i % 5}", orjson.dumps({"ts": base + i * 0.001, "metrics": {"queue_waiting": i}}))
        for i in range(start, stop)
    ]


def stored(dsn: str) -> tuple[int, int]:
    """(rows, distinct samples) of the test metric."""
    return scalar(
        dsn,
        "SELECT ARRAY[count(*), count(DISTINCT (s.series_id, s.ts))] FROM samples s JOIN series r"
        " ON r.id = s.series_id WHERE r.metric = 'queue_waiting'",
    )


def subscription_of(dsn: str, client_id: str) -> str | None:
    return scalar(dsn, "SELECT subscription FROM ingest_members WHERE client_id = %s", (client_id,))


def test_twins_by_two_routes_are_dropped_and_identical_messages_are_kept():
    now = [0.0]
    d = RouteDedupe(window_s=5, clock=lambda: now[0])
    assert not d.is_twin("old", "t/a", b"1")
    assert d.is_twin("new", "t/a", b"1")  # the same publish by the new route
    assert not d.is_twin("new", "t/b", b"1")  # another topic is another message
    # Two identical messages during the overlap: two copies each way, both stored once.
    assert [d.is_twin(r, "t/c", b"x") for r in ("old", "old", "new", "new")] == [False, False, True, True]
    assert not d.is_twin("old", "t/d", b"y")
    now[0] = 6.0  # a copy only one route carried is forgotten after the window
    assert not d.is_twin("new", "t/d", b"y")
    assert d.twins == 3
    assert d.waiting() == 1  # the second t/d (t/b was forgotten with the first), until its window closes
    now[0] = 20.0
    assert d.waiting() == 0


def test_ioc_run_makes_its_single_ingest_process_plain_and_several_shared(settings):
    one = child_specs(settings.model_copy(update={"ingest_processes": 1}))
    assert [c.env.get("IOC_MQTT_SUBSCRIPTION") for c in one if c.role == "ingest"] == ["plain"]
    three = child_specs(settings.model_copy(update={"ingest_processes": 3, "mqtt_subscription": "plain"}))
    assert [c.env.get("IOC_MQTT_SUBSCRIPTION") for c in three if c.role == "ingest"] == ["shared"] * 3
    fixed = child_specs(settings.model_copy(update={"ingest_processes": 1, "mqtt_subscription": "shared"}))
    assert [c.env.get("IOC_MQTT_SUBSCRIPTION") for c in fixed if c.role == "ingest"] == [None]


@pytest.mark.parametrize("mode", ["plain", "shared"])
def test_what_devices_publish_before_ingest_is_back_from_a_broker_restart(settings, broker, dsn, mode):
    base = time.time() - 60
    a = member(settings, "ioc-lone", mode)
    a.start()
    assert a.ingest.source.wait_connected(10)
    wait_for(lambda: subscription_of(dsn, "ioc-lone") == mode, 10)
    a.stop()  # the last member: keeps its session (what the supervisor's stop does, or ingest still away)
    broker.stop()  # SIGTERM: Mosquitto saves its persistence file
    broker.start()
    pub = publisher(broker.url)
    publish_all(pub, messages(base, 0, 500))  # the devices are back first
    pub.disconnect()
    again = member(settings, "ioc-lone", mode)
    again.start()
    try:
        if mode == "plain":
            wait_for(lambda: stored(dsn) == [500, 500], 20)
        else:
            time.sleep(2)  # what a shared subscription would have had arrives within this
            assert stored(dsn) == [0, 0]  # the loss the plain subscription is for
    finally:
        again.stop()


def test_a_member_joining_moves_the_lone_one_to_the_shared_subscription_without_loss_or_doubles(settings, broker, dsn):
    base = time.time() - 60
    a = member(settings, "ioc-first", "plain")
    a.start()
    b = None
    try:
        assert a.ingest.source.wait_connected(10)
        wait_for(lambda: subscription_of(dsn, "ioc-first") == "plain", 10)
        total = 4000
        pub = publisher(broker.url)

        def publish() -> None:  # a steady stream across the whole move (about 4 s)
            for start in range(0, total, 100):
                publish_all(pub, messages(base, start, start + 100))
                time.sleep(0.1)

        stream = threading.Thread(target=publish)
        stream.start()
        time.sleep(0.5)
        b = member(settings, "ioc-second", "shared")
        b.start()  # waits until ioc-first left the plain subscription
        assert subscription_of(dsn, "ioc-first") == "shared"
        stream.join()
        pub.disconnect()
        wait_for(lambda: stored(dsn)[1] == total, 30)
        time.sleep(1)
        assert stored(dsn) == [total, total]  # none lost, none twice
        assert a.ingest.source.mode == "shared" and b.ingest.source.mode == "shared"
        assert b.ingest.source.session_mode == "shared"
    finally:
        if b is not None:
            b.stop()
        a.stop()


def test_a_member_joining_drains_a_stopped_lone_members_plain_session(settings, broker, dsn):
    base = time.time() - 60
    a = member(settings, "ioc-was-alone", "plain")
    a.start()
    assert a.ingest.source.wait_connected(10)
    wait_for(lambda: subscription_of(dsn, "ioc-was-alone") == "plain", 10)
    a.stop()
    assert scalar(dsn, "SELECT state FROM ingest_members WHERE client_id = 'ioc-was-alone'") == "kept"
    pub = publisher(broker.url)
    publish_all(pub, messages(base, 0, 700))  # queued in the stopped member's session
    b = member(settings, "ioc-renamed", "plain")  # another client id: a renamed member, or a new host
    b.start()
    try:
        assert b.ingest.source.mode == "shared"  # another session was open when it joined
        assert b.ingest.source.wait_connected(10)
        time.sleep(0.3)  # its SUBSCRIBE is at the broker
        publish_all(pub, messages(base, 700, 1000))
        pub.disconnect()
        wait_for(lambda: stored(dsn)[1] == 1000, 30)
        wait_for(lambda: scalar(dsn, "SELECT state FROM ingest_members WHERE client_id = 'ioc-was-alone'") == "drained",
                 20)  # fmt: skip
        time.sleep(1)
        assert stored(dsn) == [1000, 1000]
    finally:
        b.stop()
