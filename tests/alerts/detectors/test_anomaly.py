"""Seasonal baseline anomaly with robust statistics and the Vietnamese holiday calendar."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.detectors.anomaly import robust_baseline, same_hour_of_week, seasonal_anomaly
from alerts.holidays import holiday_name, is_holiday

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("value", "history", "expected"),
    [
        (12.0, [10, 11, 9, 10, 12, 10], False),
        (60.0, [10, 11, 9, 10, 12, 10], True),
        (60.0, [10, 11, 9], None),  # fewer than min_history weeks: no verdict
        (60.0, [10, 11, 9, 10, 500, 10], True),  # one odd week does not drag a median
    ],
)
def test_verdicts(value, history, expected):
    hit, _, _ = seasonal_anomaly(value, np.array(history, dtype=float), min_history=4, mads=5)
    assert hit is expected


def test_direction_and_min_deviation():
    history = np.array([10.0, 10, 10, 11, 9, 10])
    assert seasonal_anomaly(0.0, history, min_history=4, mads=5, direction="up")[0] is False
    assert seasonal_anomaly(0.0, history, min_history=4, mads=5, direction="down")[0] is True
    assert seasonal_anomaly(14.0, history, min_history=4, mads=3, min_deviation=10)[0] is False


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=30))
def test_baseline_scale_is_positive(values):
    baseline = robust_baseline(np.array(values))
    assert baseline.scale > 0 and baseline.n == len(values)


def test_same_hour_of_week_leaves_out_tet():
    # Tuesday 2026-03-03 09:30 local; four weeks back is Tuesday 2026-02-17, Tết Nguyên Đán.
    now = datetime(2026, 3, 3, 9, 30, tzinfo=TZ).timestamp()
    holiday, starts = same_hour_of_week(now, weeks=4, tz="Asia/Ho_Chi_Minh", is_holiday=is_holiday)
    assert holiday is False
    local = [datetime.fromtimestamp(s, TZ) for s in starts]
    assert [d.date() for d in local] == [date(2026, 2, 24), date(2026, 2, 10), date(2026, 2, 3)]
    assert all(d.hour == 9 and d.minute == 0 for d in local)


def test_holiday_calendar_in_vietnamese():
    assert holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert holiday_name(date(2026, 9, 2), "en") == "National Day"
    assert is_holiday(date(2026, 4, 30)) and not is_holiday(date(2026, 3, 3))
