"""`{prefix}/lp/{kind}/{id}`: InfluxDB line protocol, one or more lines, as Telegraf's `outputs.mqtt` sends.

Each field becomes metric `{measurement}_{field}`, tags become labels, the timestamp is in nanoseconds.
Float, integer (`5i`), unsigned (`5u`) and boolean fields are samples; string fields are skipped.
"""

from __future__ import annotations

import re

from collectors.decoders.decoded import Decoded
from collectors.decoders.fields import FieldError, check_labels, check_metric, topic_kind_entity

_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT_RE = re.compile(r"[+-]?\d+")
_UINT_RE = re.compile(r"\d+")
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})

# Characters a backslash escapes in each element; a backslash before anything else is literal.
_MEASUREMENT_ESCAPES = ", "
_KEY_ESCAPES = ",= "
_STRING_ESCAPES = '"\\'


class LineError(ValueError):
    pass


def _read_token(line: str, i: int, stops: str, escapes: str) -> tuple[str, int]:
    """Read up to an unescaped stop character; returns the unescaped text and the stop's index."""
    out: list[str] = []
    n = len(line)
    start = i
    while i < n:
        ch = line[i]
        if ch == "\\" and i + 1 < n and line[i + 1] in escapes:
            out.append(line[start:i])
            out.append(line[i + 1])
            i += 2
            start = i
            continue
        if ch in stops:
            break
        i += 1
    out.append(line[start:i])
    return "".join(out), i


def _read_string(line: str, i: int) -> int:
    """Skip a double-quoted string field value starting at `i`; returns the index after its closing quote."""
    n = len(line)
    i += 1
    while i < n:
        ch = line[i]
        if ch == "\\" and i + 1 < n and line[i + 1] in _STRING_ESCAPES:
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise LineError("unterminated string field value")


def _field_value(text: str) -> float | None:
    """A numeric or boolean field as a float; None for the string fields the caller skips."""
    if not text:
        raise LineError("empty field value")
    last = text[-1]
    if last == "i" and _INT_RE.fullmatch(text, 0, len(text) - 1):
        return float(int(text[:-1]))
    if last == "u" and _UINT_RE.fullmatch(text, 0, len(text) - 1):
        return float(int(text[:-1]))
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    raise LineError(f"bad field value {text[:40]!r}")


def parse_line(line: str) -> tuple[str, dict[str, str], list[tuple[str, float | None]], int | None]:
    """Split one line into measurement, tags, fields (None value for string fields) and timestamp (ns)."""
    measurement, i = _read_token(line, 0, ", ", _MEASUREMENT_ESCAPES)
    if not measurement:
        raise LineError("missing measurement")
    n = len(line)
    tags: dict[str, str] = {}
    while i < n and line[i] == ",":
        key, i = _read_token(line, i + 1, ",= ", _KEY_ESCAPES)
        if i >= n or line[i] != "=" or not key:
            raise LineError(f"bad tag {key[:40]!r}: expected key=value")
        value, i = _read_token(line, i + 1, ", ", _KEY_ESCAPES)
        if not value:
            raise LineError(f"tag {key[:40]!r} has an empty value")
        tags[key] = value
    if i >= n or line[i] != " ":
        raise LineError("missing fields")
    while i < n and line[i] == " ":
        i += 1
    fields: list[tuple[str, float | None]] = []
    while True:
        key, i = _read_token(line, i, ",= ", _KEY_ESCAPES)
        if i >= n or line[i] != "=" or not key:
            raise LineError(f"bad field {key[:40]!r}: expected key=value")
        i += 1
        if i < n and line[i] == '"':
            i = _read_string(line, i)
            fields.append((key, None))
        else:
            start = i
            while i < n and line[i] not in ", ":
                i += 1
            fields.append((key, _field_value(line[start:i])))
        if i < n and line[i] == ",":
            i += 1
            continue
        break
    rest = line[i:].strip()
    if not rest:
        return measurement, tags, fields, None
    if not _INT_RE.fullmatch(rest):
        raise LineError(f"bad timestamp {rest[:40]!r}: expected integer nanoseconds")
    return measurement, tags, fields, int(rest)


def decode(topic: str, payload: bytes, received_at: float) -> Decoded:
    kind, entity = topic_kind_entity(topic)
    out = Decoded(topic, kind, entity, received_at, payload)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.reject("bad_line_protocol", f"payload is not UTF-8: {exc}")
        return out
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        try:
            measurement, tags, fields, ts_ns = parse_line(line)
        except LineError as exc:
            out.reject("bad_line_protocol", f"{where}: {exc}")
            continue
        try:
            labels = check_labels(tags)
        except FieldError as exc:
            out.reject(exc.reason, f"{where}: {exc.detail}")
            continue
        ts = received_at if ts_ns is None else ts_ns / 1e9
        for field, value in fields:
            if value is None:
                continue  # string fields are not samples
            name = f"{measurement}_{field}"
            if value - value != 0.0:
                out.reject("non_finite", f"{where}: field {field!r} value is not finite")
                continue
            try:
                out.add(check_metric(name), labels, ts, value)
            except FieldError as exc:
                out.reject(exc.reason, f"{where}: {exc.detail}")
    out.enforce_sample_limit()
    return out
