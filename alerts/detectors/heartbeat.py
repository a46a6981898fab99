"""Heartbeat / no-data and the status topic's `offline` (Last Will)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEARTBEAT_S = 300.0  # contract section 2: 3 x the usual interval, at most 5 minutes


def heartbeat_s(interval_s: float | None, override: float | None = None) -> float:
    """How long an entity may stay silent before it counts as down."""
    if override is not None:
        return override
    if interval_s is None or interval_s <= 0:
        return MAX_HEARTBEAT_S
    return min(3.0 * interval_s, MAX_HEARTBEAT_S)


@dataclass(frozen=True, slots=True)
class Liveness:
    down: bool
    reason: str | None  # "offline" (status topic) or "no_data" (silent past the heartbeat)
    since: float | None  # when it went down


def liveness(
    *, now: float, last_seen: float | None, offline_at: float | None, heartbeat: float, sight: float | None = None
) -> Liveness:
    """Whether an entity is down now.

    `offline_at` is the time of an `offline` status that is still the latest word (None once `online`
    came or data arrived after it); `last_seen` the last sample or `online` (or when watching began).
    `sight`: since when alerting has seen what the entity sends (it was blind before: the store away, the
    process not leading or stopped); silence counts from the later of the two, so alerting's own blindness
    is never the entity's silence. An `offline` counts at once either way.
    """
    if offline_at is not None and (last_seen is None or last_seen <= offline_at):
        return Liveness(True, "offline", offline_at)
    silent_from = last_seen if sight is None or (last_seen is not None and last_seen > sight) else sight
    if silent_from is not None and now - silent_from > heartbeat:
        return Liveness(True, "no_data", silent_from + heartbeat)
    return Liveness(False, None, None)
