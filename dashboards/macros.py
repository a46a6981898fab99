"""Grafana's PostgreSQL macros and template variables, expanded as Grafana expands them.

What Grafana does before a panel's SQL reaches PostgreSQL, so tests and benchmarks run the very text the
data source would: the front end first interpolates template variables (`$__interval`, `$__interval_ms`,
`$var`, `${var}`, `${var:format}`), then the data source's back end expands its macros
(pkg/tsdb/grafana-postgresql-datasource/macros.go):

- `$__time(col)` -> `col AS "time"`; `$__timeEpoch(col)` -> `extract(epoch from col) AS "time"`
- `$__timeFilter(col)` -> `col BETWEEN 'FROM' AND 'TO'` (UTC, RFC 3339 with nanoseconds as Go prints them)
- `$__timeFrom()`, `$__timeTo()` -> `'FROM'`, `'TO'`
- `$__timeGroup(col, '5m')` -> `floor(extract(epoch from col)/300)*300`, or `time_bucket('300.000s',col)`
  when the data source has its TimescaleDB option on; `$__timeGroupAlias` adds ` AS "time"`
- `$__unixEpochFilter(col)` -> `col >= FROM AND col <= TO` (Unix seconds); `$__unixEpochFrom()`, `$__unixEpochTo()`

A variable of a SQL data source: a single value that is not multi-value nor "include All" goes in as it
is with `'` doubled; otherwise each value is quoted (`'a','b'`, `'` doubled). "All" is the variable's
custom `allValue` inserted unformatted, or without one every option's value, quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def interval_seconds(text: str) -> float:
    """Grafana interval text (`5m`, `'1h'`, `30s`, `500ms`) to seconds (gtime.ParseInterval)."""
    match = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)'?\s*", text)
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def go_float(value: float) -> str:
    """A float as Go's `%v` prints it: `300`, `0.5`."""
    return str(int(value)) if value == int(value) else repr(value)


def rfc3339_nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano of a UTC time: fraction without trailing zeros, `Z` for UTC."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += ("." + f"{moment.microsecond:06d}").rstrip("0")
    return text + "Z"


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Variable:
    """A template variable as the dashboard defines it, and what is picked (`ALL` for "All")."""

    name: str
    picked: Sequence[str] | str
    multi: bool = True
    include_all: bool = True
    all_value: str | None = None
    options: Sequence[str] = field(default_factory=tuple)  # every value, for "All" without allValue

    ALL = "$__all"

    def render(self) -> str:
        picked = [self.picked] if isinstance(self.picked, str) else list(self.picked)
        if picked == [self.ALL]:
            if self.all_value is not None:
                return self.all_value
            picked = list(self.options)
        if not self.multi and not self.include_all and len(picked) == 1:
            return picked[0].replace("'", "''")
        return ",".join(quote_literal(v) for v in picked)


_VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_MACRO_RE = re.compile(r"\$__(\w+)\(([^)]*)\)")


def interpolate(sql: str, variables: Mapping[str, Variable], interval: str) -> str:
    """The front end's step: `$__interval`, `$__interval_ms` and the template variables."""
    ms = round(interval_seconds(interval) * 1000)

    def render(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name == "__interval":
            return interval
        if name == "__interval_ms":
            return str(ms)
        if name.startswith("__"):
            return match.group(0)  # a macro, for the back end
        if name not in variables:
            raise ValueError(f"the query uses ${name}, which the dashboard does not define")
        if match.group(2) not in (None, "sqlstring", "singlequote"):
            raise ValueError(f"unsupported variable format {match.group(2)!r}")
        return variables[name].render()

    return _VAR_RE.sub(render, sql)


def expand_macros(sql: str, start: datetime, end: datetime, *, timescaledb: bool = False) -> str:
    """The back end's step: the PostgreSQL data source's macros."""

    def group(args: list[str]) -> str:
        seconds = interval_seconds(args[1])
        if timescaledb:
            return f"time_bucket('{seconds:.3f}s',{args[0]})"
        return f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"

    def render(match: re.Match[str]) -> str:
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
        if name == "time":
            return f'{args[0]} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {args[0]}) AS "time"'
        if name == "timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339_nano(start)}' AND '{rfc3339_nano(end)}'"
        if name == "timeFrom":
            return f"'{rfc3339_nano(start)}'"
        if name == "timeTo":
            return f"'{rfc3339_nano(end)}'"
        if name == "timeGroup":
            return group(args)
        if name == "timeGroupAlias":
            return group(args) + ' AS "time"'
        if name == "unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        if name == "unixEpochFrom":
            return str(int(start.timestamp()))
        if name == "unixEpochTo":
            return str(int(end.timestamp()))
        raise ValueError(f"undefined macro: $__{name}")

    expanded = _MACRO_RE.sub(render, sql)
    leftover = re.search(r"\$__\w+", expanded)
    if leftover:
        raise ValueError(f"unsupported Grafana macro {leftover.group(0)}")
    return expanded


def render_query(
    sql: str,
    start: datetime,
    end: datetime,
    *,
    interval: str = "1m",
    variables: Mapping[str, Variable] | None = None,
    timescaledb: bool = False,
) -> str:
    """A panel's SQL as PostgreSQL receives it from Grafana for this range, interval and picks."""
    return expand_macros(interpolate(sql, variables or {}, interval), start, end, timescaledb=timescaledb)


def dashboard_variables(board: Mapping[str, Any], picks: Mapping[str, Sequence[str] | str]) -> dict[str, Variable]:
    """The variables of a built dashboard with the given picks (default "All"; textboxes their default)."""
    out: dict[str, Variable] = {}
    for var in (board.get("templating") or {}).get("list", []):
        name = var["name"]
        if var["type"] == "textbox":
            out[name] = Variable(name, picks.get(name, var.get("query", "")), multi=False, include_all=False)
            continue
        out[name] = Variable(
            name,
            picks.get(name, Variable.ALL),
            multi=bool(var.get("multi")),
            include_all=bool(var.get("includeAll")),
            all_value=var.get("allValue"),
        )
    return out
