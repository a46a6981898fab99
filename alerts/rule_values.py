"""The values of a rule's keys, checked and converted: pydantic before-validators, and the annotated
types the rule models (`alerts/rule_types.py`) declare their fields with.

A check that finds problems raises `problems(...)`: the loader turns each into the line
`file: rule NAME: key: message` (see `alerts/rules.py`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from ioc.model import KINDS, METRIC_RE, SEVERITIES

OPS = (">", ">=", "<", "<=", "==", "!=")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
# Matched against the inventory's entry for the entity: one the inventory does not know matches only by `id`.
MATCH_KEYS = ("id", "kind", "site", "agency", "system")
ENGINE_LABELS = ("alertname", "severity", "kind", "entity", "site", "agency")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
DEFAULT_BURN_WINDOWS = ((3600.0, 300.0, 14.4), (21600.0, 1800.0, 6.0))
BurnWindows = tuple[tuple[float, float, float], ...]

# Fields a summary or description may use, with sample values to try the template on.
TEMPLATE_FIELDS: dict[str, object] = {
    "name": "Kiosk",
    "entity": "kiosk-01",
    "kind": "kiosk",
    "site": "site",
    "site_name": "Site",
    "agency": "agency",
    "agency_name": "Agency",
    "metric": "cpu_pct",
    "value": 1.5,
    "threshold": 2.0,
    "rule": "rule",
    "labels": "",
    "window": "5m",
    "for": "1m",
}


def problems(*found: tuple[str, str]) -> PydanticCustomError:
    """The error a validator raises: (where under its key, e.g. `.vi` or `[0]`, or "", message) each."""
    return PydanticCustomError("rule", "{message}", {"message": found[0][1], "problems": found})


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90s`, `5m`, `1h`, `500ms`; raises ValueError with the reason."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30s, 5m or 1h, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value.strip())):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"must be a duration such as 30s, 5m or 1h, not {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a duration such as 30s, 5m or 1h, not {value!r}")
    return seconds


def template_problem(text: str) -> str | None:
    try:
        text.format(**TEMPLATE_FIELDS)
    except KeyError as exc:
        return f"unknown field {{{exc.args[0]}}} (known: {', '.join(TEMPLATE_FIELDS)})"
    except (ValueError, IndexError, AttributeError) as exc:
        return f"bad template: {exc}"
    return None


def _choice(options: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in options:
            raise problems(("", f"must be one of {', '.join(options)}, not {value!r}"))
        return str(value)

    return check


def _number(lo: float | None = None, hi: float | None = None) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise problems(("", f"must be a finite number, not {value!r}"))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise problems(("", f"must be between {lo:g} and {hi:g}, not {value!r}"))
        return float(value)

    return check


def _below_one(value: float) -> float:
    if value >= 1.0:
        raise problems(("", "must be below 1 (a 100% objective leaves no error budget)"))
    return value


def _weeks(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 52:
        raise problems(("", f"must be a whole number of weeks between 1 and 52, not {value!r}"))
    return value


def _duration(positive: bool) -> Callable[[object], float]:
    def check(value: object) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise problems(("", str(exc))) from None
        if positive and seconds <= 0:
            raise problems(("", "must be longer than 0s"))
        return seconds

    return check


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise problems(("", f"must be true or false, not {value!r}"))
    return value


def _metric(value: object) -> str:
    if not isinstance(value, str) or not METRIC_RE.match(value):
        raise problems(("", f"{value!r} does not match {METRIC_RE.pattern}"))
    return value


def _texts(value: object) -> dict[str, str]:
    if isinstance(value, str):
        value = {"vi": value, "en": value}
    if not isinstance(value, dict) or not value:
        raise problems(("", "must be a text or a mapping of language (vi, en) to text"))
    found: list[tuple[str, str]] = []
    for lang, text in value.items():
        if lang not in ("vi", "en"):
            found.append((f".{lang}", "unknown language (expected vi or en)"))
        elif not isinstance(text, str) or not text.strip():
            found.append((f".{lang}", "must be a non-empty text"))
        elif (problem := template_problem(text)) is not None:
            found.append((f".{lang}", problem))
    if found:
        raise problems(*found)
    return value


def _labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise problems(("", "must be a mapping of label names to texts"))
    found: list[tuple[str, str]] = []
    for key, text in value.items():
        if not isinstance(key, str) or not LABEL_RE.match(key):
            found.append((f".{key}", f"label name does not match {LABEL_RE.pattern}"))
        elif key in ENGINE_LABELS:
            found.append((f".{key}", "is set by the engine and cannot be overridden"))
        elif not isinstance(text, str):
            found.append((f".{key}", f"must be a text, not {text!r}"))
    if found:
        raise problems(*found)
    return value


def _match(value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise problems(("", f"must be a mapping of {', '.join(MATCH_KEYS)} to a value or a list of values"))
    found: list[tuple[str, str]] = []
    out = {}
    for key, wanted in value.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if key not in MATCH_KEYS:
            found.append((f".{key}", f"unknown key (expected one of {', '.join(MATCH_KEYS)})"))
        elif not values or not all(isinstance(v, str) and v for v in values):
            found.append((f".{key}", "must be a text or a non-empty list of texts"))
        else:
            out[str(key)] = tuple(values)
    if found:
        raise problems(*found)
    return out


def _rule_names(value: object) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and NAME_RE.match(v) for v in values):
        raise problems(("", "must be a rule name or a non-empty list of rule names"))
    return tuple(values)


def _burn_windows(value: object) -> BurnWindows:
    if not isinstance(value, list) or not value:
        raise problems(("", "must be a non-empty list of {long, short, factor}"))
    found: list[tuple[str, str]] = []
    out = []
    for i, entry in enumerate(value):
        at = f"[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"long", "short", "factor"}:
            found.append((at, "must be a mapping with exactly long, short and factor"))
            continue
        try:
            long, short = parse_duration(entry["long"]), parse_duration(entry["short"])
        except ValueError as exc:
            found.append((at, str(exc)))
            continue
        factor = entry["factor"]
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < 1e6:
            found.append((f"{at}.factor", f"must be a positive number, not {factor!r}"))
            continue
        if not 0 < short < long:
            found.append((at, "short must be longer than 0s and shorter than long"))
            continue
        out.append((long, short, float(factor)))
    if found:
        raise problems(*found)
    return tuple(out)


Kind = Annotated[str, BeforeValidator(_choice(KINDS))]
Op = Annotated[str, BeforeValidator(_choice(OPS))]
Number = Annotated[float, BeforeValidator(_number())]
Share = Annotated[float, BeforeValidator(_number(0.0, 1.0))]
Duration = Annotated[float, BeforeValidator(_duration(positive=False))]
Window = Annotated[float, BeforeValidator(_duration(positive=True))]
Flag = Annotated[bool, BeforeValidator(_boolean)]
Texts = Annotated[dict[str, str], BeforeValidator(_texts)]
Metric = Annotated[str, BeforeValidator(_metric)]
Weeks = Annotated[int, BeforeValidator(_weeks)]
OptionalKind = Annotated[str | None, BeforeValidator(_choice(KINDS))]
Severity = Annotated[str, BeforeValidator(_choice(SEVERITIES))]
Labels = Annotated[dict[str, str], BeforeValidator(_labels)]
RuleNames = Annotated[tuple[str, ...], BeforeValidator(_rule_names)]
Match = Annotated[dict[str, tuple[str, ...]], BeforeValidator(_match)]
Mads = Annotated[float, BeforeValidator(_number(0.5, 100.0))]
Direction = Annotated[str, BeforeValidator(_choice(("up", "down", "both")))]
Objective = Annotated[float, BeforeValidator(_number(0.0, 1.0)), AfterValidator(_below_one)]
Windows = Annotated[BurnWindows, BeforeValidator(_burn_windows)]
