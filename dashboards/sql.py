"""A small SQL query type for Grafana's PostgreSQL data source (the SDK has no SQL builder).

Also `expand_macros`, which renders Grafana's PostgreSQL macros for a concrete time range the way
Grafana does, so every panel's SQL can be run against a real store in tests and previews.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_UID = "ioc-store"


def datasource_ref() -> dict[str, str]:
    return {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}


@dataclass(frozen=True)
class SqlQuery:
    """One panel target: raw SQL, as a table or as time series (columns `time`, `metric`, values)."""

    sql: str
    format: Literal["table", "time_series"] = "time_series"
    ref_id: str = "A"

    def to_json(self) -> dict[str, Any]:
        return {
            "datasource": datasource_ref(),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.sql.strip(),
            "refId": self.ref_id,
        }


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MACRO_RE = re.compile(r"\$__(timeFilter|timeGroupAlias|timeGroup|timeFrom|timeTo|unixEpochFilter)\(([^)]*)\)")


def interval_seconds(text: str) -> float:
    """Grafana interval text (`5m`, `'1h'`, `30s`) to seconds."""
    match = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d)'?\s*", text)
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _literal(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def expand_macros(sql: str, start: datetime, end: datetime, interval: str = "1m") -> str:
    """Render `$__timeFilter(col)`, `$__timeGroupAlias(col, iv)`, `$__timeGroup(col, iv)`, `$__timeFrom()`,
    `$__timeTo()`, `$__unixEpochFilter(col)`, `$__interval` and `$__interval_ms` as Grafana does."""
    sql = sql.replace("$__interval_ms", _number(interval_seconds(interval) * 1000))
    sql = sql.replace("$__interval", interval)

    def render(match: re.Match[str]) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
        if name == "timeFilter":
            return f"{args[0]} BETWEEN {_literal(start)} AND {_literal(end)}"
        if name == "unixEpochFilter":
            return f"{args[0]} >= {_number(start.timestamp())} AND {args[0]} <= {_number(end.timestamp())}"
        if name == "timeFrom":
            return _literal(start)
        if name == "timeTo":
            return _literal(end)
        seconds = _number(interval_seconds(args[1]))
        group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
        return group + ' AS "time"' if name == "timeGroupAlias" else group

    expanded = _MACRO_RE.sub(render, sql)
    leftover = re.search(r"\$__\w+", expanded)
    if leftover:
        raise ValueError(f"unsupported Grafana macro {leftover.group(0)}")
    return expanded
