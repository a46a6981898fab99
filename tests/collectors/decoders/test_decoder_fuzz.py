"""Every decoder fuzzed with hostile JSON documents, topics and bytes: `decode_message` never raises, every
problem is a documented reason with a detail, and everything it accepts can be stored (finite numbers,
text without NUL or lone surrogates, also inside an event's extra attributes)."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from test_contract_doc import _reason_codes

from collectors.decoders import DECODERS, decode_message
from collectors.decoders.decoded import Decoded

P = "ioc/v1"
NOW = 1_795_000_000.0
REASONS = _reason_codes()
FAMILIES = sorted(DECODERS)

# Text as hostile as JSON can carry: NUL, lone surrogates (json.dumps escapes them), controls, long runs.
hostile_text = st.text(
    st.characters(codec=None, categories=None) | st.sampled_from(["\x00", "\ud800", "\udfff", "\n", "\\"]),
    max_size=30,
) | st.sampled_from(["", "online", "offline", "info", "warning", "critical", "x" * 5000, "1e400", "NaN"])
WORDS = ["metrics", "ts", "labels", "type", "severity", "message", "status", "value", "x"]
KEYS = st.sampled_from(WORDS) | hostile_text
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=30
)

# Near-valid skeletons, so the fuzz reaches past the first check of each decoder.
event_docs = st.builds(
    lambda base, extra: {**extra, **base},
    st.fixed_dictionaries(
        {"type": hostile_text, "severity": st.sampled_from(["info", "warning", "critical"]), "message": hostile_text}
    ),
    st.dictionaries(hostile_text, documents, max_size=3),
)
sample_docs = st.fixed_dictionaries(
    {"metrics": st.dictionaries(st.sampled_from(["cpu_pct", "up", "rtt_ms"]) | hostile_text, scalars, max_size=4)},
    optional={"labels": st.dictionaries(hostile_text, scalars, max_size=3), "ts": scalars},
)


def storable(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(storable(v) for v in value)
    return True


def check(decoded: Decoded) -> None:
    for reason, detail in decoded.problems:
        assert reason in REASONS, reason
        assert isinstance(detail, str) and detail
    assert all(math.isfinite(v) for v in decoded.values)
    assert storable(decoded.metrics) and storable(decoded.labels)
    for event in decoded.events:
        assert storable([event.type, event.severity, event.message]) and storable(event.attrs), event
    for update in decoded.statuses:
        assert update.status in ("online", "offline")


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FAMILIES), documents | event_docs | sample_docs | st.lists(sample_docs, max_size=4))
def test_any_json_document_decodes_to_storable_parts_or_reasons(family, doc):
    payload = json.dumps(doc, allow_nan=True).encode()  # ASCII: surrogates and NUL as \u escapes
    check(decode_message(f"{P}/{family}/kiosk/k1", payload, NOW, P))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FAMILIES), st.binary(max_size=400))
def test_each_decoder_takes_any_bytes(family, payload):
    check(DECODERS[family](f"{P}/{family}/kiosk/k1", payload, NOW))


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=80)
    | st.builds("/".join, st.lists(st.sampled_from(["ioc", "v1", *FAMILIES, "kiosk", "k1", "", "+", "#", "\x00"]),
                                   max_size=6)),
    st.binary(max_size=50),
)  # fmt: skip
def test_any_topic_is_a_message_or_a_topic_reason(topic, payload):
    decoded = decode_message(topic, payload, NOW, P)
    check(decoded)
    if decoded.problems and decoded.kind == "":
        assert {reason for reason, _ in decoded.problems} <= {"bad_topic", "unknown_kind", "bad_entity_id"}


def test_an_event_attribute_jsonb_cannot_store_is_refused_by_name():
    payload = json.dumps({"type": "door", "severity": "info", "message": "", "extra": {"a": ["ok", "x\u0000"]}})
    decoded = decode_message(f"{P}/events/kiosk/k1", payload.encode(), NOW, P)
    assert (decoded.events, decoded.problems) == (
        [],
        [("bad_event", "event attribute 'extra.a[1]' holds a NUL or invalid character")],
    )


def test_an_event_attribute_number_jsonb_cannot_store_is_refused_by_name():
    payload = b'{"type": "door", "severity": "info", "message": "", "extra": {"t": [1, 1e400]}, "n": NaN}'
    decoded = decode_message(f"{P}/events/kiosk/k1", payload, NOW, P)
    assert (decoded.events, decoded.problems) == (
        [],
        [
            (
                "bad_event",
                "event attribute 'extra.t[1]' holds a number JSON cannot carry (NaN, Infinity or out of range)",
            )
        ],
    )
