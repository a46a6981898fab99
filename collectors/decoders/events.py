"""`{prefix}/events/{kind}/{id}`: a JSON event `{"ts", "type", "severity": info|warning|critical, "message"}`."""

from __future__ import annotations

from collectors.decoders.decoded import Decoded
from collectors.decoders.fields import FieldError, clean_text, parse_ts, topic_kind_entity
from collectors.decoders.json_samples import load_json
from ioc.model import SEVERITIES, Event

MAX_TYPE_CHARS = 100
MAX_MESSAGE_CHARS = 4000
_KNOWN_KEYS = frozenset({"ts", "type", "severity", "message"})


def decode(topic: str, payload: bytes, received_at: float) -> Decoded:
    kind, entity = topic_kind_entity(topic)
    out = Decoded(topic, kind, entity, received_at, payload)
    ok, doc = load_json(payload, out)
    if not ok:
        return out
    if not isinstance(doc, dict):
        out.reject("bad_event", f"event must be a JSON object, not {type(doc).__name__}")
        return out
    try:
        ts = parse_ts(doc.get("ts"), received_at)
    except FieldError as exc:
        out.reject(exc.reason, f"event: {exc.detail}")
        return out
    kind_of_event = doc.get("type")
    severity = doc.get("severity")
    message = doc.get("message", "")
    if not isinstance(kind_of_event, str) or not 0 < len(kind_of_event) <= MAX_TYPE_CHARS:
        out.reject("bad_event", f"event 'type' must be a string of 1 to {MAX_TYPE_CHARS} chars")
    elif severity not in SEVERITIES:
        out.reject("bad_event", f"event 'severity' must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    elif not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        out.reject("bad_event", f"event 'message' must be a string of at most {MAX_MESSAGE_CHARS} chars")
    elif not clean_text(kind_of_event) or not clean_text(message):
        out.reject("bad_event", "event 'type' or 'message' holds a NUL or invalid character")
    else:
        attrs = {k: v for k, v in doc.items() if k not in _KNOWN_KEYS}
        bad = _unstorable(attrs)
        if bad is not None:
            out.reject("bad_event", f"event attribute {bad[0]!r} holds {bad[1]}")
        else:
            out.events.append(Event(kind, entity, ts, kind_of_event, str(severity), message, attrs))
    return out


_BAD_TEXT = "a NUL or invalid character"
_BAD_NUMBER = "a number JSON cannot carry (NaN, Infinity or out of range)"


def _unstorable(value: object, path: str = "") -> tuple[str, str] | None:
    """The first key path of the extra attributes whose key, text or number PostgreSQL's JSONB cannot store,
    with what is wrong there."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if not clean_text(key):
                return where, _BAD_TEXT
            found = _unstorable(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _unstorable(item, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, str) and not clean_text(value):
        return path, _BAD_TEXT
    elif isinstance(value, float) and value - value != 0.0:  # inf - inf and nan - nan are nan
        return path, _BAD_NUMBER
    return None
