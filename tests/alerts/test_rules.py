"""Rule files: the shipped defaults load, every problem is reported naming file, rule and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alerts.rules import RuleError, check, load_rules, parse_duration, parse_rules_text
from ioc.cli import app
from ioc.model import OWN_METRICS, STANDARD_METRICS

GOOD = {
    "name": "link_loss",
    "kind": "link",
    "type": "threshold",
    "metric": "loss_pct",
    "op": ">",
    "threshold": 5,
    "clear": 2,
    "for": "2m",
    "severity": "warning",
    "summary": {"vi": "{name}: mất gói {value:.1f}%", "en": "{name}: {value:.1f}% loss"},
}


def rules_text(**changes: object) -> str:
    rule = {**GOOD, **changes}
    rule = {k: v for k, v in rule.items() if v is not None}
    return yaml.safe_dump({"rules": [rule]}, allow_unicode=True)


def test_default_rules_load_and_cover_the_standard_metrics():
    rules = load_rules()
    names = {r.name for r in rules}
    assert {
        "kiosk_down", "kiosk_printer_failed", "kiosk_paper_low", "link_loss", "link_latency", "link_down",
        "service_down", "service_slow", "tls_expiring", "dossiers_overdue_rising",
    } <= names  # fmt: skip
    for rule in rules:
        if rule.metric:
            kind = rule.kind or "service"
            assert rule.metric in STANDARD_METRICS[kind] + OWN_METRICS.get(kind, ()), rule.name
        assert rule.summary["vi"] and rule.summary["en"]
    types = {r.type for r in rules}
    assert types == {"threshold", "down", "percentile", "rate", "anomaly", "burn_rate"}
    slow = next(r for r in rules if r.name == "service_slow")
    assert (slow.quantile, slow.window_s, slow.threshold, slow.clear) == (0.95, 300.0, 3000.0, 2000.0)


def test_a_good_rule_parses():
    rules, problems = parse_rules_text(rules_text(), "r.yaml")
    assert problems == []
    (rule,) = rules
    assert (rule.name, rule.op, rule.threshold, rule.clear, rule.for_s) == ("link_loss", ">", 5.0, 2.0, 120.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "sideways"}, "r.yaml: rule link_loss: type: must be one of threshold, down, percentile, rate, "
         "anomaly, burn_rate, not 'sideways'"),
        ({"type": None}, "r.yaml: rule link_loss: type: is required (one of threshold, down, percentile, rate, "
         "anomaly, burn_rate)"),
        ({"op": "=>"}, "r.yaml: rule link_loss: op: must be one of >, >=, <, <=, ==, !=, not '=>'"),
        ({"threshold": "high"}, "r.yaml: rule link_loss: threshold: must be a finite number, not 'high'"),
        ({"threshold": None}, "r.yaml: rule link_loss: threshold: is required for a threshold rule"),
        ({"for": "2 minutes"}, "r.yaml: rule link_loss: for: must be a duration such as 30s, 5m or 1h, "
         "not '2 minutes'"),
        ({"clear": 9}, "r.yaml: rule link_loss: clear: must be on the healthy side of threshold 5 for op '>'"),
        ({"severity": "urgent"}, "r.yaml: rule link_loss: severity: must be one of info, warning, critical, "
         "not 'urgent'"),
        ({"kind": "printer"}, "r.yaml: rule link_loss: kind: must be one of kiosk, link, service, not 'printer'"),
        ({"metric": "Loss%"}, "r.yaml: rule link_loss: metric: 'Loss%' does not match ^[a-z_][a-z0-9_]{0,99}$"),
        ({"window": "5m"}, "r.yaml: rule link_loss: window: unknown key for a threshold rule"),
        ({"summary": {"vi": "{name} {missing}"}}, "r.yaml: rule link_loss: summary.vi: unknown field {missing} "
         "(known: name, entity, kind, site, site_name, agency, agency_name, metric, value, threshold, rule, "
         "labels, window, for)"),
        ({"summary": {"fr": "x"}}, "r.yaml: rule link_loss: summary.fr: unknown language (expected vi or en)"),
        ({"labels": {"site": "x"}}, "r.yaml: rule link_loss: labels.site: is set by the engine and cannot be "
         "overridden"),
        ({"match": {"colour": "red"}}, "r.yaml: rule link_loss: match.colour: unknown key (expected one of id, kind, "
         "site, agency, system)"),
        ({"name": "Link Loss"}, "r.yaml: rule #1: name: 'Link Loss' does not match ^[a-z][a-z0-9_]{0,62}$"),
        ({"name": None}, "r.yaml: rule #1: name: is required"),
        ({"inhibited_by": "link_loss"}, "r.yaml: rule link_loss: inhibited_by: a rule cannot inhibit itself"),
        ({"inhibited_by": [3]}, "r.yaml: rule link_loss: inhibited_by: must be a rule name or a non-empty list of "
         "rule names"),
        ({"keep_firing_for": "-3m"}, "r.yaml: rule link_loss: keep_firing_for: must be a duration such as 30s, "
         "5m or 1h, not '-3m'"),
        ({"type": "percentile", "quantile": 1.5, "window": "5m"}, "r.yaml: rule link_loss: quantile: must be "
         "between 0 and 1, not 1.5"),
        ({"type": "burn_rate", "op": None, "threshold": None, "clear": None, "for": None, "objective": 1,
          "bad_op": "<", "bad_threshold": 1}, "r.yaml: rule link_loss: objective: must be below 1 (a 100% "
         "objective leaves no error budget)"),
    ],
)  # fmt: skip
def test_rule_errors_name_file_rule_and_key(changes, message):
    rules, problems = parse_rules_text(rules_text(**changes), "r.yaml")
    assert rules == []
    assert message in problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "r.yaml: line 1, column 9: not valid YAML: expected the node content, but found '<stream end>'"),
        ("- a\n- b\n", "r.yaml: top level: must be a mapping with one key, rules"),
        ("rules: 3\n", "r.yaml: rules: must be a list"),
        ("rules: [3]\n", "r.yaml: rule #1: must be a mapping"),
    ],
)
def test_file_level_errors(text, message):
    assert parse_rules_text(text, "r.yaml") == ([], [message])


def test_duplicates_are_named_within_and_across_files(tmp_path: Path):
    two = yaml.safe_dump({"rules": [GOOD, GOOD]}, allow_unicode=True)
    (tmp_path / "a.yaml").write_text(two, encoding="utf-8")
    (tmp_path / "b.yml").write_text(rules_text(), encoding="utf-8")
    rules, problems = check(tmp_path)
    assert [r.name for r in rules] == ["link_loss"]
    assert problems == [
        f"{tmp_path / 'a.yaml'}: rule link_loss: name: duplicate of rule #1",
        f"{tmp_path / 'b.yml'}: rule link_loss: name: already defined in {tmp_path / 'a.yaml'}",
    ]


def test_user_rules_replace_and_disable_defaults(tmp_path: Path):
    text = yaml.safe_dump(
        {"rules": [{**GOOD, "threshold": 9, "clear": 3}, {**GOOD, "name": "link_latency", "enabled": False}]}
    )
    (tmp_path / "mine.yaml").write_text(text, encoding="utf-8")
    rules = {r.name: r for r in load_rules(tmp_path)}
    assert rules["link_loss"].threshold == 9.0
    assert "link_latency" not in rules and "kiosk_down" in rules


def test_load_rules_raises_with_every_problem(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(rules_text(op="=>", severity="urgent"), encoding="utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    assert info.value.problems == [
        f"{tmp_path / 'bad.yaml'}: rule link_loss: severity: must be one of info, warning, critical, not 'urgent'",
        f"{tmp_path / 'bad.yaml'}: rule link_loss: op: must be one of >, >=, <, <=, ==, !=, not '=>'",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), (90, 90.0), ("30s", 30.0), ("5m", 300.0), ("1.5h", 5400.0), ("500ms", 0.5)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_keep_firing_for_is_parsed_and_set_on_the_shipped_down_rules():
    (rule,), problems = parse_rules_text(rules_text(keep_firing_for="90s"), "r.yaml")
    assert problems == [] and rule.keep_firing_for_s == 90.0
    shipped = {r.name: r.keep_firing_for_s for r in load_rules() if r.down}
    assert shipped == {
        "kiosk_down": 180.0, "link_down": 180.0, "link_no_data": 180.0, "service_down": 180.0, "service_no_data": 180.0,
    }  # fmt: skip


def test_inhibited_by_must_name_an_enabled_rule(tmp_path: Path):
    (tmp_path / "r.yaml").write_text(rules_text(inhibited_by=["link_latency", "link_jitter"]), encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'r.yaml'}: rule link_loss: inhibited_by: no enabled rule named 'link_jitter'"
    ]
    rules, problems = check(tmp_path)  # `ioc rules check DIR` knows the shipped rules' names too
    assert [r.name for r in rules] == ["link_loss"]
    assert problems == [f"{tmp_path / 'r.yaml'}: rule link_loss: inhibited_by: no enabled rule named 'link_jitter'"]
    shipped = {r.name: r.inhibited_by for r in load_rules() if r.inhibited_by}
    assert shipped == {"link_loss": ("link_latency",), "link_latency": ("link_loss",)}


def test_cli_rules_check(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "default rules: ok (" in result.output
    (tmp_path / "bad.yaml").write_text(rules_text(op="=>"), encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}: rule link_loss: op: must be one of >, >=, <, <=, ==, !=, not '=>'" in (
        result.stderr
    )


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)  # fmt: skip
_keys = st.sampled_from(
    [*GOOD, "window", "quantile", "objective", "windows", "labels", "match", "per", "mads", "keep_firing_for"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=8))
def test_loader_never_crashes_on_mutated_rules(changes):
    text = yaml.safe_dump({"rules": [{**GOOD, **changes}]}, allow_unicode=True)
    rules, problems = parse_rules_text(text, "fuzz.yaml")
    assert len(rules) + (1 if problems else 0) >= 1
    assert all(p.startswith("fuzz.yaml: ") for p in problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_loader_never_crashes_on_arbitrary_text(text):
    rules, problems = parse_rules_text(text, "fuzz.yaml")
    assert all(p.startswith("fuzz.yaml") for p in problems)
    assert all(r.source == "fuzz.yaml" for r in rules)
