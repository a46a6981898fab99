"""Grouping per site or agency with a short group wait: a storm becomes one message."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

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


def group_of(labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The group an alert is sent in: its site, else its agency, else one group for the rest."""
    for key in ("site", "agency"):
        if labels.get(key):
            group = {key: labels[key]}
            return f'{{}}:{{{key}="{labels[key]}"}}', group
    return "{}:{}", {}


@dataclass
class _Group:
    first_at: float
    labels: dict[str, str]
    members: dict[str, tuple[Alert, str]] = field(default_factory=dict)


class Grouper:
    """Holds alerts to be sent for `group_wait_s` after the first one of their group arrives."""

    def __init__(self, group_wait_s: float):
        self.group_wait_s = group_wait_s
        self._groups: dict[str, _Group] = {}

    def add(self, alert: Alert, status: str, now: float) -> None:
        key, labels = group_of(alert.labels)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(now, labels)
        group.members[alert.fingerprint] = (alert, status)

    def holds(self, fp: str) -> bool:
        return any(fp in g.members for g in self._groups.values())

    def next_due(self) -> float | None:
        return min((g.first_at + self.group_wait_s for g in self._groups.values()), default=None)

    def take_due(self, now: float) -> list[tuple[str, dict[str, str], list[tuple[Alert, str]]]]:
        due = [k for k, g in self._groups.items() if now - g.first_at >= self.group_wait_s]
        out = []
        for key in due:
            group = self._groups.pop(key)
            out.append((key, group.labels, list(group.members.values())))
        return out
