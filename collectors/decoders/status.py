"""`{prefix}/status/{kind}/{id}`: `online` or `offline` as plain text, retained; `offline` is the Last Will."""

from __future__ import annotations

from collectors.decoders.decoded import Decoded
from collectors.decoders.fields import topic_kind_entity
from ioc.model import StatusUpdate

STATUS_WORDS = ("online", "offline")


def decode(topic: str, payload: bytes, received_at: float) -> Decoded:
    kind, entity = topic_kind_entity(topic)
    out = Decoded(topic, kind, entity, received_at, payload)
    word = payload.strip()
    if not word:
        return out  # an empty retained message only clears the broker's retained status
    text = word.decode("ascii", errors="replace")
    if text not in STATUS_WORDS:
        out.reject("bad_status", f"status must be 'online' or 'offline', not {text[:40]!r}")
        return out
    out.statuses.append(StatusUpdate(kind, entity, received_at, text))
    return out
