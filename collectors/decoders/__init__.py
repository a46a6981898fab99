"""Decoders of the contract's MQTT topic families, registered in one table keyed by family."""

from __future__ import annotations

from collections.abc import Callable

from collectors.decoders import events, json_samples, line_protocol, status
from collectors.decoders.decoded import Decoded
from collectors.decoders.window import apply_time_window
from ioc.model import MAX_PAYLOAD_BYTES, TopicError, parse_topic

Decoder = Callable[[str, bytes, float], Decoded]

DECODERS: dict[str, Decoder] = {
    "metrics": json_samples.decode,
    "lp": line_protocol.decode,
    "status": status.decode,
    "events": events.decode,
}

__all__ = ["DECODERS", "Decoded", "Decoder", "apply_time_window", "decode_message"]


def _topic_reason(message: str) -> str:
    if message.startswith("unknown kind"):
        return "unknown_kind"
    if message.startswith("bad entity id"):
        return "bad_entity_id"
    return "bad_topic"


def decode_message(topic: str, payload: bytes, received_at: float, prefix: str) -> Decoded:
    """Decode any message; never raises: bad input ends up in `Decoded.problems` with a reason."""
    try:
        where = parse_topic(topic, prefix)
    except TopicError as exc:
        out = Decoded(topic, "", "", received_at, payload)
        out.reject(_topic_reason(str(exc)), f"{exc}")
        return out
    if len(payload) > MAX_PAYLOAD_BYTES:
        out = Decoded(topic, where.kind, where.entity, received_at, payload)
        out.reject("too_large", f"payload of {len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} allowed")
        return out
    return DECODERS[where.family](topic, payload, received_at)
