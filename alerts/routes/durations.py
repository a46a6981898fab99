"""Alertmanager's (Prometheus') durations: `30s`, `5m`, `4h`, `1d`, `1w`, `1h30m`, `500ms`."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(value: object) -> float:
    """Seconds; ValueError for anything else (a bare number is not a duration, as in Alertmanager)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"bad duration {value!r}: expected a number and a unit, like 30s, 5m or 4h")
    pos, total = 0, 0.0
    for found in _PART.finditer(value):
        if found.start() != pos:
            break
        total += int(found.group(1)) * _UNITS[found.group(2)]
        pos = found.end()
    if pos != len(value):
        raise ValueError(f"bad duration {value!r}: expected a number and a unit, like 30s, 5m or 4h")
    return total
