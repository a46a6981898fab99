"""Scale-in without loss (contract section 11), against real Mosquitto and PostgreSQL, with `ioc run --role
ingest` processes: a member stopped by SIGTERM leaves the shared subscription and ends its session; a
member killed for good is drained by `ioc ingest drain` or automatically; a renamed client id's old
session is drained; a member that restarts keeps its session."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from ingest_helpers import publish_all, publisher, rows, scalar, wait_for

from tests.service_process import IOC, ServiceProcess, ioc
from tests.support import Broker, free_port

P = "ioc/v1"
TOTAL = 3000
ROOT = str(Path(__file__).resolve().parents[3])

pytestmark = pytest.mark.slow


class Member:
    """One `ioc run --role ingest` process."""

    def __init__(self, env: dict[str, str], client_id: str, tmp: Path, **extra: str):
        self.client_id = client_id
        self.env = dict(
            env, IOC_MQTT_CLIENT_ID=client_id, IOC_HTTP_PORT=str(free_port()), IOC_SPOOL_DIR=str(tmp / client_id),
            **extra,
        )  # fmt: skip
        self.log = tmp / f"{client_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Member:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*IOC, "run", "--role", "ingest"], env=self.env, stdout=out, stderr=out)
        return self

    def signal(self, sig: int, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def env(dsn: str, broker: Broker) -> dict[str, str]:
    return dict(
        os.environ, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_TIMESCALEDB="off", PYTHONPATH=ROOT,
        IOC_BATCH_MAX_AGE_MS="50", IOC_LOG_LEVEL="INFO",
    )  # fmt: skip


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Member]]:
    """Members a test starts; any still running at the end is stopped (SIGKILL if it hangs)."""
    running: list[Member] = []
    yield running
    for m in running:
        if m.proc is not None and m.proc.poll() is None:
            m.proc.terminate()
            try:
                m.proc.wait(30)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait()


def member_state(dsn: str, client_id: str) -> str | None:
    return scalar(dsn, "SELECT state FROM ingest_members WHERE client_id = %s", (client_id,))


def stored(dsn: str) -> int:
    return scalar(
        dsn,
        "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id WHERE r.metric = 'queue_waiting'",
    )


def start_members(env: dict[str, str], tmp: Path, started: list[Member], *ids: str, **extra: str) -> list[Member]:
    out = [Member(env, i, tmp, **extra).start() for i in ids]
    started.extend(out)
    for m in out:
        wait_for(lambda m=m: member_state(env["IOC_DATABASE_URL"], m.client_id) == "live", 30, 0.1)
    return out


def subscribed(dsn: str, broker_url: str, n: int) -> None:
    """Wait until n members receive: 2n probes in a row stored (round robin spreads them over n members).
    A probe published before a member subscribed is dropped by the broker, so only a run counts."""
    pub = publisher(broker_url)
    base = time.time() - 60
    deadline = time.monotonic() + 30
    in_a_row, sent = 0, 0
    try:
        while in_a_row < 2 * n:
            assert time.monotonic() < deadline, "the members never all received"
            before = scalar(dsn, "SELECT count(*) FROM samples")
            publish_all(pub, [(f"{P}/metrics/kiosk/probe", orjson.dumps({"ts": base + sent, "metrics": {"up": 1}}))])
            sent += 1
            try:
                wait_for(lambda before=before: scalar(dsn, "SELECT count(*) FROM samples") > before, 1, 0.02)
                in_a_row += 1
            except AssertionError:
                in_a_row = 0
    finally:
        pub.disconnect()


def publish_samples(broker_url: str, base: float, total: int = TOTAL, chunk: int = 250, pause: float = 0) -> None:
    pub = publisher(broker_url)
    try:
        for start in range(0, total, chunk):
            time.sleep(pause)
            publish_all(
                pub,
                [
                    (
                        f"{P}/metrics/kiosk/k{i % 7}",
                        orjson.dumps({"ts": base + i * 0.001, "metrics": {"queue_waiting": i}}),
                    )
                    for i in range(start, min(start + chunk, total))
                ],
            )
    finally:
        pub.disconnect()


def all_stored_once(dsn: str, timeout: float = 30) -> None:
    wait_for(lambda: stored(dsn) >= TOTAL, timeout, 0.1)
    time.sleep(0.5)  # anything extra would land now
    assert stored(dsn) == TOTAL
    assert scalar(dsn, "SELECT count(DISTINCT value) FROM samples s JOIN series r ON r.id = s.series_id"
                       " WHERE r.metric = 'queue_waiting'") == TOTAL  # fmt: skip


def test_sigterm_member_leaves_and_nothing_is_stranded(dsn, broker, env, tmp_path, started):
    a, b = start_members(env, tmp_path, started, "ioc-ingest-a", "ioc-ingest-b")
    subscribed(dsn, broker.url, 2)
    assert b.signal(signal.SIGTERM) == 0
    assert member_state(dsn, "ioc-ingest-b") == "left", b.output()
    assert "ended session 'ioc-ingest-b'" in b.output()
    publish_samples(broker.url, time.time() - 100)
    all_stored_once(dsn)
    # The survivor is the last live member: stopped, it keeps its session for what comes meanwhile.
    assert a.signal(signal.SIGTERM) == 0
    assert member_state(dsn, "ioc-ingest-a") == "kept"


def test_sigterm_mid_stream_loses_nothing(dsn, broker, env, tmp_path, started):
    """The member leaves while samples stream in: what it received, and what the broker had in flight or
    queued for it, is stored before its session ends; the rest goes to the other member."""
    _a, b = start_members(env, tmp_path, started, "ioc-ingest-a", "ioc-ingest-b", IOC_BATCH_MAX_SAMPLES="100")
    subscribed(dsn, broker.url, 2)
    stream = (broker.url, time.time() - 100, TOTAL, 30, 0.03)  # ~3 s
    streaming = threading.Thread(target=publish_samples, args=stream, daemon=True)
    streaming.start()
    wait_for(lambda: stored(dsn) > 300, 20, 0.005)
    assert b.signal(signal.SIGTERM) == 0
    assert stored(dsn) < TOTAL, "the stop came too late to test anything"
    assert member_state(dsn, "ioc-ingest-b") == "left", b.output()
    streaming.join(30)
    all_stored_once(dsn)


def test_killed_member_is_drained_by_the_command(dsn, broker, env, tmp_path, started):
    a, b = start_members(env, tmp_path, started, "ioc-ingest-a", "ioc-ingest-b")
    subscribed(dsn, broker.url, 2)
    b.signal(signal.SIGKILL)
    publish_samples(broker.url, time.time() - 100)
    wait_for(lambda: stored(dsn) >= TOTAL // 2, 20, 0.1)
    time.sleep(0.5)
    assert stored(dsn) < TOTAL, "the killed member's share should be waiting in its session"
    # A running member's session is refused.
    busy = ioc(env, "ingest", "drain", "ioc-ingest-a")
    assert busy.returncode == 3, busy.stderr
    done = ioc(env, "ingest", "drain", "ioc-ingest-b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "session present yes" in done.stdout
    all_stored_once(dsn)
    ((state, drained),) = rows(
        dsn, "SELECT state, drained_messages FROM ingest_members WHERE client_id = 'ioc-ingest-b'"
    )
    assert state == "drained" and drained >= TOTAL // 2 - 20
    # Its session is gone: everything published now goes to the live member.
    scalar(dsn, "DELETE FROM samples RETURNING 1")
    publish_samples(broker.url, time.time() - 50)
    all_stored_once(dsn, 20)
    assert a.proc is not None and a.proc.poll() is None


def test_killed_member_is_drained_automatically(dsn, broker, env, tmp_path, started):
    a, b = start_members(env, tmp_path, started, "ioc-ingest-a", "ioc-ingest-b", IOC_INGEST_MEMBER_GONE_S="3")
    subscribed(dsn, broker.url, 2)
    b.signal(signal.SIGKILL)
    publish_samples(broker.url, time.time() - 100)
    all_stored_once(dsn, 40)
    wait_for(lambda: member_state(dsn, "ioc-ingest-b") == "drained", 10, 0.1)
    assert member_state(dsn, "ioc-ingest-a") == "live"
    assert "draining its session" in a.output()


def test_renamed_client_id_old_session_is_drained(dsn, broker, env, tmp_path, started):
    (old,) = start_members(env, tmp_path, started, "ioc-ingest-old", IOC_INGEST_MEMBER_GONE_S="3")
    subscribed(dsn, broker.url, 1)
    assert old.signal(signal.SIGTERM) == 0
    assert member_state(dsn, "ioc-ingest-old") == "kept"  # the last member keeps its session
    publish_samples(broker.url, time.time() - 100, 1000)  # queued for the old session while none runs
    start_members(env, tmp_path, started, "ioc-ingest-new", IOC_INGEST_MEMBER_GONE_S="3")
    publish_samples(broker.url, time.time() - 100 + 1, 2000)
    wait_for(lambda: member_state(dsn, "ioc-ingest-old") == "drained", 40, 0.2)
    # 1000 published while nothing ran, all drained; of the next 2000, the old session had a share too.
    wait_for(lambda: stored(dsn) >= TOTAL, 30, 0.1)
    time.sleep(0.5)
    assert stored(dsn) == TOTAL
    assert scalar(dsn, "SELECT drained_messages FROM ingest_members WHERE client_id = 'ioc-ingest-old'") >= 1000


def test_restarted_member_keeps_its_session(dsn, broker, env, tmp_path, started):
    _a, b = start_members(env, tmp_path, started, "ioc-ingest-a", "ioc-ingest-b")
    subscribed(dsn, broker.url, 2)
    b.signal(signal.SIGKILL)  # a crash: the supervisor (or systemd) restarts it with the same client id
    publish_samples(broker.url, time.time() - 100)
    wait_for(lambda: stored(dsn) >= TOTAL // 2, 20, 0.1)
    assert stored(dsn) < TOTAL
    b.start()
    all_stored_once(dsn)
    assert member_state(dsn, "ioc-ingest-b") == "live"
    assert scalar(dsn, "SELECT drained_messages FROM ingest_members WHERE client_id = 'ioc-ingest-b'") == 0


def test_members_stopping_together_keep_exactly_one_session(dsn, broker, env, tmp_path, started):
    members = start_members(env, tmp_path, started, "ioc-ingest-a", "ioc-ingest-b", "ioc-ingest-c")
    subscribed(dsn, broker.url, 3)
    for m in members:
        assert m.proc is not None
        m.proc.send_signal(signal.SIGTERM)
    for m in members:
        assert m.proc is not None and m.proc.wait(30) == 0
    states = sorted(r[0] for r in rows(dsn, "SELECT state FROM ingest_members"))
    assert states == ["kept", "left", "left"]
    # What is published while none runs waits in the kept session, and arrives when its member returns.
    (kept,) = (m for m in members if member_state(dsn, m.client_id) == "kept")
    publish_samples(broker.url, time.time() - 100)
    start_members(env, tmp_path, started, kept.client_id)
    all_stored_once(dsn)


def test_drain_of_an_unknown_client_id_ends_its_session(env, dsn):
    done = ioc(env, "ingest", "drain", "never-registered")
    assert done.returncode == 0, done.stdout + done.stderr
    assert member_state(dsn, "never-registered") == "drained"
    assert ioc(env, "ingest", "drain", " ").returncode == 2
    listing = ioc(env, "ingest", "members")
    assert listing.returncode == 0 and "never-registered\tdrained" in listing.stdout


def test_under_the_supervisor_a_crash_keeps_the_session_and_the_stop_keeps_one(dsn, broker, env, tmp_path):
    """`ioc run`: an ingest child killed -9 is restarted with its client id and gets its queued share back;
    the supervisor's stop (SIGTERM to every child) leaves one member holding its session."""
    service = ServiceProcess(
        dict(env, IOC_INGEST_PROCESSES="2", IOC_HTTP_PORT=str(free_port()), IOC_MQTT_CLIENT_ID="ioc-sv",
             IOC_SPOOL_DIR=str(tmp_path / "spool"))
    )  # fmt: skip
    service.start(60)
    try:
        for cid in ("ioc-sv", "ioc-sv-1"):
            wait_for(lambda cid=cid: member_state(dsn, cid) == "live", 30, 0.1)
        subscribed(dsn, broker.url, 2)
        pid = scalar(dsn, "SELECT pid FROM ingest_members WHERE client_id = 'ioc-sv-1'")
        os.kill(pid, signal.SIGKILL)
        publish_samples(broker.url, time.time() - 100)
        all_stored_once(dsn, 60)
        (state, new_pid, drained), = rows(
            dsn, "SELECT state, pid, drained_messages FROM ingest_members WHERE client_id = 'ioc-sv-1'"
        )  # fmt: skip
        assert (state, drained) == ("live", 0) and new_pid != pid
    finally:
        out = service.stop(60)
    assert sorted(r[0] for r in rows(dsn, "SELECT state FROM ingest_members")) == ["kept", "left"], out
