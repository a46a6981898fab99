"""Scenario files: which faults to inject, where and when.

```yaml
name: "Sáng thứ Hai: mất kết nối xã Phú Vang"
start: 2026-11-23T08:00:00+07:00   # optional; `ioc simulate --start` overrides
duration: 2h                        # optional; `--duration` overrides
incidents:
  - {id: inc-1, type: link_down, target: link/wan-xa-phu-vang, at: 10m, duration: 15m}
  - {id: inc-2, type: portal_slow, target: service/dvc-portal, at: 40m, duration: 20m, factor: 8}
```
`at` and `duration` take seconds or `90s`, `10m`, `1h`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from ioc.inventory import Inventory
from ioc.model import ENTITY_ID_RE, parse_entity_ref

# Fault type -> the kind of entity it hits, and its parameters with their defaults.
FAULTS: dict[str, tuple[str, dict[str, float]]] = {
    "link_down": ("link", {}),
    "link_degraded": ("link", {"loss_pct": 8.0, "rtt_ms": 180.0}),
    "link_flapping": ("link", {"period_s": 120.0}),
    "kiosk_crash": ("kiosk", {}),
    "paper_out": ("kiosk", {}),
    "portal_slow": ("service", {"factor": 8.0}),
    "lgsp_outage": ("service", {}),
    "tls_expiry": ("service", {"days": 5.0}),
}
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, None: 1}


class ScenarioError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Incident:
    id: str
    type: str
    target: str  # kind/id
    at_s: float  # seconds after the scenario start
    duration_s: float
    params: dict[str, float] = field(default_factory=dict)

    def active(self, offset_s: float) -> bool:
        return self.at_s <= offset_s < self.at_s + self.duration_s


@dataclass(frozen=True)
class Scenario:
    name: str = "no faults"
    start: datetime | None = None
    duration_s: float | None = None
    incidents: tuple[Incident, ...] = ()


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value.strip())):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration (seconds, or like 90s, 10m, 1h)")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


def parse_scenario(text: str, inventory: Inventory, source: str = "<scenario>") -> Scenario:
    """Parse and check a scenario against the inventory; raises ScenarioError listing every problem."""
    problems: list[str] = []
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}: not valid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise ScenarioError([f"{source}: must be a mapping with name, start, duration, incidents"])
    for key in doc:
        if key not in ("name", "start", "duration", "incidents"):
            problems.append(f"{source}: {key}: unknown key (expected name, start, duration, incidents)")
    start = doc.get("start")
    if start is not None:
        if isinstance(start, str):
            try:
                start = datetime.fromisoformat(start)
            except ValueError:
                start = None
        if not isinstance(start, datetime) or start.tzinfo is None:
            problems.append(f"{source}: start: must be an ISO 8601 time with an offset, e.g. 2026-11-23T08:00:00+07:00")
            start = None
    duration = None
    if doc.get("duration") is not None:
        try:
            duration = parse_duration(doc["duration"])
        except ValueError as exc:
            problems.append(f"{source}: duration: {exc}")
    entries = doc.get("incidents") or []
    if not isinstance(entries, list):
        problems.append(f"{source}: incidents: must be a list")
        entries = []
    refs = {e.ref for e in inventory.entities}
    incidents: list[Incident] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{source}: incidents[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        ident = entry.get("id", f"inc-{i + 1}")
        if not isinstance(ident, str) or not ENTITY_ID_RE.match(ident):
            problems.append(f"{where}.id: {ident!r} does not match {ENTITY_ID_RE.pattern}")
            continue
        if ident in seen:
            problems.append(f"{where}.id: duplicate incident id {ident!r}")
        seen.add(ident)
        kind_params = FAULTS.get(entry.get("type"))  # type: ignore[arg-type]
        if kind_params is None:
            problems.append(f"{where}.type: {entry.get('type')!r} is not one of {', '.join(FAULTS)}")
            continue
        kind, defaults = kind_params
        target = entry.get("target")
        try:
            if not isinstance(target, str):
                raise ValueError(f"{target!r} is not a kind/id string")
            target_kind, _ = parse_entity_ref(target)
            if target_kind != kind:
                raise ValueError(f"a {entry['type']} fault needs a {kind}, not {target}")
            if target not in refs:
                raise ValueError(f"unknown entity {target!r}")
        except ValueError as exc:
            problems.append(f"{where}.target: {exc}")
            continue
        timing: dict[str, float] = {}
        for key in ("at", "duration"):
            try:
                timing[key] = parse_duration(entry.get(key))
            except ValueError as exc:
                problems.append(f"{where}.{key}: {exc}")
        params = dict(defaults)
        for key, value in entry.items():
            if key in ("id", "type", "target", "at", "duration"):
                continue
            if key not in defaults:
                allowed = ", ".join(defaults) or "none"
                problems.append(f"{where}.{key}: unknown parameter of {entry['type']} (allowed: {allowed})")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{where}.{key}: must be a number")
            else:
                params[key] = float(value)
        if len(timing) == 2:
            incidents.append(Incident(ident, entry["type"], target, timing["at"], timing["duration"], params))
    if problems:
        raise ScenarioError(problems)
    return Scenario(str(doc.get("name") or Path(source).stem), start, duration, tuple(incidents))


def read_scenario(path: Path, inventory: Inventory) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read: {exc}"]) from None
    return parse_scenario(text, inventory, str(path))
