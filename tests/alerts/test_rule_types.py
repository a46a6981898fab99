"""One model per rule type: each has the fields its type really has, and the loader picks it by `type`."""

from __future__ import annotations

import pytest
import yaml

from alerts.rule_types import (
    AnomalyRule,
    BurnRateRule,
    DownRule,
    PercentileRule,
    RateRule,
    ThresholdRule,
    for_s,
)
from alerts.rules import load_rules, parse_rules_text

COMMON = {"severity": "warning", "summary": "{name}"}


def one(**rule: object):
    rules, problems = parse_rules_text(yaml.safe_dump({"rules": [{"name": "r", **COMMON, **rule}]}), "r.yaml")
    return rules, problems


def test_each_shipped_rule_is_the_model_of_its_type():
    models = {
        "threshold": ThresholdRule, "down": DownRule, "percentile": PercentileRule, "rate": RateRule,
        "anomaly": AnomalyRule, "burn_rate": BurnRateRule,
    }  # fmt: skip
    for rule in load_rules():
        assert type(rule) is models[rule.type], rule.name
        assert rule.source.endswith(".yaml")


def test_a_type_has_only_its_own_fields():
    (down,), problems = one(type="down", kind="kiosk", down=False, heartbeat="2m")
    assert problems == []
    assert (down.down, down.heartbeat_s, down.metric, down.horizon_s, for_s(down)) == (True, 120.0, None, 0.0, 0.0)
    assert not hasattr(down, "threshold") and not hasattr(down, "window_s")
    (rate,), problems = one(type="rate", metric="queue_waiting", op=">", threshold=3, window="10m", counter=True)
    assert problems == []
    assert (rate.horizon_s, rate.per_s, rate.counter, for_s(rate)) == (600.0, 1.0, True, 0.0)
    assert not hasattr(rate, "quantile")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "threshold", "metric": None, "op": ">", "threshold": 1}, "metric: is required for a threshold rule"),
        ({"type": "down", "kind": None}, "kind: is required for a down rule"),
        ({"type": "down", "kind": "kiosk", "inhibited_by": None}, "inhibited_by: must be a rule name or a non-empty "
         "list of rule names"),
    ],
)  # fmt: skip
def test_a_null_is_an_absent_key_but_for_windows_and_inhibited_by(rule, message):
    assert one(**rule) == ([], [f"r.yaml: rule r: {message}"])
