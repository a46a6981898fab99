"""What a message carries: snapshots of its alerts, its group key and labels, and its receiver."""

from __future__ import annotations

from dataclasses import dataclass, replace

from alerts.alert import Alert, iso


@dataclass(frozen=True)
class AlertSnapshot:
    """An alert as it was when its message was put together (notifiers run in other threads)."""

    id: int | None
    fingerprint: str
    status: str  # firing | resolved
    severity: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float | None
    ends_at: float | None

    @classmethod
    def of(cls, alert: Alert, status: str) -> AlertSnapshot:
        return cls(
            alert.id,
            alert.fingerprint,
            status,
            alert.severity,
            alert.summary,
            dict(alert.labels),
            dict(alert.annotations),
            alert.starts_at or alert.pending_since,
            alert.ends_at if status == "resolved" else None,
        )

    @property
    def starts_at_iso(self) -> str:
        return iso(self.starts_at) or "0001-01-01T00:00:00Z"

    @property
    def ends_at_iso(self) -> str:
        return iso(self.ends_at) or "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Notification:
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[AlertSnapshot, ...]
    receiver: str = "ioc"

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    def without_resolved(self) -> Notification | None:
        """The same message for a receiver with `send_resolved: false` (None when nothing is left)."""
        firing = tuple(a for a in self.alerts if a.status == "firing")
        if len(firing) == len(self.alerts):
            return self
        return replace(self, alerts=firing) if firing else None

    @property
    def common_labels(self) -> dict[str, str]:
        return _common([a.labels for a in self.alerts])

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common([a.annotations for a in self.alerts])


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}
