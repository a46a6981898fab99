"""The routes loader is fuzzed, as Alertmanager's is: whatever a file holds, bytes or YAML, the answer is a
config or a RoutesError listing problems that each name a key (or the file, for one that is not YAML or
not a mapping), never another exception."""

from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_routes_config import GOOD

from alerts.routes.config import RoutesError, load_routes, parse_routes_text

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


# A problem starts with the key it is about (`route.routes[1].matchers[0]: ...`), or with the file's name.
_NAME = r"""([A-Za-z0-9_\-]+|'[^']*'|"[^"]*")"""  # a plain key, or one shown with repr()
KEY_PLACE = re.compile(rf"^({_NAME}|\[[^\]]*\])(\[\d+\]|\.{_NAME})*: \S")


def assert_named(exc: RoutesError, source: str = "routes") -> None:
    assert exc.problems
    for problem in exc.problems:
        assert problem.startswith(f"{source}: ") or KEY_PLACE.match(problem), problem


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DOCS, max_size=4))
def test_any_document_parses_or_lists_its_problems(doc):
    try:
        parse_routes_text(yaml.safe_dump(doc, allow_unicode=True))
    except RoutesError as exc:
        assert_named(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.sampled_from([b"\xff\xfe", b"route:\n  \x00", b"route: [&a [*a]]", b""]))
def test_any_bytes_in_a_routes_file_are_a_routes_error_naming_it(tmp_path, data):
    path = tmp_path / "routes.yaml"
    path.write_bytes(data)
    try:
        load_routes(path)
    except RoutesError as exc:
        assert_named(exc, str(path))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_lists_its_problems(text):
    try:
        parse_routes_text(text)
    except RoutesError as exc:
        assert_named(exc)


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
        assert_named(exc)
