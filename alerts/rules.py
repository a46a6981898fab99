"""Alert rules in YAML: the schema, the loader, and `check`, whose errors name file, rule and key.

A rule file is a mapping with one key, `rules`, a list of rules:

    rules:
      - name: link_loss
        kind: link
        type: threshold
        metric: loss_pct
        op: ">"
        threshold: 5
        clear: 2
        for: 2m
        severity: warning
        summary: {vi: "{name}: mất gói {value:.1f}%", en: "{name}: {value:.1f}% packet loss"}

Default rules ship in `alerts/rules/`; a rule of the same name in the user directory replaces the
default one, and `enabled: false` there switches it off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import ValidationError

from alerts.rule_types import (
    DEFAULT_BURN_WINDOWS,
    LABEL_RE,
    MATCH_KEYS,
    NAME_RE,
    OPS,
    RULE_ADAPTER,
    RULE_TYPES,
    TEMPLATE_FIELDS,
    AnomalyRule,
    BurnRateRule,
    DownRule,
    PercentileRule,
    RateRule,
    Rule,
    ThresholdRule,
    parse_duration,
    template_problem,
)
from ioc.model import SEVERITIES

__all__ = [
    "DEFAULT_BURN_WINDOWS", "LABEL_RE", "MATCH_KEYS", "NAME_RE", "OPS", "RULE_TYPES", "TEMPLATE_FIELDS",
    "AnomalyRule", "BurnRateRule", "DownRule", "PercentileRule", "RateRule", "Rule", "RuleError", "ThresholdRule",
    "check", "load_rules", "parse_duration", "parse_rule", "parse_rules_text", "read_rules_dir", "template_problem",
]  # fmt: skip

# A rule's problems in the order `ioc rules check` has always listed them: keys its type does not
# have, keys it needs, then key by key in this order, and last a `clear` on the wrong side.
_KEY_ORDER = (
    "kind", "severity", "metric", "op", "bad_op", "threshold", "clear", "bad_threshold", "min_deviation", "quantile",
    "objective", "mads", "min_history", "weeks", "direction", "for", "window", "per", "heartbeat", "keep_firing_for",
    "counter", "enabled", "down", "windows", "summary", "description", "labels", "inhibited_by", "match",
)  # fmt: skip
# A null is as good as an absent key, but for these two, which have always refused one.
_NULL_REFUSED = ("windows", "inhibited_by")
_REQUIRED = {
    "severity": f"is required (one of {', '.join(SEVERITIES)})",
    "summary": "is required (a text, or vi and en texts)",
}


class RuleError(ValueError):
    """Every problem found in the rules, one line each: `file: rule NAME: key: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_rule(raw: object, source: str, index: int, problems: list[str]) -> Rule | None:
    """One rule from its YAML mapping, or None after adding its problems to `problems`."""
    if not isinstance(raw, dict):
        problems.append(f"{source}: rule #{index + 1}: must be a mapping")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        label = f"#{index + 1}"
        if name is None:
            problems.append(f"{source}: rule {label}: name: is required")
        else:
            problems.append(f"{source}: rule {label}: name: {name!r} does not match {NAME_RE.pattern}")
        return None
    rtype = raw.get("type")
    if rtype is None:
        problems.append(f"{source}: rule {name}: type: is required (one of {', '.join(RULE_TYPES)})")
        return None
    if rtype not in RULE_TYPES:
        problems.append(f"{source}: rule {name}: type: must be one of {', '.join(RULE_TYPES)}, not {rtype!r}")
        return None
    unstorable = sorted(_unstorable(raw))
    if unstorable:
        # An alert's summary or labels with one would never be stored, so never paged.
        problems.extend(
            f"{source}: rule {name}: {key}: holds a NUL character or a lone surrogate" for key in unstorable
        )
        return None
    given = {key: value for key, value in raw.items() if value is not None or key in _NULL_REFUSED}
    try:
        return RULE_ADAPTER.validate_python(given, context={"source": source})
    except ValidationError as exc:
        found = sorted(_problems(exc, str(rtype)), key=lambda p: p[0])
        problems.extend(f"{source}: rule {name}: {key}: {message}" for _, key, message in found)
        return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: object, path: str = "") -> Iterator[str]:
    """Key paths of a rule whose key or text PostgreSQL cannot store."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                yield _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", where)
            else:
                yield from _unstorable(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unstorable(item, f"{path}[{i}]")
    elif isinstance(value, str) and _UNSTORABLE.search(value):
        yield path


def _problems(exc: ValidationError, rtype: str) -> Iterator[tuple[tuple[int, int, str], str, str]]:
    """(rank, key, message) of each problem pydantic found in a rule of type `rtype`."""
    for error in exc.errors():
        loc = error["loc"][1:]  # the first is the union's tag, the rule's type
        key = str(loc[0]) if loc else "type"
        position = _KEY_ORDER.index(key) if key in _KEY_ORDER else len(_KEY_ORDER)
        if error["type"] == "extra_forbidden":
            yield (0, 0, key), key, f"unknown key for a {rtype} rule"
        elif error["type"] == "missing" and key in _REQUIRED:
            yield (2, position, ""), key, _REQUIRED[key]
        elif error["type"] == "missing" and key == "kind":  # a down rule's: reported where kind is checked
            yield (2, position, ""), key, f"is required for a {rtype} rule"
        elif error["type"] == "missing":
            yield (1, 0, key), key, f"is required for a {rtype} rule"
        elif error["type"] in ("rule", "rule_clear"):
            rank = (3, 0, "") if error["type"] == "rule_clear" else (2, position, "")
            for where, message in error.get("ctx", {})["problems"]:
                yield rank, f"{key}{where}", message
        else:  # a check of pydantic's own, after ours passed: not expected, still reported by key
            yield (2, position, ""), key, error["msg"]


def parse_rules_text(text: str, source: str) -> tuple[list[Rule], list[str]]:
    """Rules of one file and the problems found; never raises for bad input."""
    problems: list[str] = []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        return [], [f"{source}: {where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]
    if doc is None:
        return [], []
    if not isinstance(doc, dict) or set(doc) != {"rules"}:
        return [], [f"{source}: top level: must be a mapping with one key, rules"]
    raw_rules = doc["rules"]
    if raw_rules is None:
        return [], []
    if not isinstance(raw_rules, list):
        return [], [f"{source}: rules: must be a list"]
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        rule = parse_rule(raw, source, i, problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"{source}: rule {rule.name}: name: duplicate of rule #{seen[rule.name] + 1}")
            continue
        seen[rule.name] = i
        rules.append(rule)
    return rules, problems


def _rule_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def read_rules_dir(directory: Path) -> tuple[list[Rule], list[str]]:
    """Rules of every *.yaml / *.yml file of a directory, and the problems found, names unique."""
    if not directory.exists():
        return [], [f"{directory}: no such directory"]
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    rules: list[Rule] = []
    problems: list[str] = []
    owner: dict[str, str] = {}
    try:
        paths = _rule_files(directory)
    except OSError as exc:
        return [], [f"{directory}: cannot read: {exc.strerror or exc}"]
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: cannot read: not UTF-8 text (byte {exc.start})")
            continue
        found, file_problems = parse_rules_text(text, str(path))
        problems.extend(file_problems)
        for rule in found:
            if rule.name in owner:
                problems.append(f"{path}: rule {rule.name}: name: already defined in {owner[rule.name]}")
                continue
            owner[rule.name] = str(path)
            rules.append(rule)
    return rules, problems


def default_rules_dir() -> Path:
    return Path(__file__).resolve().parent / "rules"


def load_rules(user_dir: Path | None = None) -> list[Rule]:
    """The default rules, replaced or extended by the user directory's; raises RuleError on any problem."""
    rules, problems = read_rules_dir(default_rules_dir())
    if user_dir is not None:
        user_rules, user_problems = read_rules_dir(user_dir)
        problems.extend(user_problems)
        by_name = {r.name: r for r in rules}
        for rule in user_rules:
            by_name[rule.name] = rule
        rules = list(by_name.values())
    problems.extend(_inhibition_problems(rules, {r.name for r in rules if r.enabled}))
    if problems:
        raise RuleError(problems)
    return [r for r in rules if r.enabled]


def _inhibition_problems(rules: list[Rule], enabled: set[str]) -> list[str]:
    return [
        f"{rule.source}: rule {rule.name}: inhibited_by: no enabled rule named {other!r}"
        for rule in rules
        if rule.enabled
        for other in rule.inhibited_by
        if other not in enabled
    ]


def check(directory: Path | None = None) -> tuple[list[Rule], list[str]]:
    """What `ioc rules check [DIR]` reports: the rules of DIR (default rules when None) and the problems.

    `inhibited_by` may name a shipped rule as well as one of DIR's."""
    rules, problems = read_rules_dir(directory or default_rules_dir())
    defaults = read_rules_dir(default_rules_dir())[0] if directory is not None else []
    by_name = {r.name: r for r in defaults} | {r.name: r for r in rules}
    problems.extend(_inhibition_problems(rules, {n for n, r in by_name.items() if r.enabled}))
    return rules, problems
