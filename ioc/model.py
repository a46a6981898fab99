"""The vocabulary of the wire contract: entity kinds, ids, metric names, and what a message decodes to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

KINDS = ("kiosk", "link", "service")
Kind = Literal["kiosk", "link", "service"]

ENTITY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
METRIC_RE = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")

STATUSES = ("ok", "degraded", "down", "unreachable", "maintenance", "unknown")
SEVERITIES = ("info", "warning", "critical")

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_SAMPLES_PER_MESSAGE = 10_000
MAX_LABELS = 16
MAX_LABEL_CHARS = 128
MAX_FUTURE_S = 300.0

# Standard metrics of contract section 2: default rules, dashboards and health views rely on them.
STANDARD_METRICS: dict[str, tuple[str, ...]] = {
    "kiosk": (
        "cpu_pct", "mem_pct", "disk_free_pct", "temp_c", "printer_ok", "printer_paper_pct",
        "card_reader_ok", "touch_ok", "queue_waiting", "wait_time_s", "tickets_issued_total",
        "satisfaction_votes_total", "satisfaction_good_total",
    ),
    "link": ("rtt_ms", "jitter_ms", "loss_pct", "rx_bps", "tx_bps", "up"),
    "service": (
        "up", "response_ms", "http_status", "tls_days_left", "error_rate_pct",
        "dossiers_received_total", "dossiers_online_total", "dossiers_done_total",
        "dossiers_done_ontime_total", "dossiers_overdue", "payments_online_total",
    ),
}  # fmt: skip

# Series the service stores of its own (not sent by devices): the MQTT broker's drop rate, from $SYS,
# under the entity `service/{IOC_MQTT_BROKER_ENTITY}` (contract section 11).
BROKER_DROPPED_METRIC = "mqtt_broker_dropped_per_min"
OWN_METRICS: dict[str, tuple[str, ...]] = {"service": (BROKER_DROPPED_METRIC,)}

# A label set in canonical form: sorted (key, value) pairs, hashable, so it can key the series cache.
Labels = tuple[tuple[str, str], ...]
NO_LABELS: Labels = ()


def canonical_labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted(labels.items())) if labels else NO_LABELS


def check_timezone(name: str) -> str:
    """The name itself when it is an IANA time zone this machine knows; ValueError naming it otherwise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


def entity_ref(kind: str, entity: str) -> str:
    """The contract's address of an entity: `{kind}/{id}`."""
    return f"{kind}/{entity}"


def parse_entity_ref(ref: str) -> tuple[str, str]:
    """Split `kind/id`, raising ValueError with the reason when it is not one."""
    kind, sep, entity = ref.partition("/")
    if not sep:
        raise ValueError(f"{ref!r} is not of the form kind/id")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not ENTITY_ID_RE.match(entity):
        raise ValueError(f"bad entity id {entity!r}")
    return kind, entity


@dataclass(frozen=True, slots=True)
class Topic:
    """A contract topic taken apart: `{prefix}/{family}/{kind}/{id}`."""

    family: str  # metrics, lp, status, events
    kind: str
    entity: str


class TopicError(ValueError):
    pass


FAMILIES = ("metrics", "lp", "status", "events")


def parse_topic(topic: str, prefix: str) -> Topic:
    """Take a topic apart, raising TopicError with the reason when it breaks the contract."""
    if not topic.startswith(prefix + "/"):
        raise TopicError(f"topic outside prefix {prefix!r}")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 3:
        raise TopicError("topic must be {prefix}/{family}/{kind}/{id}")
    family, kind, entity = parts
    if family not in FAMILIES:
        raise TopicError(f"unknown topic family {family!r}")
    if kind not in KINDS:
        raise TopicError(f"unknown kind {kind!r}")
    if not ENTITY_ID_RE.match(entity):
        raise TopicError(f"bad entity id {entity!r}")
    return Topic(family, kind, entity)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    entity: str
    ts: float  # Unix seconds
    type: str
    severity: str
    message: str
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    kind: str
    entity: str
    ts: float
    status: str  # online | offline


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message, or part of one, that broke the contract: kept in the dead-letter store."""

    topic: str
    payload: bytes
    reason: str  # short machine-readable reason, e.g. "not_json", "non_finite"
    detail: str  # human-readable explanation
