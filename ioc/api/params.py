"""Parsing of query parameters shared by routes: times, steps, label filters. Errors name the parameter."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from fastapi import HTTPException, status

_STEP_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_STEP_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
LABEL_PREFIX = "label."


def word_list_pattern(words: Iterable[str]) -> str:
    """The OpenAPI pattern of a comma-separated list of at least one of these words (spaces allowed)."""
    word = "(?:" + "|".join(re.escape(w) for w in words) + ")"
    return f"^[ ,]*{word}(?: *,[ ,]*{word})*[ ,]*$"


# What parse_step accepts, as an OpenAPI pattern: a number above zero with an optional unit.
STEP_PATTERN = "^ *(?:[0-9]*[1-9][0-9]*(?:\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)(?:ms|s|m|h|d)? *$"


def bad_parameter(name: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"query parameter {name!r}: {message}")


def parse_time(value: str, name: str) -> float:
    """RFC 3339 with an offset, or Unix seconds, to Unix seconds."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise bad_parameter(name, f"{value!r} is not a finite number of seconds")
        return seconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise bad_parameter(name, f"{value!r} is neither an RFC 3339 time nor Unix seconds") from None
    if parsed.tzinfo is None:
        raise bad_parameter(name, f"{value!r} has no time zone offset (add Z or +07:00)")
    return parsed.timestamp()


def parse_step(value: str) -> float:
    """`60`, `60s`, `5m`, `1h`, `1d` to seconds."""
    match = _STEP_RE.match(value.strip())
    if not match:
        raise bad_parameter("step", f"{value!r} is not a duration such as 60, 60s, 5m or 1h")
    seconds = float(match.group(1)) * _STEP_UNITS[match.group(2)]
    if seconds <= 0:
        raise bad_parameter("step", "must be greater than zero")
    return seconds


def label_filters(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """`label.K=V` query parameters as `{K: V}`."""
    labels: dict[str, str] = {}
    for key, value in items:
        if not key.startswith(LABEL_PREFIX):
            continue
        name = key[len(LABEL_PREFIX) :]
        if not name:
            raise bad_parameter(key, "needs a label name after 'label.'")
        if name in labels and labels[name] != value:
            raise bad_parameter(key, "given twice with different values")
        labels[name] = value
    return labels


def rfc3339(ts: float | datetime | None) -> str | None:
    """Unix seconds or an aware datetime as RFC 3339 in UTC, millisecond precision."""
    if ts is None:
        return None
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
