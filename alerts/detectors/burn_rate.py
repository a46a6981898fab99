"""Multi-window, multi-burn-rate SLO alerts (the Google SRE workbook's recipe)."""

from __future__ import annotations

import numpy as np

from alerts.detectors.window import in_window


def error_ratio(ts: np.ndarray, bad: np.ndarray, *, end: float, window_s: float) -> float:
    """Share of bad samples in the window; NaN when the window holds none."""
    mask = in_window(ts, end, window_s)
    n = int(mask.sum())
    return float(bad[mask].sum()) / n if n else float("nan")


def burn_rates(
    ts: np.ndarray, bad: np.ndarray, *, end: float, objective: float, windows: tuple[tuple[float, float, float], ...]
) -> list[tuple[float, float, float]]:
    """(long burn rate, short burn rate, factor) for each window pair; a rate of 1 spends the budget exactly."""
    budget = 1.0 - objective
    out = []
    for long_s, short_s, factor in windows:
        out.append(
            (
                error_ratio(ts, bad, end=end, window_s=long_s) / budget,
                error_ratio(ts, bad, end=end, window_s=short_s) / budget,
                factor,
            )
        )
    return out


def is_burning(rates: list[tuple[float, float, float]]) -> tuple[bool, float]:
    """Fires when, for some pair, both the long and the short window burn at least `factor` times too fast.

    Returns the verdict and the highest long-window burn rate of the firing pairs (or of all, if none fire).
    """
    firing = [long for long, short, factor in rates if long >= factor and short >= factor]
    if firing:
        return True, max(firing)
    longs = [long for long, _, _ in rates if not np.isnan(long)]
    return False, max(longs) if longs else float("nan")
