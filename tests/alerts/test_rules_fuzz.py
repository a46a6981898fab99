"""The rule loader fuzzed: whatever bytes or YAML a rule file holds, the answer is rules or problems, each
naming the file, then the rule (by name or position) or the place in the file, never an exception."""

from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rules import GOOD

from alerts.rules import read_rules_dir

UNSTORABLE = re.compile(r"\\x00|\\ud[89a-f]")  # in repr()
PLACE = re.compile(r"^(rule (#\d+|\S+)|line \d+, column \d+|YAML|top level|rules|cannot read)(: |$)")
KEYS = st.sampled_from([*GOOD, "rules", "window", "quantile", "objective", "windows", "labels", "match", "per",
                        "mads", "keep_firing_for", "inhibits", "x"])  # fmt: skip
hostile_text = st.text(max_size=12) | st.sampled_from(["\x00", "\ud800", "x" * 3000, "5m", "-1s", "1e400", "{"])
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | hostile_text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS | hostile_text,
                      inner, max_size=4), max_leaves=15)  # fmt: skip
documents = (
    st.dictionaries(KEYS, values, max_size=8).map(lambda changes: {"rules": [{**GOOD, **changes}]})
    | st.lists(values, max_size=3).map(lambda rules: {"rules": rules})
    | values
)


def check(problems: list[str], source: str) -> None:
    for problem in problems:
        assert problem.startswith(f"{source}: "), problem
        assert PLACE.match(problem.removeprefix(f"{source}: ")), problem


def _dump(doc: object) -> str:
    # allow_unicode=False: NUL and lone surrogates go in as YAML escapes, which the loader turns back into them
    return yaml.safe_dump(doc, allow_unicode=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_any_yaml_document_gives_rules_or_named_problems(tmp_path, doc):
    (tmp_path / "fuzz.yaml").write_text(_dump(doc), encoding="utf-8")
    rules, problems = read_rules_dir(tmp_path)
    check(problems, str(tmp_path / "fuzz.yaml"))
    assert all(r.source == str(tmp_path / "fuzz.yaml") for r in rules)
    for rule in rules:  # what a rule puts into an alert can be stored
        assert not UNSTORABLE.search(repr(rule.model_dump())), rule


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.sampled_from([b"\xff\xfe", b"rules:\n  - \x00", b"\x00\x00", b"rules: [&a [*a]]"]))
def test_any_bytes_in_a_rule_file_give_named_problems(tmp_path, data):
    (tmp_path / "fuzz.yaml").write_bytes(data)
    _, problems = read_rules_dir(tmp_path)
    check(problems, str(tmp_path / "fuzz.yaml"))


def test_a_summary_or_label_that_cannot_be_stored_is_named(tmp_path):
    doc = {"rules": [{**GOOD, "summary": {"vi": "x\x00", "en": "y"}, "labels": {"team": "\ud800"}}]}
    (tmp_path / "r.yaml").write_text(_dump(doc), encoding="utf-8")
    assert read_rules_dir(tmp_path) == ([], [
        f"{tmp_path / 'r.yaml'}: rule link_loss: labels.team: holds a NUL character or a lone surrogate",
        f"{tmp_path / 'r.yaml'}: rule link_loss: summary.vi: holds a NUL character or a lone surrogate",
    ])  # fmt: skip
