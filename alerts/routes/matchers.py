"""Alertmanager's label matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"` (regexes anchored)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A missing label is the empty string, as in Alertmanager.
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(got) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body = text[1:-1]
        out, i = [], 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                i += 2
                continue
            if body[i] == '"':
                raise ValueError("unescaped double quote inside the value")
            out.append(body[i])
            i += 1
        return "".join(out)
    if '"' in text:
        raise ValueError("a value is either quoted whole or not at all")
    return text


def parse_matcher(text: str) -> Matcher:
    """One matcher as Alertmanager writes it; ValueError saying what is wrong."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f'bad matcher {text!r}: expected label="value", label!=, label=~ or label!~')
    name, op, raw = found.groups()
    value = _unquote(raw)
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)  # used with fullmatch: anchored at both ends, as Alertmanager anchors
        except re.error as exc:
            raise ValueError(f"bad regex {value!r} in {text!r}: {exc}") from None
    return Matcher(name, op, value, regex)


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
