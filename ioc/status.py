"""Entity status (contract section 4) as a pure function of what the store knows and the time.

Precedence, first match wins: `maintenance` (an active silence or maintenance window matches the
entity's labels), `unknown` (never seen), `unreachable` (down, and something it depends on,
transitively, is down), `down` (last status word `offline`, silent longer than its heartbeat, or its
latest `up` sample of the last hour is 0), `degraded` (a firing warning or critical alert), `ok`.

Maintenance windows are recurring (weekdays, local start time, duration) or one-off (a time range);
`window_intervals` gives the time either covers, which is what uptime leaves out (`ioc.uptime`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_HEARTBEAT_S = 300.0  # entities without a known interval; also the cap (contract section 2)
HEARTBEAT_INTERVALS = 3.0
DEGRADING_SEVERITIES = frozenset({"warning", "critical"})
# The labels silences and maintenance windows can match an entity by.
ENTITY_LABELS = ("kind", "entity", "site", "agency")


@dataclass(frozen=True, slots=True)
class EntityFacts:
    """What status is computed from, for one entity."""

    kind: str
    id: str
    site: str | None = None
    agency: str | None = None
    last_seen: float | None = None  # Unix seconds of the last sample or status message
    mqtt_status: str | None = None  # last word on the status topic: online / offline
    interval_s: float | None = None
    depends_on: tuple[str, ...] = ()  # 'kind/id' references
    up_zero: bool = False  # its latest `up` sample of the last hour (across label sets) is 0

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.id}"

    @property
    def labels(self) -> dict[str, str]:
        values = {"kind": self.kind, "entity": self.id, "site": self.site, "agency": self.agency}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Silence:
    matchers: Mapping[str, str]
    starts_at: float
    ends_at: float


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Recurring: on ISO `weekdays` (1 = Monday) from local `start_time` for `duration_s`."""

    matchers: Mapping[str, str]
    weekdays: tuple[int, ...]
    start_time: time
    duration_s: float
    timezone: str = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True, slots=True)
class OneOffWindow:
    """One-off: from `starts_at` to `ends_at` (Unix seconds), possibly in the past (recorded late)."""

    matchers: Mapping[str, str]
    starts_at: float
    ends_at: float


AnyWindow = MaintenanceWindow | OneOffWindow


@dataclass(frozen=True, slots=True)
class StatusInputs:
    entities: tuple[EntityFacts, ...]
    silences: tuple[Silence, ...] = ()
    windows: tuple[AnyWindow, ...] = ()
    firing: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (kind, id) with warning/critical


def heartbeat_s(interval_s: float | None) -> float:
    """How long an entity may stay silent before it is down: 3 x its interval, at most 5 minutes."""
    if interval_s is None or not math.isfinite(interval_s) or interval_s <= 0:
        return DEFAULT_HEARTBEAT_S
    return min(HEARTBEAT_INTERVALS * interval_s, DEFAULT_HEARTBEAT_S)


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher names one of the entity's labels with its value; no matchers match nothing."""
    return bool(matchers) and all(labels.get(key) == value for key, value in matchers.items())


def silence_active(silence: Silence, now: float) -> bool:
    return silence.starts_at <= now < silence.ends_at


def window_active(window: AnyWindow, now: float) -> bool:
    """Whether a window covers `now`: a one-off's range, or a recurring one begun on one of its weekdays."""
    if isinstance(window, OneOffWindow):
        return window.starts_at <= now < window.ends_at
    if window.duration_s <= 0:
        return False
    local_now = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(window.timezone))
    days_back = int(window.duration_s // 86400) + 1
    for back in range(days_back + 1):
        day = (local_now - timedelta(days=back)).date()
        if day.isoweekday() not in window.weekdays:
            continue
        start = datetime.combine(day, window.start_time, tzinfo=local_now.tzinfo)
        if start <= local_now < start + timedelta(seconds=window.duration_s):
            return True
    return False


def window_intervals(window: AnyWindow, start: float, end: float) -> list[tuple[float, float]]:
    """The parts of [start, end) the window covers, in time order (occurrences clipped to the range)."""
    if isinstance(window, OneOffWindow):
        lo, hi = max(start, window.starts_at), min(end, window.ends_at)
        return [(lo, hi)] if lo < hi else []
    if window.duration_s <= 0 or end <= start:
        return []
    zone = ZoneInfo(window.timezone)
    first = datetime.fromtimestamp(start, UTC).astimezone(zone).date() - timedelta(
        days=int(window.duration_s // 86400) + 1
    )
    last = datetime.fromtimestamp(end, UTC).astimezone(zone).date()
    out: list[tuple[float, float]] = []
    day = first
    while day <= last:
        if day.isoweekday() in window.weekdays:
            begin = datetime.combine(day, window.start_time, tzinfo=zone).timestamp()
            lo, hi = max(start, begin), min(end, begin + window.duration_s)
            if lo < hi:
                if out and lo <= out[-1][1]:
                    out[-1] = (out[-1][0], max(out[-1][1], hi))
                else:
                    out.append((lo, hi))
        day += timedelta(days=1)
    return out


def raw_down(facts: EntityFacts, now: float) -> bool:
    """Down by its own word, silence, or probe: `offline`, past its heartbeat, or latest `up` is 0."""
    if facts.mqtt_status == "offline" or facts.up_zero:
        return True
    return facts.last_seen is not None and now - facts.last_seen > heartbeat_s(facts.interval_s)


def _dependencies(ref: str, graph: Mapping[str, tuple[str, ...]]) -> Iterable[str]:
    """Every entity `ref` depends on, transitively, each once (cycles tolerated)."""
    seen: set[str] = set()
    stack = list(graph.get(ref, ()))
    while stack:
        dep = stack.pop()
        if dep in seen or dep == ref:
            continue
        seen.add(dep)
        yield dep
        stack.extend(graph.get(dep, ()))


def compute_statuses(inputs: StatusInputs, now: float) -> dict[str, str]:
    """Status of every entity, keyed by `kind/id`."""
    active_matchers = [s.matchers for s in inputs.silences if silence_active(s, now)]
    active_matchers += [w.matchers for w in inputs.windows if window_active(w, now)]
    down = {e.ref for e in inputs.entities if raw_down(e, now)}
    graph = {e.ref: e.depends_on for e in inputs.entities}
    statuses: dict[str, str] = {}
    for facts in inputs.entities:
        ref = facts.ref
        labels = facts.labels
        if any(matches(m, labels) for m in active_matchers):
            statuses[ref] = "maintenance"
        elif facts.last_seen is None and facts.mqtt_status is None:
            statuses[ref] = "unknown"
        elif ref in down:
            unreachable = any(dep in down for dep in _dependencies(ref, graph))
            statuses[ref] = "unreachable" if unreachable else "down"
        elif (facts.kind, facts.id) in inputs.firing:
            statuses[ref] = "degraded"
        else:
            statuses[ref] = "ok"
    return statuses
