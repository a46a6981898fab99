"""Heartbeat / no-data and the Last Will's `offline`."""

from __future__ import annotations

import pytest

from alerts.detectors.heartbeat import Liveness, heartbeat_s, liveness


@pytest.mark.parametrize(
    ("interval", "override", "expected"),
    [(10, None, 30), (60, None, 180), (200, None, 300), (None, None, 300), (10, 45, 45)],
)
def test_heartbeat_is_three_intervals_at_most_five_minutes(interval, override, expected):
    assert heartbeat_s(interval, override) == expected


@pytest.mark.parametrize(
    ("now", "last_seen", "offline_at", "expected"),
    [
        (100, 90, None, Liveness(False, None, None)),
        (130, 100, None, Liveness(False, None, None)),  # exactly the heartbeat: still up
        (131, 100, None, Liveness(True, "no_data", 130)),
        (101, 100, 101, Liveness(True, "offline", 101)),  # the Last Will pages at once
        (105, 103, 101, Liveness(False, None, None)),  # data after the offline: it is back
        (500, None, None, Liveness(False, None, None)),
    ],
)
def test_liveness(now, last_seen, offline_at, expected):
    assert liveness(now=now, last_seen=last_seen, offline_at=offline_at, heartbeat=30) == expected
