"""The open alerts, by fingerprint and by entity, and the entities a firing `down` alert says are down."""

from __future__ import annotations

from alerts.alert import Alert


class OpenAlerts:
    """Kept by the engine as alerts open, fire and end; read by suppression and liveness."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}  # by fingerprint
        self.by_ref: dict[str, set[str]] = {}  # entity ref -> fingerprints of its open alerts
        self.down: dict[str, set[str]] = {}  # entity ref -> fingerprints of its firing `down` alerts

    def add(self, alert: Alert, *, down: bool) -> None:
        self.alerts[alert.fingerprint] = alert
        self.by_ref.setdefault(alert.ref, set()).add(alert.fingerprint)
        if down:
            self.mark_down(alert)

    def remove(self, alert: Alert) -> None:
        self.alerts.pop(alert.fingerprint, None)
        refs = self.by_ref.get(alert.ref)
        if refs is not None:
            refs.discard(alert.fingerprint)
            if not refs:
                del self.by_ref[alert.ref]
        self.unmark_down(alert)

    def mark_down(self, alert: Alert) -> None:
        self.down.setdefault(alert.ref, set()).add(alert.fingerprint)

    def unmark_down(self, alert: Alert) -> None:
        down = self.down.get(alert.ref)
        if down is not None:
            down.discard(alert.fingerprint)
            if not down:
                del self.down[alert.ref]

    def of(self, ref: str) -> list[Alert]:
        """The entity's open alerts."""
        return [self.alerts[fp] for fp in self.by_ref.get(ref, ())]
