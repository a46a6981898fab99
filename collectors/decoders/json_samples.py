"""`{prefix}/metrics/{kind}/{id}`: a JSON sample object, or an array of them (a batch)."""

from __future__ import annotations

import json
from itertools import chain, repeat
from typing import Any

import orjson

from collectors.decoders.decoded import Decoded
from collectors.decoders.fields import (
    FieldError,
    check_labels,
    check_metric,
    known_metrics,
    metric_value,
    parse_ts,
    topic_kind_entity,
)
from ioc.model import NO_LABELS

_NUMBERS = frozenset({float, int})
_VALUES = frozenset({float, int, bool})
_COLUMNS_FROM = 8  # arrays of at least this many objects take the column-wise path (measured break-even)


def load_json(payload: bytes, out: Decoded) -> tuple[bool, object]:
    """Parse a payload; NaN/Infinity literals and overflowing numbers parse (to be rejected per value)."""
    try:
        return True, orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        error = str(exc)
    # orjson refuses NaN, Infinity and 1e400; the standard library reads them as floats, so the
    # other, valid samples of such a batch are still stored and the bad ones rejected as non_finite.
    try:
        return True, json.loads(payload)
    except (ValueError, RecursionError):
        pass
    out.reject("not_json", f"payload is not JSON: {error}")
    return False, None


def decode(topic: str, payload: bytes, received_at: float) -> Decoded:
    kind, entity = topic_kind_entity(topic)
    out = Decoded(topic, kind, entity, received_at, payload)
    ok, doc = load_json(payload, out)
    if not ok:
        return out
    if isinstance(doc, dict):
        _decode_object(doc, out, None)  # one object: the column-wise path's set-up costs more
    elif isinstance(doc, list):
        if not doc:
            out.reject("no_metrics", "the batch is an empty array")
            return out
        if len(doc) < _COLUMNS_FROM or not _decode_valid(doc, out):
            for index, item in enumerate(doc):
                _decode_object(item, out, index)
    else:
        out.reject("bad_type", f"payload must be a JSON object or array, not {type(doc).__name__}")
        return out
    out.enforce_sample_limit()
    return out


def _where(index: int | None) -> str:
    return "sample" if index is None else f"sample {index}"


def _decode_object(item: object, out: Decoded, index: int | None) -> None:
    """One sample object, checked part by part; `index` (None for a lone object) names it in details."""
    if not isinstance(item, dict):
        out.reject("bad_type", f"{_where(index)}: must be an object, not {type(item).__name__}")
        return
    try:
        ts = parse_ts(item.get("ts"), out.received_at)
        labels = check_labels(item.get("labels"))
    except FieldError as exc:
        out.reject(exc.reason, f"{_where(index)}: {exc.detail}")
        return
    metrics = item.get("metrics")
    if not isinstance(metrics, dict):
        if metrics is None:
            out.reject("no_metrics", f"{_where(index)}: has no 'metrics' object")
        else:
            out.reject("bad_type", f"{_where(index)}: 'metrics' must be an object, not {type(metrics).__name__}")
        return
    if not metrics:
        out.reject("no_metrics", f"{_where(index)}: 'metrics' is empty")
        return
    add = out.add
    for name, value in metrics.items():
        try:
            add(check_metric(name), labels, ts, metric_value(name, value))
        except FieldError as exc:
            out.reject(exc.reason, f"{_where(index)}: {exc.detail}")


def _decode_valid(items: list[Any], out: Decoded) -> bool:
    """Column-wise decoding of an all-valid message, with C-level loops (map, chain) instead of a Python
    loop per sample. Adds nothing and returns False when any part needs checking item by item, so the
    per-item path can name the bad part; the result of both paths is the same for valid messages."""
    try:
        metrics: list[Any] = list(map(dict.get, items, repeat("metrics")))  # TypeError: an item is not an object
        stamps: list[Any] = list(map(dict.get, items, repeat("ts")))
        labels: list[Any] = list(map(dict.get, items, repeat("labels")))
    except TypeError:
        return False
    if set(map(type, metrics)) != {dict}:
        return False
    counts = list(map(len, metrics))
    if 0 in counts:
        return False
    names = list(chain.from_iterable(metrics))
    if not known_metrics().issuperset(names):
        try:
            for name in set(names).difference(known_metrics()):
                check_metric(name)
        except FieldError:
            return False
    values: list[Any] = list(chain.from_iterable(map(dict.values, metrics)))
    kinds = set(map(type, values))
    if not kinds <= _VALUES:
        return False
    if kinds != {float}:
        try:
            values = list(map(float, values))  # booleans become 1.0/0.0 as the contract says
        except OverflowError:
            return False
    total = sum(values)
    if total - total != 0.0:  # a NaN or infinity somewhere (or an overflowing sum): check one by one
        return False
    if not set(map(type, stamps)) <= _NUMBERS:
        try:
            stamps = [parse_ts(t, out.received_at) for t in stamps]
        except FieldError:
            return False
    elif int in set(map(type, stamps)):
        try:
            stamps = list(map(float, stamps))
        except OverflowError:
            return False
    total = sum(stamps)
    if total - total != 0.0:
        return False
    n = len(values)
    if labels.count(None) == len(labels):
        label_column = [NO_LABELS] * n
    else:
        try:
            label_column = list(chain.from_iterable(map(repeat, map(check_labels, labels), counts)))
        except FieldError:
            return False
    out.metrics += names
    out.labels += label_column
    out.ts += stamps if n == len(stamps) else chain.from_iterable(map(repeat, stamps, counts))
    out.values += values
    return True
