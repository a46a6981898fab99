"""Alertmanager's `time_intervals`: times, weekdays, days_of_month, months, years, in a location."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}  # monday = 0
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}  # january = 1


@dataclass(frozen=True)
class TimeRange:
    """Minutes since local midnight, end excluded (`24:00` is 1440)."""

    start: int
    end: int


@dataclass(frozen=True)
class TimeInterval:
    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[tuple[int, int], ...] = ()
    days_of_month: tuple[tuple[int, int], ...] = ()
    months: tuple[tuple[int, int], ...] = ()
    years: tuple[tuple[int, int], ...] = ()
    location: str = "UTC"

    def contains(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, ZoneInfo(self.location))
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(r.start <= minute < r.end for r in self.times):
                return False
        if self.weekdays and not any(a <= local.weekday() <= b for a, b in self.weekdays):
            return False
        if self.days_of_month:
            days = calendar.monthrange(local.year, local.month)[1]

            def day(n: int) -> int:  # negative days count from the end of the month, -1 being the last
                return days + n + 1 if n < 0 else n

            if not any(day(a) <= local.day <= day(b) for a, b in self.days_of_month):
                return False
        if self.months and not any(a <= local.month <= b for a, b in self.months):
            return False
        return not self.years or any(a <= local.year <= b for a, b in self.years)


def parse_clock(text: str) -> int:
    """`HH:MM` as minutes since midnight; `24:00` allowed as an end."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"bad time {text!r}: expected HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise ValueError(f"bad time {text!r}: out of range")
    return value


def parse_range(text: str, names: dict[str, int] | None, low: int, high: int, what: str) -> tuple[int, int]:
    """`a` or `a:b`, by name (`monday:friday`, `january`) or number, inclusive."""

    def one(part: str) -> int:
        part = part.strip().lower()
        if names is not None and part in names:
            return names[part]
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f"bad {what} {text!r}") from None
        if not low <= value <= high:
            raise ValueError(f"{what} {value} out of range {low}..{high}")
        return value

    first, sep, last = str(text).partition(":")
    a = one(first)
    b = one(last) if sep else a
    if what == "day of month" and a > 0 > b:  # `1:-1`, the whole month: ends resolved per month by TimeInterval
        return a, b
    if ((a >= 0 and b >= 0) or (a < 0 and b < 0)) and a > b:
        raise ValueError(f"bad {what} range {text!r}: start after end")
    if what == "day of month" and 0 in (a, b):
        raise ValueError(f"bad day of month {text!r}: days count from 1 (or -1 from the end)")
    return a, b
