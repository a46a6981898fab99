"""Which of several `ioc run --role alerts` processes leads (contract section 11): a lease row in the
store with an epoch that fences the old leader, plus a session advisory lock that tells the others at
once when the leader's connection is gone.

Why a lease row and not an advisory lock alone: a lock held on a connection is released only when
PostgreSQL sees that connection end. A leader that hangs while connected (SIGSTOP, a long GC pause, a
VM frozen) keeps its lock forever, and one whose connection dropped may not notice before its next
query, so the lock alone can neither hand over from a hung leader nor stop two leaders at once. The
lease (`alerts_leader`, migration 0740) is judged by the store's clock, so no two machines' clocks are
compared:

- The leader renews it every `IOC_ALERT_LEASE_S / 5` seconds (expiry now + IOC_ALERT_LEASE_S). It
  counts itself leader only until `0.9 x IOC_ALERT_LEASE_S` after it sent its last successful renewal,
  always before the store's expiry; so a leader cut from the store, or hung, stops acting on its own
  before anyone may take over. Any error on its lease connection ends its leadership at once.
- A standby tries every second. It takes over (epoch + 1) when the lease has expired, or at once when
  it obtains the advisory lock the row says the leader holds: that lock is free only once the leader's
  session has ended (kill -9, a machine lost, the connection cut), so a crash hands over within about a
  second rather than a lease. Only the leader keeps the lock: a standby lets it go after each try, and
  a leader that lost the lead lets it go at once, so the new one takes it at its next renewal. (A new
  leader whose predecessor hangs still connected has no lock until that one wakes or its session ends;
  meanwhile its own loss is told by its lease alone.)
- Fencing: each round's transaction starts with `fence()`, a `FOR KEY SHARE` read of the row with the
  epoch it was started under and an unexpired lease, so a paused old leader that wakes cannot write
  alert state, groups or the outbox; the takeover's `FOR UPDATE` waits for a round in progress, whose
  writes the new leader then reads. A round stuck mid-transaction (the leader hung there) is ended by
  the store after half a lease (`idle_in_transaction_session_timeout`). Each message is claimed before
  it is sent (`claim()`: the fence, and the outbox row marked with the epoch), and each retry checks the
  lease again, so an old leader sends nothing either. What is left: a leader that pauses between its
  last check and the moment the request leaves may still send that one message late.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger("ioc.alerts")

LOCK_KEY = 0x10C_0740  # the session advisory lock the leader holds (per database)
LOCAL_SHARE = 0.9  # of the lease: how long after sending a renewal the leader trusts it


class NotLeader(Exception):
    """This process does not (or no longer) lead: what it was about to write or send is not its to do."""


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """The lease, followed in a thread of its own on a connection of its own."""

    def __init__(
        self,
        dsn: str,
        pool: ConnectionPool,
        lease_s: float,
        *,
        on_change: Callable[[bool], None] | None = None,
        stopping: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.dsn, self.pool, self.lease_s = dsn, pool, lease_s
        self.holder = holder_name()
        self.on_change = on_change
        self.clock = clock
        self.renew_s = lease_s / 5
        self.poll_s = min(1.0, lease_s / 5)
        self.changed = threading.Event()  # set when this process starts or stops leading
        self._stopping = stopping or threading.Event()
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._locked = False  # this process holds the advisory lock
        self._epoch: int | None = None
        self._valid_until = 0.0
        self._contact = float("-inf")  # when the lease was last read or written
        self._problem: str | None = None
        self._leader_seen: str | None = None  # the holder a standby last saw
        self._thread: threading.Thread | None = None

    # -- what the service asks -------------------------------------------------------------------

    @property
    def epoch(self) -> int | None:
        """The epoch this process leads under, or None when it does not lead (its lease lapsed too)."""
        with self._lock:
            if self._epoch is not None and self.clock() < self._valid_until:
                return self._epoch
            return None

    def is_leader(self) -> bool:
        return self.epoch is not None

    def healthy(self) -> bool:
        """Leading, or standing by with the lease in sight (readiness: a standby is ready)."""
        return self.clock() - self._contact < self.lease_s

    def problems(self) -> list[str]:
        return [f"alerting: {self._problem}"] if self._problem and not self.healthy() else []

    def fence(self, conn: psycopg.Connection, epoch: int | None) -> None:
        """First statement of a transaction that writes as leader: raises NotLeader unless `epoch` still
        leads, and keeps the lease from changing hands until the transaction ends."""
        if epoch is None or self.epoch != epoch:
            raise NotLeader(f"epoch {epoch} no longer leads")
        timeout_ms = str(int(max(1.0, self.lease_s / 2) * 1000))
        conn.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, true)", (timeout_ms,))
        row = conn.execute(
            "SELECT 1 FROM alerts_leader WHERE id = 1 AND epoch = %s AND expires_at > now() FOR KEY SHARE", (epoch,)
        ).fetchone()
        if row is None:
            raise NotLeader(f"epoch {epoch} was fenced off in the store")

    def claim(self, outbox_id: int | None) -> bool:
        """Just before a message is sent: True when this process leads and the message is its to send
        (its outbox row marked with the epoch; a row already taken under this epoch, or gone, is not)."""
        while True:  # once even while stopping: what is queued then is still sent (alerts/delivery/notify.py)
            epoch = self.epoch
            if epoch is None:
                return False
            try:
                with self.pool.connection() as conn:
                    self.fence(conn, epoch)
                    if outbox_id is not None:
                        row = conn.execute(
                            "UPDATE alert_outbox SET sending_epoch = %s WHERE id = %s "
                            "AND (sending_epoch IS NULL OR sending_epoch < %s) RETURNING id",
                            (epoch, outbox_id, epoch),
                        ).fetchone()
                        if row is None:
                            return False
                return self.epoch == epoch
            except NotLeader:
                return False
            except psycopg.Error as exc:
                if self._stopping.is_set():
                    return False  # it stays in the outbox for the next leader
                log.warning("could not claim message %s before sending it (%s); trying again", outbox_id, exc)
                self._stopping.wait(0.5)

    def holds(self) -> bool:
        """Before each attempt at sending (retries included)."""
        return self.is_leader()

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """One round at once (a lone process leads as soon as it starts), then the thread."""
        self._round()
        self._thread = threading.Thread(target=self._run, name="ioc-alerts-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Hand the lease back (a standby takes over within a second) and close the connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            epoch, self._epoch = self._epoch, None
        if self._conn is not None and not self._conn.closed:
            try:
                if epoch is not None:
                    self._conn.execute(
                        "UPDATE alerts_leader SET expires_at = now(), holder_locked = false "
                        "WHERE id = 1 AND epoch = %s",
                        (epoch,),
                    )
                    log.info("alerting: handed the lead back (epoch %d)", epoch)
            except psycopg.Error as exc:
                log.warning("alerting: could not hand the lead back (%s); a standby takes over when it expires", exc)
            self._conn.close()
        if epoch is not None and self.on_change is not None:
            self.on_change(False)

    def _run(self) -> None:
        # A leader without the lock (its predecessor hung holding it) asks for it as often as a standby.
        while not self._stopping.wait(self.renew_s if self._epoch is not None and self._locked else self.poll_s):
            self._round()

    # -- one round ----------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._locked = False
            self._conn = psycopg.connect(
                self.dsn,
                autocommit=True,
                application_name="ioc-alerts-lease",
                connect_timeout=5,
                # A cut connection errors within a lease instead of hanging in the kernel's retries.
                tcp_user_timeout=int(self.lease_s * 1000),
                keepalives_idle=max(1, int(self.lease_s / 2)),
                keepalives_interval=1,
                keepalives_count=3,
            )
            self._conn.execute("SET lock_timeout = 1000")
        return self._conn

    def _round(self) -> None:
        try:
            conn = self._connection()
            if not self._locked:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
                self._locked = bool(row and row[0])
            if self._epoch is not None:
                self._renew(conn)
            else:
                try:
                    self._try_to_lead(conn)
                finally:
                    self._unlock()  # a standby holds no lock, so the leader can take it
            self._contact = self.clock()
            self._problem = None
        except psycopg.errors.LockNotAvailable:
            self._contact = self.clock()  # a round of the leader's in progress: try again next time
        except psycopg.errors.UndefinedTable:
            self._problem = "the store has no table alerts_leader (migration 0740): run `ioc migrate`"
            self._lose(self._problem)
        except psycopg.Error as exc:
            self._problem = f"lost the lease's connection to the store ({exc})"
            self._lose(self._problem)
            if self._conn is not None:
                self._conn.close()

    def _renew(self, conn: psycopg.Connection) -> None:
        sent = self.clock()
        if sent >= self._valid_until:
            # It lapsed here first (this thread was held up): what the service did under it is dropped,
            # so the lead is taken again under a new epoch rather than resumed.
            self._lose("the lease lapsed before it was renewed")
            return
        row = conn.execute(
            "UPDATE alerts_leader SET expires_at = now() + make_interval(secs => %s), renewed_at = now(), "
            "holder_locked = %s WHERE id = 1 AND epoch = %s AND holder = %s RETURNING epoch",
            (self.lease_s, self._locked, self._epoch, self.holder),
        ).fetchone()
        if row is None:
            self._lose("another process took the lead")
            return
        with self._lock:
            self._valid_until = sent + LOCAL_SHARE * self.lease_s

    def _may_lead(self, holder: str, holder_locked: bool, expired: bool) -> str | None:
        """Why this process may take the lead from `holder`, or None."""
        if expired:
            return "its lease expired"
        if holder_locked and self._locked and holder != self.holder:
            return "its session ended"  # the leader's lock is ours: it died, or its connection was cut
        return "it was this process" if holder == self.holder else None

    def _try_to_lead(self, conn: psycopg.Connection) -> None:
        sent = self.clock()
        # A look without a lock first: a standby's tries must not hold up the leader's rounds.
        seen = conn.execute(
            "SELECT holder, holder_locked, expires_at <= now() FROM alerts_leader WHERE id = 1"
        ).fetchone()
        if seen is not None:
            self._leader_seen = seen[0]
            if self._may_lead(*seen) is None:
                return
        with conn.transaction():
            row = conn.execute(
                "SELECT epoch, holder, holder_locked, expires_at <= now() FROM alerts_leader WHERE id = 1 FOR UPDATE"
            ).fetchone()
            if row is None:
                won = conn.execute(
                    "INSERT INTO alerts_leader (epoch, holder, holder_locked, expires_at) "
                    "VALUES (1, %s, %s, now() + make_interval(secs => %s)) ON CONFLICT (id) DO NOTHING RETURNING epoch",
                    (self.holder, self._locked, self.lease_s),
                ).fetchone()
                why = "no process led before"
            else:
                _, holder, holder_locked, expired = row
                self._leader_seen = holder
                reason = self._may_lead(holder, holder_locked, expired)
                if reason is None:
                    return
                why = reason
                won = conn.execute(
                    "UPDATE alerts_leader SET epoch = epoch + 1, holder = %s, holder_locked = %s, "
                    "expires_at = now() + make_interval(secs => %s), renewed_at = now() WHERE id = 1 RETURNING epoch",
                    (self.holder, self._locked, self.lease_s),
                ).fetchone()
        if won is None:
            return
        with self._lock:
            self._epoch = int(won[0])
            self._valid_until = sent + LOCAL_SHARE * self.lease_s
        log.warning(
            "alerting: this process (%s) leads now, epoch %d (the previous leader %s: %s)",
            self.holder, self._epoch, self._leader_seen or "none", why,
        )  # fmt: skip
        self.changed.set()
        if self.on_change is not None:
            self.on_change(True)

    def _unlock(self) -> None:
        """Let the advisory lock go, unless this process leads."""
        if not self._locked or self._epoch is not None:
            return
        self._locked = False
        if self._conn is not None and not self._conn.closed:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    def _lose(self, why: str) -> None:
        with self._lock:
            epoch, self._epoch = self._epoch, None
        if epoch is None:
            return
        with contextlib.suppress(psycopg.Error):  # if the connection is gone, the lock went with it
            self._unlock()  # the new leader takes it at its next renewal: a crash of it is told at once too
        log.warning("alerting: this process (%s) no longer leads (epoch %d): %s", self.holder, epoch, why)
        self.changed.set()
        if self.on_change is not None:
            self.on_change(False)
