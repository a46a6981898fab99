"""Multi-window SLO burn rate."""

from __future__ import annotations

import numpy as np

from alerts.detectors.burn_rate import burn_rates, error_ratio, is_burning

WINDOWS = ((3600.0, 300.0, 14.4), (21600.0, 1800.0, 6.0))


def series(bad_from: float, end: float = 21600, step: float = 60) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(0, end + 1, step, dtype=float)
    return ts, (ts >= bad_from).astype(float)


def test_error_ratio():
    ts, bad = series(bad_from=21600 - 600)
    assert error_ratio(ts, bad, end=21600, window_s=600) == 1.0
    assert np.isnan(error_ratio(ts, bad, end=10**6, window_s=60))


def test_a_total_outage_burns_both_windows_fast():
    ts, bad = series(bad_from=21600 - 3600)  # down for the last hour
    burning, rate = is_burning(burn_rates(ts, bad, end=21600, objective=0.995, windows=WINDOWS))
    assert burning and rate > 14.4


def test_a_short_blip_long_ago_does_not_page():
    ts = np.arange(0, 21601, 60, dtype=float)
    bad = ((ts > 3000) & (ts < 3300)).astype(float)  # five minutes down, five hours ago
    burning, _ = is_burning(burn_rates(ts, bad, end=21600, objective=0.995, windows=WINDOWS))
    assert not burning


def test_recovery_stops_the_page_through_the_short_window():
    ts = np.arange(0, 21601, 60, dtype=float)
    bad = ((ts > 21600 - 3600) & (ts < 21600 - 2100)).astype(float)  # down 25 min, fine for the last 35
    rates = burn_rates(ts, bad, end=21600, objective=0.995, windows=WINDOWS)
    assert rates[0][0] > 14.4 and rates[0][1] == 0.0
    assert not is_burning(rates)[0]
