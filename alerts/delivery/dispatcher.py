"""The dispatcher: alerts in, through the stages (held back, muted, routed, grouped), messages out."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.alert import FIRING, RESOLVED, Alert
from alerts.delivery.group import AggregationGroup
from alerts.delivery.inhibit import held_back
from alerts.delivery.mute import Muter
from alerts.grouping import Notification
from alerts.routes.tree import Route


@dataclass(frozen=True)
class Outgoing:
    """What one flush produced: the messages, and the alerts announced for the first time."""

    notifications: list[Notification]
    notified: list[Alert]


class Dispatcher:
    def __init__(self, tree: Route, muter: Muter | None = None):
        self.tree = tree
        self.muter = muter or Muter()
        self.groups: dict[tuple[str, str], AggregationGroup] = {}

    def announce(self, alert: Alert, now: float) -> bool:
        """Past the first two stages: not held back by the engine, not silenced or in maintenance."""
        return held_back(alert, now) is None and self.muter.muted(alert.labels, now) is None

    def consider(self, alert: Alert, now: float) -> None:
        """Put an alert where it belongs (after a change, and on every tick)."""
        if alert.state == RESOLVED or alert.dropped:
            for group in self.groups.values():
                if alert.fingerprint in group.alerts:
                    group.alerts[alert.fingerprint] = alert
            return
        if alert.state != FIRING or not self.announce(alert, now):
            return
        for route in self.tree.match(alert.labels):
            labels = route.group_labels(alert.labels)
            slot = (route.id, AggregationGroup(route, labels, 0.0).key)
            found = self.groups.get(slot)
            if found is None:
                found = self.groups[slot] = AggregationGroup(route, labels, now + route.group_wait_s, now)
            found.add(alert)

    def next_due(self) -> float | None:
        return min((g.next_flush for g in self.groups.values()), default=None)

    def flush(self, now: float) -> Outgoing:
        notifications: list[Notification] = []
        notified: dict[str, Alert] = {}
        due = {slot for slot, g in self.groups.items() if g.next_flush <= now}
        routes = {self.groups[slot].route.id for slot in due}
        # A storm over many sites: the groups of the same route still waiting for their first message go
        # out in this round too, so the receiver can take the round as one digest (notify stage).
        due |= {slot for slot, g in self.groups.items() if g.route.id in routes and g.last_sent is None}
        for slot, group in list(self.groups.items()):
            if slot not in due:
                continue
            if self.muter.route_muted(group.route, now):
                group.next_flush = now + group.route.group_interval_s  # tried again when the interval ends
                continue
            notification = group.flush(now, lambda a: self.announce(a, now))
            if notification is not None:
                notifications.append(notification)
                for snapshot in notification.alerts:
                    alert = group.alerts.get(snapshot.fingerprint)
                    if snapshot.status == "firing" and alert is not None:
                        alert.last_notified_at = now
                        notified[alert.fingerprint] = alert
            if group.empty:
                del self.groups[slot]
        return Outgoing(notifications, list(notified.values()))
