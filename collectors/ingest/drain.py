"""Draining a member's session (contract section 11): take over its persistent MQTT session with its
client id, store and acknowledge what the broker queued for it, then end the session (DISCONNECT with
SessionExpiryInterval 0) so the broker routes its share of the shared subscription to the others.

Used by `ioc ingest drain MEMBER` and by a running member that finds another gone for good (a kill -9
or a lost host that never comes back, a renamed IOC_MQTT_CLIENT_ID). The member's advisory lock is taken
first: a member that still runs holds it, so its session is never taken from it, and a member that
starts meanwhile waits for the drain to finish before connecting.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from collectors.ingest.leaving import leave_subscription
from collectors.ingest.service import IngestService
from ioc.settings import Settings
from ioc.store import members
from ioc.store.connect import connect

log = logging.getLogger(__name__)


class MemberBusy(Exception):
    """The member's session is in use: the member runs, or another process drains it."""


@dataclass(frozen=True, slots=True)
class DrainResult:
    client_id: str
    messages: int  # acknowledged (stored) messages that had been queued for the member
    closed: bool  # the session was ended; False: kept (the store did not take everything)
    session_present: bool | None  # whether the broker still had a session for that client id
    seconds: float


def drain_settings(settings: Settings, client_id: str, spool_dir: Path) -> Settings:
    """The member's client id; an empty spool folder of its own (a drain spools nothing, and must not
    replay the spool of a member on the same host)."""
    update = {"mqtt_client_id": client_id, "mqtt_sys_samples": False, "spool_dir": spool_dir}
    return settings.model_copy(update=update)


def drain_member(
    settings: Settings,
    client_id: str,
    *,
    by: str | None = None,
    quiet_s: float = 1.0,
    stall_s: float = 30.0,
    connect_timeout_s: float = 10.0,
    still_gone_s: float | None = None,
    cancel: threading.Event | None = None,
    left: threading.Event | None = None,
) -> DrainResult | None:
    """Drain one member's session. Raises MemberBusy when its lock is held. With still_gone_s, the member's
    row is checked again under the lock and None is returned when it was seen within that time. Setting
    `cancel` stops the drain early, keeping the session (nothing lost; a later drain goes on). `left` is
    set once the session holds no subscription any more (or the drain gave up), before what was queued
    is stored: a member that joins subscribes then."""
    try:
        return _drain(settings, client_id, by, quiet_s, stall_s, connect_timeout_s, still_gone_s, cancel, left)
    finally:
        if left is not None:
            left.set()


def _drain(
    settings: Settings,
    client_id: str,
    by: str | None,
    quiet_s: float,
    stall_s: float,
    connect_timeout_s: float,
    still_gone_s: float | None,
    cancel: threading.Event | None,
    left: threading.Event | None,
) -> DrainResult | None:
    by = by or f"{socket.gethostname()}:{settings.mqtt_client_id}"
    lock = members.MemberLock(settings.database_url, client_id, application_name="ioc-ingest-drain")
    try:
        if not lock.try_acquire():
            raise MemberBusy(f"member {client_id!r} is running or being drained (its lock is held)")
        with connect(settings.database_url, autocommit=True) as conn:
            if still_gone_s is not None:
                row = members.get_member(conn, client_id)
                if row is None or row.state not in ("live", "kept") or row.seen_s_ago < still_gone_s:
                    return None
            members.insert_absent(conn, client_id)
            members.set_state(conn, client_id, "draining", drained_by=by)
        started = time.monotonic()
        spool_dir = Path(tempfile.mkdtemp(prefix="ioc-drain-"))
        service = IngestService(drain_settings(settings, client_id, spool_dir), drain=True)
        service.start()
        closed = False
        try:
            if service.source.wait_connected(connect_timeout_s):
                if left is not None:
                    service.source.left_all.wait(connect_timeout_s)
                    left.set()
                closed = leave_subscription(service, quiet_s=quiet_s, stall_s=stall_s, cancel=cancel)
            else:
                log.error("could not connect to the MQTT broker to drain %r", client_id)
        finally:
            if not closed:
                service.stop()
            shutil.rmtree(spool_dir, ignore_errors=True)
        result = DrainResult(
            client_id, service.source.acked, closed, service.source.session_present, time.monotonic() - started
        )
        with connect(settings.database_url, autocommit=True) as conn:
            if closed:
                members.set_state(conn, client_id, "drained", drained_by=by, drained_messages=result.messages)
            else:
                members.set_state(conn, client_id, "kept", drained_messages=result.messages)
        log.info(
            "drained member %r: %d messages stored, session %s (%.1f s)",
            client_id, result.messages, "ended" if closed else "KEPT", result.seconds,
        )  # fmt: skip
        return result
    finally:
        lock.close()
