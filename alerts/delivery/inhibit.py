"""The first stage: what the engine decided about an alert's page, topology and inhibition included."""

from __future__ import annotations

from alerts.alert import FIRING, Alert


def held_back(alert: Alert, now: float) -> str | None:
    """Why a firing alert is not to be announced now, or None when it may be."""
    if alert.state != FIRING:
        return "not firing"
    if alert.suppressed_by is not None:
        return f"suppressed by {alert.suppressed_by}"  # unreachable behind a root that is down, or inhibited
    if alert.hold_until is not None and now < alert.hold_until:
        return "topology hold"  # its root may still turn out to be down
    if alert.clearing_since is not None and alert.last_notified_at is None:
        return "clearing"  # healthy again and only waiting out keep_firing_for: nobody needs a page now
    return None
