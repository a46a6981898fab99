"""Vietnamese public holidays (Tết Nguyên Đán, Giỗ Tổ Hùng Vương, 30/4, 1/5, Quốc khánh and
substituted days off), from the `holidays` package's Vietnam calendar, which follows the lunar calendar."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays as _holidays


@lru_cache(maxsize=64)
def _calendar(year: int, language: str) -> dict[date, str]:
    return dict(_holidays.country_holidays("VN", years=year, language=language).items())


def is_holiday(day: date) -> bool:
    return day in _calendar(day.year, "vi")


def holiday_name(day: date, language: str = "vi") -> str | None:
    """The holiday's name in Vietnamese (or English), None on a working day."""
    return _calendar(day.year, "vi" if language == "vi" else "en_US").get(day)
