"""The routes loader is fuzzed, as Alertmanager's is: whatever a file holds, the answer is a config or a
RoutesError listing problems that each name a key, never another exception."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_routes_config import GOOD

from alerts.routes.config import RoutesError, parse_routes_text

KEYS = st.sampled_from([
    "route", "receivers", "time_intervals", "receiver", "group_by", "group_wait", "group_interval",
    "repeat_interval", "matchers", "continue", "routes", "mute_time_intervals", "active_time_intervals", "name",
    "webhook_configs", "url", "sms_configs", "preset", "phones", "zalo_configs", "times", "start_time", "weekdays",
    "location", "x",
])  # fmt: skip
WORDS = ["30s", "5m", "0s", "abc", "22:00", "24:00", 'severity="critical"', 'kind=~"(k"', "monday:friday", "esms",
         "-1:1", "Asia/Ho_Chi_Minh", "..."]  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.sampled_from(WORDS), st.text(max_size=8))
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=25)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DOCS, max_size=4))
def test_any_document_parses_or_lists_its_problems(doc):
    try:
        parse_routes_text(yaml.safe_dump(doc, allow_unicode=True))
    except RoutesError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


GOOD_DOC = yaml.safe_load(GOOD)
PATHS = [p for p in _paths(GOOD_DOC) if p]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATHS), DOCS)
def test_the_contract_example_with_any_one_value_changed(path, value):
    doc = yaml.safe_load(yaml.safe_dump(GOOD_DOC))
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    try:
        parse_routes_text(yaml.safe_dump(doc, allow_unicode=True))
    except RoutesError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
