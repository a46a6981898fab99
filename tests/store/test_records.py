"""Dead-letter payloads shown as text: any bytes give printable text that maps back to the same bytes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ioc.store.records import escape_payload

_ESCAPE = re.compile(r"\\\\|\\x([0-9a-f]{2})|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})")


def _unescape(text: str) -> bytes:
    """The inverse of escape_payload: a doubled backslash is one, \\xNN a byte (an ASCII control below 80),
    \\uNNNN and \\UNNNNNNNN a character."""
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos : match.start()].encode("utf-8")
        if match.group(0) == "\\\\":
            out += b"\\"
        elif match.group(1) is not None:
            code = int(match.group(1), 16)
            out += bytes([code]) if code >= 0x80 else chr(code).encode("utf-8")
        else:
            out += chr(int(match.group(2) or match.group(3), 16)).encode("utf-8", "surrogatepass")
        pos = match.end()
    return bytes(out + text[pos:].encode("utf-8"))


@given(st.binary(max_size=300))
def test_any_bytes_become_printable_text(payload: bytes) -> None:
    text = escape_payload(payload)
    assert all(c.isprintable() or c in "\n\t" for c in text)


@given(st.binary(max_size=300))
def test_the_text_maps_back_to_the_bytes(payload: bytes) -> None:
    assert _unescape(escape_payload(payload)) == payload


@given(st.text(max_size=200))
def test_printable_text_is_shown_as_is(payload: str) -> None:
    if all(c.isprintable() and c != "\\" for c in payload):
        assert escape_payload(payload.encode("utf-8")) == payload


def test_examples() -> None:
    assert escape_payload('{"a": "Phú"}\x00'.encode() + b"\xff\\") == '{"a": "Phú"}\\x00\\xff\\\\'
    assert escape_payload("\u202eabc\n".encode()) == "\\u202eabc\n"  # a bidi override cannot reorder the page
    assert escape_payload(b"<script>") == "<script>"  # HTML escaping is the template's job (autoescape)
