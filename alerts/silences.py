"""Silences (matchers and a time range) and recurring maintenance windows: which alerts they mute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher names a label and the exact value it must have; an empty set matches nothing."""
    return bool(matchers) and all(labels.get(key) == value for key, value in matchers.items())


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: Mapping[str, str]
    starts_at: float
    ends_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Recurring: on ISO `weekdays` (1 = Monday) from local `start_time` for `duration_s`; or one-off,
    from `starts_at` to `ends_at` (then the recurring fields are empty)."""

    id: int
    matchers: Mapping[str, str]
    weekdays: tuple[int, ...]
    start_time: time
    duration_s: float
    timezone: str = "Asia/Ho_Chi_Minh"
    starts_at: float | None = None
    ends_at: float | None = None

    def active(self, now: float) -> bool:
        if self.starts_at is not None and self.ends_at is not None:
            return self.starts_at <= now < self.ends_at
        zone = ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(now, zone)
        # A window may run past midnight, so the one that began yesterday (or earlier) may still be on.
        days_back = int(self.duration_s // 86400) + 1
        for back in range(days_back + 1):
            day = (local - timedelta(days=back)).date()
            if day.isoweekday() not in self.weekdays:
                continue
            start = datetime.combine(day, self.start_time, zone).timestamp()
            if start <= now < start + self.duration_s:
                return True
        return False


def muted_by(
    labels: Mapping[str, str], silences: Iterable[Silence], windows: Iterable[MaintenanceWindow], now: float
) -> str | None:
    """`silence#ID` or `maintenance#ID` of the first that mutes an alert with these labels, else None."""
    for silence in silences:
        if silence.active(now) and matches(silence.matchers, labels):
            return f"silence#{silence.id}"
    for window in windows:
        if matches(window.matchers, labels) and window.active(now):
            return f"maintenance#{window.id}"
    return None
