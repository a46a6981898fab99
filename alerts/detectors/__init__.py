"""Pure detectors: arrays and state in, new state out; no I/O, the time is always passed in."""

from alerts.detectors.anomaly import Baseline, anomaly_verdict, robust_baseline, same_hour_of_week, seasonal_anomaly
from alerts.detectors.burn_rate import burn_rates, error_ratio, is_burning
from alerts.detectors.heartbeat import Liveness, heartbeat_s, liveness
from alerts.detectors.threshold import Condition, advance, compare, due
from alerts.detectors.window import counter_increase, in_window, rate, window_quantile

__all__ = [
    "Baseline",
    "Condition",
    "Liveness",
    "advance",
    "anomaly_verdict",
    "burn_rates",
    "compare",
    "counter_increase",
    "due",
    "error_ratio",
    "heartbeat_s",
    "in_window",
    "is_burning",
    "liveness",
    "rate",
    "robust_baseline",
    "same_hour_of_week",
    "seasonal_anomaly",
    "window_quantile",
]
