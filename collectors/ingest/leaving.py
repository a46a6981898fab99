"""Leaving the shared subscription for good (contract section 11): an ingest service, or a drain of a gone
member's session, stops taking new messages from the broker, stores and acknowledges everything its
session holds, then ends the session so the broker routes nothing more to it.
"""

from __future__ import annotations

import logging
import threading
import time

from collectors.ingest.service import IngestService

log = logging.getLogger(__name__)


def leave_subscription(
    service: IngestService,
    *,
    quiet_s: float = 1.0,
    stall_s: float = 30.0,
    deadline_s: float | None = None,
    cancel: threading.Event | None = None,
) -> bool:
    """Stop for good: leave the shared subscription, store and acknowledge everything the session
    holds, then end the session so the broker routes nothing more to it. True when the session was
    ended; False (the session kept, nothing lost, stopped as by `service.stop()`) when the broker did
    not confirm the unsubscribe, or messages stayed unacknowledged for stall_s (store away) or past
    deadline_s, or when `cancel` is set. Done means: every received message was acknowledged, and for
    quiet_s since the UNSUBACK, the last receipt and the last ack, nothing arrived."""
    started = time.monotonic()
    deadline = None if deadline_s is None else started + deadline_s
    source = service.source
    if not source.unsubscribe(timeout=min(stall_s, deadline_s or stall_s)):
        log.error("the broker did not confirm leaving the shared subscription; keeping the session")
        service.stop()
        return False
    unsubscribed_at = time.monotonic()
    last_acked, progress_at = source.acked, unsubscribed_at
    while True:
        now = time.monotonic()
        if source.acked != last_acked or source.pending == 0:
            last_acked, progress_at = source.acked, now
        if not source.connected:
            progress_at = min(progress_at, now)  # reconnecting: paho restores the session, drain goes on
        # Quiet since the last receipt AND the last ack: an ack frees room in the broker's in-flight window,
        # and what it had queued behind it is on its way.
        last_activity = max(source.last_received, source.last_acked, unsubscribed_at)
        if source.pending == 0 and source.connected and now - last_activity >= quiet_s:
            break
        cancelled = cancel is not None and cancel.is_set()
        if cancelled or now - progress_at > stall_s or (deadline is not None and now > deadline):
            log.error(
                "%d messages still unacknowledged after %.1f s; keeping the session (a later drain "
                "takes them)", source.pending, now - started,
            )  # fmt: skip
            service.stop()
            return False
        service.sleep(0.05)
    service.finish()
    if source.pending:  # arrived after all: ending the session would delete it unacknowledged
        log.error("%d messages arrived while leaving; keeping the session", source.pending)
        source.stop()
        service.writer.close()
        return False
    source.stop(end_session=True)
    service.writer.close()
    log.info(
        "left the shared subscription and ended session %r: %d messages acknowledged in %.1f s",
        service.settings.mqtt_client_id, source.acked, time.monotonic() - started,
    )  # fmt: skip
    return True
