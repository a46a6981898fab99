"""Which alerts are due a message and when: topology suppression, silences and maintenance windows,
acks, the repeat interval, and resolved messages only for what was announced."""

from __future__ import annotations

from alerts.alert import FIRING, RESOLVED, Alert
from alerts.grouping import AlertSnapshot, Grouper, Notification
from alerts.silences import MaintenanceWindow, Silence, muted_by


class Router:
    def __init__(self, *, group_wait_s: float, repeat_interval_s: float):
        self.grouper = Grouper(group_wait_s)
        self.repeat_interval_s = repeat_interval_s
        self.silences: list[Silence] = []
        self.windows: list[MaintenanceWindow] = []

    def muted(self, alert: Alert, now: float) -> str | None:
        return muted_by(alert.labels, self.silences, self.windows, now)

    def wants_firing(self, alert: Alert, now: float) -> bool:
        if alert.state != FIRING or alert.suppressed_by is not None or self.muted(alert, now):
            return False
        if alert.hold_until is not None and now < alert.hold_until:
            return False  # topology hold: its root may still turn out to be down
        if alert.clearing_since is not None and alert.last_notified_at is None:
            return False  # healthy again and only waiting out keep_firing_for: nobody needs a page now
        if alert.last_notified_at is None:
            return True
        return alert.acked_by is None and now - alert.last_notified_at >= self.repeat_interval_s

    def consider(self, alert: Alert, now: float) -> None:
        """Queue a message for this alert if one is due (after a change, and on every tick)."""
        if alert.state == RESOLVED:
            if alert.last_notified_at is not None:
                self.grouper.add(alert, "resolved", now)
        elif not self.grouper.holds(alert.fingerprint) and self.wants_firing(alert, now):
            self.grouper.add(alert, "firing", now)

    def flush(self, now: float) -> tuple[list[Notification], list[Alert]]:
        """Messages whose group wait ran out, and the alerts now marked as notified."""
        notifications: list[Notification] = []
        notified: list[Alert] = []
        for key, labels, members in self.grouper.take_due(now):
            snapshots = []
            for alert, status in members:
                if status == "firing":
                    # Things change during the group wait: the root cause showed up, it resolved, it was silenced.
                    if not self.wants_firing(alert, now):
                        continue
                    alert.last_notified_at = now
                    notified.append(alert)
                snapshots.append(AlertSnapshot.of(alert, status))
            if snapshots:
                notifications.append(Notification(key, labels, tuple(snapshots)))
        return notifications, notified
