"""Windowed quantile and rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.detectors.window import counter_increase, rate, window_quantile


def test_p95_over_five_minutes_ignores_older_samples():
    ts = np.arange(0, 600, 10, dtype=float)  # 10 minutes, one sample per 10 s
    values = np.where(ts < 300, 10_000.0, 100.0)  # slow in the first five minutes only
    assert window_quantile(ts, values, end=590, window_s=300, q=0.95) == 100.0
    assert window_quantile(ts, values, end=299, window_s=300, q=0.95) == 10_000.0
    assert np.isnan(window_quantile(ts, values, end=5000, window_s=300, q=0.95))


def test_p95_matches_numpy():
    rng = np.random.default_rng(1)
    ts = np.arange(30, dtype=float)
    values = rng.exponential(500, 30)
    assert window_quantile(ts, values, end=29, window_s=300, q=0.95) == pytest.approx(np.quantile(values, 0.95))


@pytest.mark.parametrize(
    ("values", "increase"),
    [([1, 2, 3], 2), ([5, 7, 2, 4], 2 + 2 + 2), ([3], 0), ([10, 0, 0, 5], 5)],
)
def test_counter_increase_counts_resets(values, increase):
    assert counter_increase(np.array(values, dtype=float)) == increase


def test_rate_per_day_of_a_gauge_and_of_a_counter():
    ts = np.array([0.0, 3600.0, 7200.0])
    assert rate(ts, np.array([10.0, 20.0, 30.0]), end=7200, window_s=21600, per_s=86400) == 240.0
    assert rate(ts, np.array([10.0, 2.0, 4.0]), end=7200, window_s=21600, per_s=1, counter=True) == 4 / 7200
    assert np.isnan(rate(ts[:1], np.array([1.0]), end=0, window_s=60))


@given(st.lists(st.floats(min_value=0, max_value=1e9), min_size=2, max_size=40))
def test_counter_increase_is_never_negative(values):
    assert counter_increase(np.array(values)) >= 0
