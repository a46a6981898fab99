"""Threshold with `for` and hysteresis, on a fake clock: (time, value) steps in, states out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.detectors.threshold import FIRING, INACTIVE, PENDING, Condition, advance, due


def run(steps, *, op=">", threshold=5.0, clear=None, for_s=0.0):
    cond = Condition()
    states = []
    for t, value in steps:
        cond = advance(cond, value=value, at=t, now=t, op=op, threshold=threshold, clear=clear, for_s=for_s)
        states.append(cond.state)
    return states


@pytest.mark.parametrize(
    ("steps", "kwargs", "expected"),
    [
        ([(0, 1), (10, 6), (20, 1)], {}, [INACTIVE, FIRING, INACTIVE]),
        ([(0, 6), (30, 6), (60, 6), (70, 1)], {"for_s": 60}, [PENDING, PENDING, FIRING, INACTIVE]),
        ([(0, 6), (30, 1), (60, 6), (90, 6)], {"for_s": 60}, [PENDING, INACTIVE, PENDING, PENDING]),
        # Hysteresis: fires above 5, resolves only at 2 or below, so values between do not flap.
        ([(0, 6), (10, 4), (20, 6), (30, 3), (40, 2)], {"clear": 2}, [FIRING, FIRING, FIRING, FIRING, INACTIVE]),
        ([(0, 4), (10, 3)], {"clear": 2}, [INACTIVE, INACTIVE]),
        ([(0, 8), (10, 15), (20, 19), (30, 20)], {"op": "<", "threshold": 10, "clear": 20},
         [FIRING, FIRING, FIRING, INACTIVE]),
        ([(0, 0), (10, 1)], {"op": "==", "threshold": 0}, [FIRING, INACTIVE]),
    ],
)  # fmt: skip
def test_threshold_table(steps, kwargs, expected):
    assert run(steps, **kwargs) == expected


def test_for_runs_out_on_the_tick_without_new_samples():
    cond = advance(Condition(), value=9, at=100, now=100, op=">", threshold=5, clear=None, for_s=60)
    assert cond.state == PENDING and cond.since == 100
    assert due(cond, now=159, for_s=60).state == PENDING
    fired = due(cond, now=160, for_s=60)
    assert fired.state == FIRING and fired.since == 100


@given(st.lists(st.floats(min_value=-100, max_value=100), min_size=1, max_size=50))
def test_hysteresis_never_resolves_between_the_thresholds(values):
    cond = Condition()
    for i, value in enumerate(values):
        before = cond
        cond = advance(cond, value=value, at=i, now=i, op=">", threshold=5, clear=2, for_s=0)
        if before.state == FIRING and cond.state != FIRING:
            assert value <= 2
        if cond.state == FIRING and before.state != FIRING:
            assert value > 5
