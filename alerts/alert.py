"""One alert: an incident of one fingerprint, as kept in the `alerts` table, and its labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from alerts.detectors.threshold import Condition

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
RESERVED_LABELS = ("alertname", "severity", "kind", "entity", "site", "agency")


def fingerprint(labels: dict[str, str]) -> str:
    """A stable id of a label set (16 hex digits, like Alertmanager's)."""
    return hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def alert_labels(
    *,
    rule: str,
    severity: str,
    kind: str,
    entity: str,
    site: str | None,
    agency: str | None,
    series_labels: dict[str, str] | None = None,
    rule_labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """The labels every alert carries (contract section 5), then the series' and the rule's own.

    A series label that clashes with a reserved one is kept as `exported_<name>`, as Prometheus does.
    """
    labels = {"alertname": rule, "severity": severity, "kind": kind, "entity": entity}
    if site:
        labels["site"] = site
    if agency:
        labels["agency"] = agency
    for key, value in (series_labels or {}).items():
        labels[f"exported_{key}" if key in RESERVED_LABELS else key] = value
    labels.update(rule_labels or {})
    return labels


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Alert:
    fingerprint: str
    rule: str
    severity: str
    kind: str
    entity: str
    labels: dict[str, str]
    state: str = PENDING
    site: str | None = None
    agency: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    value: float | None = None
    pending_since: float = 0.0
    starts_at: float | None = None
    ends_at: float | None = None
    suppressed_by: str | None = None
    acked_by: str | None = None
    last_notified_at: float | None = None
    id: int | None = None
    series_id: int | None = None  # the series it watches; None for per-entity rules
    cond: Condition = field(default_factory=Condition)
    dropped: bool = False  # a pending alert whose condition went away before it fired: its row is deleted
    hold_until: float | None = None  # topology hold: no page before this, so a root cause can show up first
    clearing_since: float | None = None  # flap damping: healthy since then, still firing for keep_firing_for
    flaps: int = 0  # times it broke again while clearing
    symptom: bool = False  # suppressed by its own entity's outage: part of that incident until it resolves

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.entity}"

    @property
    def open(self) -> bool:
        return self.state != RESOLVED and not self.dropped
