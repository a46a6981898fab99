"""Alert rules as typed models: one per rule type, joined on `type`, each with the fields its type
really has, each field checked by its annotated type (`alerts/rule_values.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from alerts.rule_values import (
    DEFAULT_BURN_WINDOWS,
    LABEL_RE,
    MATCH_KEYS,
    NAME_RE,
    OPS,
    TEMPLATE_FIELDS,
    Direction,
    Duration,
    Flag,
    Kind,
    Labels,
    Mads,
    Match,
    Metric,
    Number,
    Objective,
    Op,
    OptionalKind,
    RuleNames,
    Severity,
    Share,
    Texts,
    Weeks,
    Window,
    Windows,
    parse_duration,
    problems,
    template_problem,
)

__all__ = [
    "DEFAULT_BURN_WINDOWS", "LABEL_RE", "MATCH_KEYS", "NAME_RE", "OPS", "RULE_ADAPTER", "RULE_TYPES", "TEMPLATE_FIELDS",
    "AnomalyRule", "BurnRateRule", "ComparingRule", "DownRule", "PercentileRule", "RateRule", "Rule", "ThresholdRule",
    "WindowRule", "for_s", "parse_duration", "template_problem",
]  # fmt: skip


class _RuleBase(BaseModel):
    """What every rule has: who it applies to, how it pages and what it says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: OptionalKind = None
    severity: Severity
    # Flap damping: a firing alert whose condition clears stays firing this long; breaking again within
    # it continues the same incident instead of paging anew.
    keep_firing_for_s: Duration = Field(0.0, alias="keep_firing_for")
    enabled: Flag = True
    down: Flag = False  # while firing, the entity counts as down (topology roots, entity status)
    summary: Texts
    description: Texts = Field(default_factory=dict)
    labels: Labels = Field(default_factory=dict)
    # Rules whose firing alert on the same entity makes this one a symptom (suppressed, no page of its own).
    inhibited_by: RuleNames = ()
    match: Match = Field(default_factory=dict)
    _source: str = PrivateAttr("")

    def model_post_init(self, context: Any) -> None:
        self._source = context.get("source", "") if isinstance(context, dict) else ""

    @field_validator("inhibited_by")
    @classmethod
    def _not_itself(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("name") in value:
            raise problems(("", "a rule cannot inhibit itself"))
        return value

    @property
    def source(self) -> str:
        """The file the rule was read from."""
        return self._source

    @property
    def horizon_s(self) -> float:
        """How much recent history of a series this rule needs in memory."""
        return 0.0


class DownRule(_RuleBase):
    """An entity that stopped reporting (heartbeat) or said it is offline."""

    type: Literal["down"]
    kind: Kind
    down: Flag = True
    heartbeat_s: Window | None = Field(None, alias="heartbeat")

    @field_validator("down")
    @classmethod
    def _always_down(cls, value: bool) -> bool:
        return True

    @property
    def metric(self) -> None:
        """A down rule watches an entity's liveness, no metric."""
        return None


class _ComparingRule(_RuleBase):
    """A value compared with a threshold, with hysteresis and a `for`."""

    metric: Metric
    op: Op
    threshold: Number
    clear: Number | None = None  # hysteresis: a firing alert resolves only once this is crossed back
    for_s: Duration = Field(0.0, alias="for")

    @field_validator("clear")
    @classmethod
    def _healthy_side(cls, clear: float | None, info: ValidationInfo) -> float | None:
        op, threshold = info.data.get("op"), info.data.get("threshold")
        if clear is None or op is None or threshold is None:
            return clear
        if (op in (">", ">=") and clear > threshold) or (op in ("<", "<=") and clear < threshold):
            raise _clear_problem(f"must be on the healthy side of threshold {threshold:g} for op {op!r}")
        if op in ("==", "!="):
            raise _clear_problem(f"has no meaning with op {op!r}")
        return clear


def _clear_problem(message: str) -> PydanticCustomError:
    # Its own type: the loader reports it after every other problem of the rule, as it always has.
    return PydanticCustomError("rule_clear", "{message}", {"message": message, "problems": (("", message),)})


class ThresholdRule(_ComparingRule):
    type: Literal["threshold"]


class PercentileRule(_ComparingRule):
    type: Literal["percentile"]
    window_s: Window = Field(alias="window")
    quantile: Share

    @property
    def horizon_s(self) -> float:
        return self.window_s


class RateRule(_ComparingRule):
    type: Literal["rate"]
    window_s: Window = Field(alias="window")
    per_s: Window = Field(1.0, alias="per")
    counter: Flag = False

    @property
    def horizon_s(self) -> float:
        return self.window_s


class AnomalyRule(_RuleBase):
    """The newest value far from the same hour of past weeks (median and MAD)."""

    type: Literal["anomaly"]
    metric: Metric
    mads: Mads = 5.0
    min_history: Weeks = 4
    weeks: Weeks = 8
    min_deviation: Number = 0.0
    direction: Direction = "both"
    for_s: Duration = Field(0.0, alias="for")


class BurnRateRule(_RuleBase):
    """An SLO's error budget burning too fast over a long and a short window at once."""

    type: Literal["burn_rate"]
    metric: Metric
    objective: Objective
    bad_op: Op
    bad_threshold: Number
    windows: Windows = DEFAULT_BURN_WINDOWS

    @property
    def horizon_s(self) -> float:
        return max(long for long, _, _ in self.windows)


Rule = Annotated[
    ThresholdRule | DownRule | PercentileRule | RateRule | AnomalyRule | BurnRateRule, Field(discriminator="type")
]
RULE_TYPES = ("threshold", "down", "percentile", "rate", "anomaly", "burn_rate")
RULE_ADAPTER: TypeAdapter[Rule] = TypeAdapter(Rule)
ComparingRule = ThresholdRule | PercentileRule | RateRule
WindowRule = PercentileRule | RateRule | BurnRateRule


def for_s(rule: Rule) -> float:
    """How long a breach must last before the rule fires (rules without a `for` fire at once)."""
    return rule.for_s if isinstance(rule, ThresholdRule | PercentileRule | RateRule | AnomalyRule) else 0.0
