"""Evaluation per rule type over a committed batch's arrays, at ingest speed: `batch` groups the
samples and keeps the matched pairs, `threshold`, `window` and `anomaly` judge their rule types."""

from alerts.evaluation.anomaly import AnomalyJudge, AnomalyMemo, BaselineSource, SameHour, anomaly_condition
from alerts.evaluation.batch import Grouped, Pair, Pairs, SeriesTable, breached, group, op_code
from alerts.evaluation.judge import SeriesJudge
from alerts.evaluation.threshold import advance_by_rule, advance_threshold, threshold_candidates
from alerts.evaluation.window import Buffer, WindowMemo, quantile, window_condition

__all__ = [
    "AnomalyJudge", "AnomalyMemo", "BaselineSource", "Buffer", "Grouped", "Pair", "Pairs", "SameHour", "SeriesJudge",
    "SeriesTable", "WindowMemo", "advance_by_rule", "advance_threshold", "anomaly_condition", "breached", "group",
    "op_code", "quantile", "threshold_candidates", "window_condition",
]  # fmt: skip
