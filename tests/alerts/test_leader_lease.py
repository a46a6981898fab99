"""The alerting lease against a real PostgreSQL (alerts/leadership.py): one leader, a standby that takes
over at once when the leader's session ends and after the lease when it hangs connected, and fencing
that refuses the writes and messages of an old leader even when it still believes it leads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from alert_helpers import wait_until

from alerts.leadership import Leadership, NotLeader

LEASE_S = 1.0


@pytest.fixture
def leaders(dsn: str, pool) -> Iterator[list[Leadership]]:
    made: list[Leadership] = []
    yield made
    for leadership in made:
        leadership.stop()


def make(dsn: str, pool, leaders: list[Leadership], **kwargs: object) -> Leadership:
    leadership = Leadership(dsn, pool, LEASE_S, **kwargs)  # type: ignore[arg-type]
    leaders.append(leadership)
    return leadership


def hang(leadership: Leadership) -> None:
    """Its lease thread stops renewing while its connection (and advisory lock) stays: hung, connected."""
    leadership._stopping.set()
    assert leadership._thread is not None
    leadership._thread.join(5)
    leadership._stopping.clear()  # so claim() still tries, as a woken old leader would


def test_the_first_process_leads_and_the_second_stands_by(dsn, pool, leaders):
    a = make(dsn, pool, leaders)
    a.start()
    b = make(dsn, pool, leaders)
    b.start()
    assert a.epoch == 1 and a.is_leader() and a.healthy()
    assert b.epoch is None and not b.is_leader() and b.healthy()  # a standby is ready
    time.sleep(3 * LEASE_S)  # renewals keep the lead where it is
    assert a.epoch == 1 and b.epoch is None
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT epoch, holder, holder_locked FROM alerts_leader").fetchall() == [
            (1, a.holder, True)
        ]


def test_a_leader_whose_session_ends_is_replaced_at_once_and_stops_at_once(dsn, pool, leaders):
    a = make(dsn, pool, leaders)
    a.start()
    b = make(dsn, pool, leaders)
    b.start()
    pid = a._conn.info.backend_pid  # type: ignore[union-attr]
    lost = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:  # its connection cut, as a kill -9 or a network would
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(lambda: b.epoch == 2, timeout=5, what="the standby leads")
    took = time.monotonic() - lost
    assert took < LEASE_S, f"took {took:.2f} s: the lock, not the lease, should have told"
    wait_until(lambda: a.epoch is None, timeout=2, what="the old leader stops")
    # It competes again, as a standby: the lead stays where it is.
    time.sleep(3 * LEASE_S)
    assert (a.epoch, b.epoch) == (None, 2)


def test_a_hung_leader_is_replaced_after_its_lease_and_fenced_off_in_the_store(dsn, pool, leaders):
    frozen = time.monotonic()
    # Its own clock stands still: it never sees its lease lapse, so only the store can stop it.
    a = make(dsn, pool, leaders, clock=lambda: frozen)
    a.start()
    b = make(dsn, pool, leaders)
    b.start()
    with pool.connection() as conn:
        conn.execute("INSERT INTO alert_outbox (receiver, integration, message) VALUES ('r', 0, '{}')")
    hung = time.monotonic()
    hang(a)
    wait_until(lambda: b.epoch == 2, timeout=5, what="the standby leads")
    took = time.monotonic() - hung
    assert LEASE_S * 0.9 < took < LEASE_S + 1.5, f"took {took:.2f} s"
    assert a.epoch == 1  # it still believes it leads
    with pool.connection() as conn, pytest.raises(NotLeader, match="fenced off in the store"):
        a.fence(conn, 1)
    assert a.claim(1) is False  # nor may it send
    assert b.claim(1) is True and b.claim(1) is False  # the new leader takes the message, once
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT sending_epoch FROM alert_outbox").fetchall() == [(2,)]


def test_a_takeover_waits_for_the_round_in_progress_whose_writes_the_new_leader_reads(dsn, pool, leaders):
    frozen = time.monotonic()
    a = make(dsn, pool, leaders, clock=lambda: frozen)
    a.start()
    b = make(dsn, pool, leaders)
    with pool.connection() as conn:
        a.fence(conn, 1)
        hang(a)
        starting = threading.Thread(target=b.start)  # its first try waits on the row's lock
        starting.start()
        for _ in range(5):  # busy, not idle: expired in the store, but the round holds the row
            conn.execute("SELECT pg_sleep(0.3)")
        assert b.epoch is None
        conn.execute("INSERT INTO alert_outbox (receiver, integration, message) VALUES ('r', 0, '{}')")
    starting.join()
    wait_until(lambda: b.epoch == 2, timeout=3, what="the standby leads")
    assert b.claim(1) is True


def test_a_round_left_open_by_a_hung_leader_is_ended_by_the_store(dsn, pool, leaders):
    frozen = time.monotonic()
    a = make(dsn, pool, leaders, clock=lambda: frozen)
    a.start()
    b = make(dsn, pool, leaders)
    conn = psycopg.connect(dsn)
    try:
        a.fence(conn, 1)  # and then nothing: the transaction stays open, holding the row
        hang(a)
        b.start()
        wait_until(lambda: b.epoch == 2, timeout=LEASE_S + 3, what="the standby leads")
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            conn.execute("INSERT INTO alert_outbox (receiver, integration, message) VALUES ('r', 0, '{}')")
    finally:
        conn.close()


def test_a_stopping_leader_hands_over_within_a_second(dsn, pool, leaders):
    changes: list[bool] = []
    a = make(dsn, pool, leaders, on_change=changes.append)
    a.start()
    b = make(dsn, pool, leaders)
    b.start()
    stopped = time.monotonic()
    a.stop()
    wait_until(lambda: b.epoch == 2, timeout=3, what="the standby leads")
    assert time.monotonic() - stopped < 1.5
    assert changes == [True, False]


def test_only_one_of_many_starting_at_once_leads(dsn, pool, leaders):
    many = [make(dsn, pool, leaders) for _ in range(4)]
    threads = [threading.Thread(target=m.start) for m in many]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(10):
        assert sum(m.is_leader() for m in many) <= 1
        time.sleep(0.2)
    assert sum(m.is_leader() for m in many) == 1


def test_once_a_hung_leader_wakes_the_new_one_holds_the_lock_and_its_own_loss_is_told_at_once(dsn, pool, leaders):
    a = make(dsn, pool, leaders)
    a.start()
    b = make(dsn, pool, leaders)
    b.start()
    hang(a)
    wait_until(lambda: b.epoch == 2, timeout=5, what="the standby leads")

    def locked() -> bool:
        with psycopg.connect(dsn) as conn:
            return conn.execute("SELECT holder_locked FROM alerts_leader").fetchone() == (True,)

    assert not locked()  # the hung one still holds it
    a._round()  # it wakes: its lease lapsed, it stands by and lets the lock go
    assert a.epoch is None
    wait_until(locked, timeout=3, what="the new leader holds the lock")
    c = make(dsn, pool, leaders)
    c.start()
    lost = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (b._conn.info.backend_pid,))  # type: ignore[union-attr]
    wait_until(lambda: a.epoch == 3 or c.epoch == 3, timeout=5, what="a standby leads")
    assert time.monotonic() - lost < LEASE_S
