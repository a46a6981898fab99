"""An ingest process as a member of the shared subscription (contract section 11).

`IngestMember` wraps the IngestService of `ioc run --role ingest`:
- start: wait for the member's advisory lock (held by a drain of this session, if one runs), register in
  `ingest_members`, then connect; a thread heartbeats `last_seen` and the backlog, and drains members
  gone for good (not seen for IOC_INGEST_MEMBER_GONE_S, lock free, and seen stale by this process for at
  least two heartbeats of its own, so a store outage never makes a live member look gone).
- stop (SIGTERM: a standalone member, or the supervisor stopping everything): stop for good. The member
  leaves the shared subscription, stores and acknowledges what it holds, and ends its session; the
  broker routes its share to the others. Except the LAST live member: it keeps its session, so what is
  published while no ingest runs (an upgrade, a restart of the whole service) waits for it at the broker
  instead of being dropped. The choice is made under one advisory lock, so of members stopping together
  exactly one keeps its session.
- the prefix subscription (collectors.ingest.switching): a member asked for the plain one (the single
  ingest process of `ioc run`) takes it only while no other member's session is open, and moves to the
  shared one when another member runs; a member that joins waits until no running member holds a plain
  one, and drains a stopped member's session that holds one, subscribing as soon as that session left it.
- a crash or kill -9 calls nothing: the session stays, the supervisor restarts the process with the same
  client id and it takes its session and its queued messages back; if it never comes back, another
  member drains it once it is gone for IOC_INGEST_MEMBER_GONE_S.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import psycopg
from prometheus_client import CollectorRegistry

from collectors.ingest.drain import MemberBusy, drain_member
from collectors.ingest.leaving import leave_subscription
from collectors.ingest.mqtt_source import SubscriptionMode
from collectors.ingest.service import IngestService
from ioc.settings import Settings
from ioc.store import members
from ioc.store.connect import connect

log = logging.getLogger(__name__)

# A member that stops on purpose has this long to leave (the supervisor's grace is 20 s).
LEAVE_DEADLINE_S = 15.0
STORE_WAIT_S = 5.0  # at start, how long store errors may delay connecting (the spool takes over)
_LOCK_WAIT_LOG_S = 10.0
_LEAVING_LOCK = 0  # second key of the advisory lock that serializes "leave or keep" decisions
_JOIN_POLL_S = 0.5


def heartbeat_interval(gone_s: float) -> float:
    return max(0.5, min(5.0, gone_s / 4))


class IngestMember:
    def __init__(self, settings: Settings, ingest: IngestService, *, registry: CollectorRegistry | None = None):
        self.settings = settings
        self.ingest = ingest
        self.client_id = settings.mqtt_client_id
        self.interval = heartbeat_interval(settings.ingest_member_gone_s)
        self.lock = members.MemberLock(settings.database_url, self.client_id)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drainer: threading.Thread | None = None
        self._stale_since: dict[str, float] = {}
        self.left: bool | None = None  # after stop(): True when the session was ended
        self._registered = False
        self.requested: SubscriptionMode = "plain" if settings.mqtt_subscription == "plain" else "shared"
        self._recorded: str | None = None  # the subscription last written to the member's row

    @property
    def connected(self) -> bool:
        return self.ingest.connected

    def problems(self) -> list[str]:
        return self.ingest.problems()

    def start(self) -> None:
        """Take the member's lock and register, then connect. The store may be away: ingest then starts
        without (it spools), and the heartbeat takes the lock and registers once the store is back."""
        source = self.ingest.source
        source.mode, source.session_mode = self.requested, None
        if self._take_lock():
            try:
                source.session_mode = self._register()
                source.mode = self._join()
            except psycopg.Error as exc:
                log.warning("cannot register member %r yet (%s); the heartbeat will", self.client_id, exc)
        self.ingest.start()
        self._thread = threading.Thread(target=self._beat, name="ioc-ingest-member", daemon=True)
        self._thread.start()

    def _register(self) -> SubscriptionMode | None:
        """Register; the subscription this member's session held when it last ran (None: unknown)."""
        assert self.lock.conn is not None
        before = members.get_member(self.lock.conn, self.client_id)
        members.register(self.lock.conn, self.client_id, os.getpid())
        self._registered = True
        if before is None or before.state in ("left", "drained"):
            return None  # no session of ours at the broker, or one from before the registry
        held: SubscriptionMode = "plain" if before.subscription == "plain" else "shared"
        members.set_subscription(self.lock.conn, self.client_id, held)
        self._recorded = held
        return held

    def _join(self) -> SubscriptionMode:
        """The subscription to take: the requested one, but shared while another member's session is open;
        never before every running member left a plain one (a stopped member's is drained)."""
        assert self.lock.conn is not None
        conn, mode, logged = self.lock.conn, self.requested, 0.0
        started = time.monotonic()
        while True:
            others = members.open_sessions(conn, self.client_id)
            if not others:
                return mode
            if mode == "plain":
                log.warning(
                    "members %s have sessions at the broker: joining the shared subscription, not the plain one",
                    ", ".join(m.client_id for m in others),
                )  # fmt: skip
                mode = "shared"
            plain = [m for m in others if m.subscription == "plain"]
            stopped = [m for m in plain if m.state == "kept" or m.seen_s_ago >= self.settings.ingest_member_gone_s]
            for member in stopped:
                if self._drain_plain(member.client_id):
                    return mode  # its drain left the plain subscription; the rest of it goes on meanwhile
            if not plain:
                return mode
            waited = time.monotonic() - started
            if waited >= logged:
                log.warning(
                    "waiting for member(s) %s to move from the plain to the shared subscription before joining",
                    ", ".join(m.client_id for m in plain),
                )  # fmt: skip
                logged = waited + _LOCK_WAIT_LOG_S
            members.heartbeat(conn, self.client_id, 0, False)
            time.sleep(_JOIN_POLL_S)

    def _drain_plain(self, member: str) -> bool:
        """Drain a stopped member's session that holds a plain subscription; True once it left it (the
        drain goes on in its thread). False when the member runs after all or another process drains it."""
        left = threading.Event()
        failed: list[BaseException] = []

        def drain() -> None:
            try:
                log.warning("member %r stopped with a plain subscription: draining its session to join", member)
                drain_member(self.settings, member, cancel=self._stop, left=left)
            except MemberBusy as exc:
                failed.append(exc)
            except Exception as exc:
                log.exception("draining member %r failed; its session is kept", member)
                failed.append(exc)

        self._drainer = threading.Thread(target=drain, name="ioc-ingest-drain", daemon=True)
        self._drainer.start()
        left.wait()
        return not failed

    def _take_lock(self) -> bool:
        """Wait while another process holds the lock (a drain of this session: never connect meanwhile);
        give up after STORE_WAIT_S of store errors (False)."""
        started = time.monotonic()
        logged = 0.0
        while True:
            try:
                if self.lock.try_acquire():
                    return True
                busy = True
            except psycopg.Error as exc:
                busy = False
                if time.monotonic() - started > STORE_WAIT_S:
                    log.warning("store unreachable (%s): starting member %r without its lock", exc, self.client_id)
                    self.lock.close()
                    return False
            waited = time.monotonic() - started
            if busy and waited >= logged:
                log.warning(
                    "waiting for member %r's lock: another process holds this session (a drain, or a second "
                    "process with the same IOC_MQTT_CLIENT_ID)", self.client_id,
                )  # fmt: skip
                logged = waited + _LOCK_WAIT_LOG_S
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._drainer is not None:
            self._drainer.join()
        leave = False
        try:
            if self._registered and self.lock.held():
                leave = self._decide_leave()
                if not leave:
                    log.info(
                        "the last live ingest member keeps its session %r for what comes meanwhile", self.client_id
                    )
            else:
                log.warning("member %r never held its lock in the store: keeping the session", self.client_id)
        except psycopg.Error as exc:
            log.warning("store unreachable when stopping (%s): keeping the session", exc)
        if leave:
            self.left = leave_subscription(self.ingest, deadline_s=LEAVE_DEADLINE_S)
        else:
            self.ingest.stop()
            self.left = False
        if not self.left and leave:
            self._set_state("kept")
        self.lock.close()

    def _decide_leave(self) -> bool:
        """Leave when another member is live; of members stopping together, one keeps its session."""
        with connect(self.settings.database_url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (members.LOCK_CLASS, _LEAVING_LOCK))
            others = members.other_live_members(conn, self.client_id, 3 * self.interval)
            members.set_state(conn, self.client_id, "left" if others else "kept")
        return others > 0

    def _set_state(self, state: str) -> None:
        try:
            with connect(self.settings.database_url, autocommit=True) as conn:
                members.set_state(conn, self.client_id, state)
        except psycopg.Error as exc:
            log.warning("could not record member %r as %s: %s", self.client_id, state, exc)

    # -- the member thread: heartbeat, and drain members gone for good --------------------------------

    def _beat(self) -> None:
        # The first beat as soon as the broker connection is up: until then the member does not count as a
        # live one for the others' "leave or keep" decision.
        self.ingest.source.wait_connected(self.interval)
        while not self._stop.is_set():
            try:
                self._heartbeat()
                self._look_for_gone()
            except psycopg.Error as exc:
                self._stale_since.clear()  # what was seen before the outage proves nothing
                self.lock.close()
                log.warning("member heartbeat failed (%s); retrying", exc)
            except Exception:
                log.exception("member heartbeat failed")
            self._stop.wait(self.interval)

    def _heartbeat(self) -> None:
        if not self.lock.held() and not self.lock.try_acquire():
            log.error("member %r's lock is held by another process (a drain of this session?)", self.client_id)
            return
        if not self._registered:
            self._register()
        assert self.lock.conn is not None
        conn, source = self.lock.conn, self.ingest.source
        members.heartbeat(conn, self.client_id, self.ingest.backlog, self.ingest.connected)
        if source.mode == "plain":
            joined = members.other_members_running(conn, self.client_id, 3 * self.interval)
            if joined:
                log.warning("member(s) %s joined: moving to the shared subscription", ", ".join(joined))
                source.switch_to("shared")
        held = source.session_mode
        if held is not None and held != self._recorded:
            members.set_subscription(conn, self.client_id, held)
            self._recorded = held

    def _look_for_gone(self) -> None:
        assert self.lock.conn is not None
        gone_s = self.settings.ingest_member_gone_s
        stale = members.stale_members(self.lock.conn, gone_s, self.client_id)
        now = time.monotonic()
        self._stale_since = {m: self._stale_since.get(m, now) for m in stale}
        if self._drainer is not None and self._drainer.is_alive():
            return
        for member, since in self._stale_since.items():
            if now - since >= 2 * self.interval:
                self._drainer = threading.Thread(
                    target=self._drain, args=(member, gone_s), name="ioc-ingest-drain", daemon=True
                )
                self._drainer.start()
                return

    def _drain(self, member: str, gone_s: float) -> None:
        try:
            log.warning("member %r not seen for %.0f s or more: draining its session", member, gone_s)
            result = drain_member(self.settings, member, still_gone_s=gone_s, cancel=self._stop)
            if result is None:
                log.info("member %r came back; not draining it", member)
        except MemberBusy:
            log.info("member %r is running or being drained by another process", member)
        except Exception:
            log.exception("draining member %r failed; its session is kept", member)
        finally:
            self._stale_since.pop(member, None)
