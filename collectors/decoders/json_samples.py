"""`{prefix}/metrics/{kind}/{id}`: a JSON sample object, or an array of them (a batch)."""

from __future__ import annotations

import json

import orjson

from collectors.decoders.decoded import Decoded
from collectors.decoders.fields import FieldError, check_labels, check_metric, metric_value, parse_ts, topic_kind_entity
from ioc.model import MAX_SAMPLES_PER_MESSAGE


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
        _decode_object(doc, out, "sample")
    elif isinstance(doc, list):
        if not doc:
            out.reject("no_metrics", "the batch is an empty array")
            return out
        for index, item in enumerate(doc):
            _decode_object(item, out, f"sample {index}")
    else:
        out.reject("bad_type", f"payload must be a JSON object or array, not {type(doc).__name__}")
        return out
    if len(out) > MAX_SAMPLES_PER_MESSAGE:
        count = len(out)
        out.drop_samples()
        out.problems.clear()
        out.reject("too_many_samples", f"{count} samples in one message, at most {MAX_SAMPLES_PER_MESSAGE} allowed")
    return out


def _decode_object(item: object, out: Decoded, where: str) -> None:
    if not isinstance(item, dict):
        out.reject("bad_type", f"{where}: must be an object, not {type(item).__name__}")
        return
    try:
        ts = parse_ts(item.get("ts"), out.received_at)
        labels = check_labels(item.get("labels"))
    except FieldError as exc:
        out.reject(exc.reason, f"{where}: {exc.detail}")
        return
    metrics = item.get("metrics")
    if not isinstance(metrics, dict):
        if metrics is None:
            out.reject("no_metrics", f"{where}: has no 'metrics' object")
        else:
            out.reject("bad_type", f"{where}: 'metrics' must be an object, not {type(metrics).__name__}")
        return
    if not metrics:
        out.reject("no_metrics", f"{where}: 'metrics' is empty")
        return
    add = out.add
    for name, value in metrics.items():
        try:
            add(check_metric(name), labels, ts, metric_value(name, value))
        except FieldError as exc:
            out.reject(exc.reason, f"{where}: {exc.detail}")
