"""Checks shared by the decoders: timestamps, metric values, labels and text, each with a reason code."""

from __future__ import annotations

import math
from datetime import datetime

from ioc.model import MAX_LABEL_CHARS, MAX_LABELS, METRIC_RE, NO_LABELS, Labels


class FieldError(ValueError):
    """A part of a message that breaks the contract: `reason` is the machine-readable code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def topic_kind_entity(topic: str) -> tuple[str, str]:
    """The kind and id of an already validated `{prefix}/{family}/{kind}/{id}` topic."""
    parts = topic.rsplit("/", 2)
    return parts[-2], parts[-1]


def parse_ts(value: object, received_at: float) -> float:
    """A contract `ts` (RFC 3339 with offset, or Unix seconds) as Unix seconds; missing means receipt."""
    if value is None:
        return received_at
    if type(value) is float or type(value) is int:
        try:
            ts = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise FieldError("bad_ts", f"ts {str(value)[:20]}... is not a finite number") from None
        if not math.isfinite(ts):
            raise FieldError("bad_ts", f"ts {value!r} is not a finite number")
        return ts
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise FieldError("bad_ts", f"ts {value!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise FieldError("bad_ts", f"ts {value!r} has no UTC offset")
        return parsed.timestamp()
    raise FieldError("bad_ts", f"ts must be an RFC 3339 string or Unix seconds, not {type(value).__name__}")


_valid_metrics: set[str] = set()


def known_metrics() -> set[str]:
    """Metric names already checked valid (a bounded cache)."""
    return _valid_metrics


def check_metric(name: object) -> str:
    if name in _valid_metrics:
        return name  # type: ignore[return-value,unused-ignore]
    if not isinstance(name, str) or not METRIC_RE.match(name):
        raise FieldError("bad_metric_name", f"metric name {name!r} does not match {METRIC_RE.pattern}")
    if len(_valid_metrics) < 100_000:  # bounded: names are few in practice, a flood must not grow memory
        _valid_metrics.add(name)
    return name


def metric_value(name: str, value: object) -> float:
    """A sample value: a finite number, or a boolean stored as 1/0."""
    kind = type(value)
    if kind is float:
        if value - value != 0.0:  # type: ignore[operator]  # inf - inf and nan - nan are nan
            raise FieldError("non_finite", f"metric {name!r} value {value!r} is not finite")
        return value  # type: ignore[return-value]
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise FieldError("non_finite", f"metric {name!r} value {str(value)[:20]}... overflows a float") from None
    if kind is bool:
        return 1.0 if value else 0.0
    raise FieldError("bad_type", f"metric {name!r} value must be a number or boolean, not {kind.__name__}")


def clean_text(value: str) -> bool:
    """True when PostgreSQL can store the text (no NUL, no lone surrogates)."""
    if value.isascii():
        return "\x00" not in value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def check_labels(value: object) -> Labels:
    if value is None:
        return NO_LABELS
    if not isinstance(value, dict):
        raise FieldError("bad_labels", f"labels must be an object, not {type(value).__name__}")
    if len(value) > MAX_LABELS:
        raise FieldError("bad_labels", f"{len(value)} labels, at most {MAX_LABELS} allowed")
    for key, text in value.items():
        if not isinstance(text, str):
            raise FieldError("bad_labels", f"label {key!r} value must be a string, not {type(text).__name__}")
        if not key or len(key) > MAX_LABEL_CHARS or len(text) > MAX_LABEL_CHARS:
            raise FieldError("bad_labels", f"label {key[:40]!r} key and value must be 1 to {MAX_LABEL_CHARS} chars")
        if not clean_text(key) or not clean_text(text):
            raise FieldError("bad_labels", f"label {key[:40]!r} holds a NUL or invalid character")
    return tuple(sorted(value.items())) if value else NO_LABELS
