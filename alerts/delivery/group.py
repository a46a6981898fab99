"""The group stage: one aggregation group per route and group labels, flushed as Alertmanager's are:
`group_wait` after its first alert, then every `group_interval` when something changed (a new firing
alert, or a resolved one that was announced), and again after `repeat_interval` while any is unacked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.alert import FIRING, RESOLVED, Alert
from alerts.grouping import AlertSnapshot, Notification
from alerts.routes.tree import Route


def group_key(route: Route, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{route.key}:{{{inner}}}"


@dataclass
class AggregationGroup:
    route: Route
    labels: dict[str, str]
    next_flush: float
    created_at: float = 0.0
    alerts: dict[str, Alert] = field(default_factory=dict)
    sent_firing: set[str] = field(default_factory=set)  # what the last message said was firing
    last_sent: float | None = None

    def add(self, alert: Alert) -> None:
        notified = alert.last_notified_at
        if alert.fingerprint not in self.alerts and notified is not None and notified < self.created_at:
            # Announced before this group existed: by its previous life, before a restart. Not new.
            self.sent_firing.add(alert.fingerprint)
            self.last_sent = max(self.last_sent or 0.0, notified)
        self.alerts[alert.fingerprint] = alert

    @property
    def key(self) -> str:
        return group_key(self.route, self.labels)

    def flush(self, now: float, announce: Callable[[Alert], bool]) -> Notification | None:
        """The message due now, if any; the group forgets the resolved alerts it has dealt with."""
        route = self.route
        self.next_flush = now + route.group_interval_s
        firing = [a for a in self.alerts.values() if a.state == FIRING and announce(a)]
        resolved = [a for a in self.alerts.values() if a.state == RESOLVED and a.fingerprint in self.sent_firing]
        for fp in [fp for fp, a in self.alerts.items() if a.state == RESOLVED or a.dropped]:
            del self.alerts[fp]
        fps = {a.fingerprint for a in firing}
        new = fps - self.sent_firing
        repeat = (
            bool(firing)
            and self.last_sent is not None
            and now - self.last_sent >= route.repeat_interval_s
            and any(a.acked_by is None for a in firing)
        )
        if not new and not resolved and not repeat:
            # Announced alerts that are held back now (silenced, suppressed) leave the set without a message.
            self.sent_firing &= fps
            return None
        self.sent_firing = fps
        self.last_sent = now
        snapshots = [AlertSnapshot.of(a, "firing") for a in firing]
        snapshots += [AlertSnapshot.of(a, "resolved") for a in resolved]
        return Notification(self.key, dict(self.labels), tuple(snapshots), receiver=route.receiver)

    @property
    def empty(self) -> bool:
        return not self.alerts and not self.sent_firing
