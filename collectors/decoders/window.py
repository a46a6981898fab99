"""The contract's time window: no `ts` more than 5 minutes ahead, none older than the retention."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.decoders.decoded import Decoded
from ioc.model import MAX_FUTURE_S


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def apply_time_window(decoded: Decoded, now: float, retention_s: float, max_future_s: float = MAX_FUTURE_S) -> None:
    """Move samples and events outside [now - retention, now + 5 min] to the message's problems."""
    low, high = now - retention_s, now + max_future_s
    ts = decoded.ts
    if ts and not (low <= min(ts) and max(ts) <= high):
        keep = [i for i, t in enumerate(ts) if low <= t <= high]
        for i, t in enumerate(ts):
            if t > high:
                decoded.reject("ts_in_future", f"metric {decoded.metrics[i]!r} ts {_iso(t)} is more than "
                               f"{max_future_s:.0f} s ahead of the service clock")  # fmt: skip
            elif t < low:
                decoded.reject("ts_too_old", f"metric {decoded.metrics[i]!r} ts {_iso(t)} is older than the "
                               f"retention of {retention_s / 86400:g} days")  # fmt: skip
        decoded.metrics[:] = [decoded.metrics[i] for i in keep]
        decoded.labels[:] = [decoded.labels[i] for i in keep]
        decoded.ts[:] = [decoded.ts[i] for i in keep]
        decoded.values[:] = [decoded.values[i] for i in keep]
    if decoded.events:
        kept = []
        for event in decoded.events:
            if event.ts > high:
                decoded.reject("ts_in_future", f"event {event.type!r} ts {_iso(event.ts)} is too far ahead")
            elif event.ts < low:
                decoded.reject("ts_too_old", f"event {event.type!r} ts {_iso(event.ts)} is older than retention")
            else:
                kept.append(event)
        decoded.events[:] = kept
