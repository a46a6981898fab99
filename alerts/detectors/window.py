"""Windowed statistics over one series: quantile (p95 of response times) and counter rate."""

from __future__ import annotations

import numpy as np


def in_window(ts: np.ndarray, end: float, window_s: float) -> np.ndarray:
    """Mask of the samples in (end - window_s, end]."""
    return (ts > end - window_s) & (ts <= end)


def window_quantile(ts: np.ndarray, values: np.ndarray, *, end: float, window_s: float, q: float) -> float:
    """The q-quantile of the values in the window, NaN when it holds no sample."""
    selected = values[in_window(ts, end, window_s)]
    if selected.size == 0:
        return float("nan")
    return float(np.quantile(selected, q))


def counter_increase(values: np.ndarray) -> float:
    """How much a counter grew, counting a drop as a reset to zero (as Prometheus' increase does)."""
    if values.size < 2:
        return 0.0
    deltas = np.diff(values)
    resets = deltas < 0
    # After a reset the counter restarted from zero, so the whole new value is growth.
    return float(deltas[~resets].sum() + values[1:][resets].sum())


def rate(
    ts: np.ndarray, values: np.ndarray, *, end: float, window_s: float, per_s: float = 1.0, counter: bool = False
) -> float:
    """Change per `per_s` seconds over the window (a gauge's trend, or a counter's rate); NaN below 2 samples."""
    mask = in_window(ts, end, window_s)
    t, v = ts[mask], values[mask]
    if t.size < 2 or t[-1] <= t[0]:
        return float("nan")
    change = counter_increase(v) if counter else float(v[-1] - v[0])
    return change / float(t[-1] - t[0]) * per_s
