"""Threshold with a `for` duration and a separate clear threshold (hysteresis, so no flapping)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

INACTIVE, PENDING, FIRING = "inactive", "pending", "firing"


def compare(op: str, value: float | np.ndarray, threshold: float) -> bool | np.ndarray:
    """`value op threshold`, elementwise for arrays."""
    return _OPS[op](value, threshold)


@dataclass(frozen=True, slots=True)
class Condition:
    """Where one alert condition stands: inactive, pending since `since`, or firing."""

    state: str = INACTIVE
    since: float | None = None  # when the condition first held (pending_since)
    value: float = float("nan")


def advance(
    cond: Condition,
    *,
    value: float,
    at: float,
    now: float,
    op: str,
    threshold: float,
    clear: float | None,
    for_s: float,
) -> Condition:
    """The condition after one observation `value` taken at time `at`, evaluated at `now`.

    Not firing: the condition is breached while `value op threshold`; it fires once it has held `for_s`.
    Firing: it stays firing until the value crosses back over `clear` (the threshold when no clear is set).
    """
    breached = bool(compare(op, value, threshold))
    if cond.state == FIRING:
        still = bool(compare(op, value, clear)) if clear is not None else breached
        return replace(cond, value=value) if still else Condition(INACTIVE, None, value)
    if not breached:
        return Condition(INACTIVE, None, value)
    since = cond.since if cond.state == PENDING and cond.since is not None else at
    state = FIRING if now - since >= for_s else PENDING
    return Condition(state, since, value)


def due(cond: Condition, *, now: float, for_s: float) -> Condition:
    """A pending condition whose `for` has run out fires; anything else is unchanged (the tick)."""
    if cond.state == PENDING and cond.since is not None and now - cond.since >= for_s:
        return replace(cond, state=FIRING)
    return cond
