"""Seasonal baseline anomaly: a value against the same hour of the week in past weeks, with robust
statistics (median and MAD), a minimum history, and public holidays left out of the baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
_MEANAD_TO_SIGMA = 1.2533  # the same for the mean absolute deviation
WEEK_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class Baseline:
    median: float
    scale: float  # robust standard deviation: 1.4826 x MAD, floored so a flat history is not infinitely sure
    n: int


def robust_baseline(history: np.ndarray, *, floor: float = 1e-9) -> Baseline:
    values = history[np.isfinite(history)]
    if values.size == 0:
        return Baseline(float("nan"), float("nan"), 0)
    median = float(np.median(values))
    deviations = np.abs(values - median)
    mad = float(np.median(deviations))
    # When most weeks were identical the MAD is 0; the mean absolute deviation still sees the rest
    # (Iglewicz and Hoaglin's fallback), so a flat history does not make every wobble an anomaly.
    spread = _MAD_TO_SIGMA * mad if mad > 0 else _MEANAD_TO_SIGMA * float(deviations.mean())
    scale = max(spread, abs(median) * 0.01, floor)
    return Baseline(median, scale, int(values.size))


def seasonal_anomaly(
    value: float,
    history: np.ndarray,
    *,
    min_history: int,
    mads: float,
    min_deviation: float = 0.0,
    direction: str = "both",
) -> tuple[bool | None, float, Baseline]:
    """(is anomalous, robust z-score, baseline); None when the history is too short to judge."""
    baseline = robust_baseline(history)
    hit, score = anomaly_verdict(
        value, baseline, min_history=min_history, mads=mads, min_deviation=min_deviation, direction=direction
    )
    return hit, score, baseline


def anomaly_verdict(
    value: float,
    baseline: Baseline,
    *,
    min_history: int,
    mads: float,
    min_deviation: float = 0.0,
    direction: str = "both",
) -> tuple[bool | None, float]:
    """(is anomalous, robust z-score) against a baseline already computed (one per series and hour)."""
    if baseline.n < min_history or not np.isfinite(value):
        return None, float("nan")
    deviation = value - baseline.median
    score = deviation / baseline.scale
    if direction == "up":
        hit = score >= mads and deviation >= min_deviation
    elif direction == "down":
        hit = -score >= mads and -deviation >= min_deviation
    else:
        hit = abs(score) >= mads and abs(deviation) >= min_deviation
    return bool(hit), float(score)


def same_hour_of_week(
    now: float, *, weeks: int, tz: str, is_holiday: Callable[[date], bool]
) -> tuple[bool, list[float]]:
    """Whether `now` falls on a holiday, and the starts (Unix s) of the same local hour in past weeks
    that were not holidays, most recent first."""
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(now, zone).replace(minute=0, second=0, microsecond=0)
    starts = []
    for k in range(1, weeks + 1):
        past = (local - timedelta(weeks=k)).replace(tzinfo=None).replace(tzinfo=zone)
        if not is_holiday(past.date()):
            starts.append(past.timestamp())
    return is_holiday(local.date()), starts
