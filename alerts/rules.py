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

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ioc.model import KINDS, METRIC_RE, SEVERITIES

RULE_TYPES = ("threshold", "down", "percentile", "rate", "anomaly", "burn_rate")
OPS = (">", ">=", "<", "<=", "==", "!=")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
# Matched against the inventory's entry for the entity: one the inventory does not know matches only by `id`.
MATCH_KEYS = ("id", "kind", "site", "agency", "system")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

# Keys each type needs beyond the common ones, and the keys it accepts.
_COMMON = {
    "name", "kind", "type", "severity", "summary", "description", "labels", "match", "enabled", "down",
    "keep_firing_for", "inhibited_by",
}  # fmt: skip
_TYPE_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "threshold": ({"metric", "op", "threshold"}, {"clear", "for"}),
    "down": (set(), {"heartbeat"}),
    "percentile": ({"metric", "op", "threshold", "window", "quantile"}, {"clear", "for"}),
    "rate": ({"metric", "op", "threshold", "window"}, {"clear", "for", "per", "counter"}),
    "anomaly": ({"metric"}, {"mads", "min_history", "weeks", "min_deviation", "for", "direction"}),
    "burn_rate": ({"metric", "objective", "bad_op", "bad_threshold"}, {"windows"}),
}
DEFAULT_BURN_WINDOWS = ((3600.0, 300.0, 14.4), (21600.0, 1800.0, 6.0))


class RuleError(ValueError):
    """Every problem found in the rules, one line each: `file: rule NAME: key: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    severity: str
    source: str
    kind: str | None = None
    metric: str | None = None
    op: str = ">"
    threshold: float = 0.0
    clear: float | None = None  # hysteresis: a firing alert resolves only once this is crossed back
    for_s: float = 0.0
    window_s: float = 0.0
    quantile: float = 0.95
    per_s: float = 1.0
    counter: bool = False
    heartbeat_s: float | None = None
    mads: float = 5.0
    min_history: int = 4
    weeks: int = 8
    min_deviation: float = 0.0
    direction: str = "both"
    objective: float = 0.999
    bad_op: str = "<"
    bad_threshold: float = 1.0
    windows: tuple[tuple[float, float, float], ...] = DEFAULT_BURN_WINDOWS
    down: bool = False  # while firing, the entity counts as down (topology roots, entity status)
    # Flap damping: a firing alert whose condition clears stays firing this long; breaking again within
    # it continues the same incident instead of paging anew.
    keep_firing_for_s: float = 0.0
    # Rules whose firing alert on the same entity makes this one a symptom (suppressed, no page of its own).
    inhibited_by: tuple[str, ...] = ()
    summary: dict[str, str] = field(default_factory=dict)
    description: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    enabled: bool = True

    @property
    def horizon_s(self) -> float:
        """How much recent history of a series this rule needs in memory."""
        if self.type == "burn_rate":
            return max(long for long, _, _ in self.windows)
        return self.window_s


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90s`, `5m`, `1h`, `500ms`; raises ValueError with the reason."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30s, 5m or 1h, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value.strip())):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"must be a duration such as 30s, 5m or 1h, not {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a duration such as 30s, 5m or 1h, not {value!r}")
    return seconds


class _Check:
    def __init__(self, source: str, rule: str, raw: dict[str, Any], problems: list[str]):
        self.source, self.rule, self.raw, self.problems = source, rule, raw, problems

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: rule {self.rule}: {key}: {message}")

    def number(self, key: str, *, lo: float | None = None, hi: float | None = None) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(key, f"must be a finite number, not {value!r}")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(key, f"must be between {lo:g} and {hi:g}, not {value!r}")
            return None
        return float(value)

    def duration(self, key: str, *, positive: bool = False) -> float | None:
        if key not in self.raw:
            return None
        try:
            seconds = parse_duration(self.raw[key])
        except ValueError as exc:
            self.fail(key, str(exc))
            return None
        if positive and seconds <= 0:
            self.fail(key, "must be longer than 0s")
            return None
        return seconds

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if value not in options:
            self.fail(key, f"must be one of {', '.join(options)}, not {value!r}")
            return None
        return str(value)

    def boolean(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}")
            return None
        return value

    def texts(self, key: str) -> dict[str, str]:
        value = self.raw.get(key)
        if value is None:
            return {}
        if isinstance(value, str):
            value = {"vi": value, "en": value}
        if not isinstance(value, dict) or not value:
            self.fail(key, "must be a text or a mapping of language (vi, en) to text")
            return {}
        out: dict[str, str] = {}
        for lang, text in value.items():
            if lang not in ("vi", "en"):
                self.fail(f"{key}.{lang}", "unknown language (expected vi or en)")
            elif not isinstance(text, str) or not text.strip():
                self.fail(f"{key}.{lang}", "must be a non-empty text")
            elif (problem := template_problem(text)) is not None:
                self.fail(f"{key}.{lang}", problem)
            else:
                out[lang] = text
        return out


# Fields a summary or description may use, with sample values to try the template on.
TEMPLATE_FIELDS: dict[str, object] = {
    "name": "Kiosk",
    "entity": "kiosk-01",
    "kind": "kiosk",
    "site": "site",
    "site_name": "Site",
    "agency": "agency",
    "agency_name": "Agency",
    "metric": "cpu_pct",
    "value": 1.5,
    "threshold": 2.0,
    "rule": "rule",
    "labels": "",
    "window": "5m",
    "for": "1m",
}


def template_problem(text: str) -> str | None:
    try:
        text.format(**TEMPLATE_FIELDS)
    except KeyError as exc:
        return f"unknown field {{{exc.args[0]}}} (known: {', '.join(TEMPLATE_FIELDS)})"
    except (ValueError, IndexError, AttributeError) as exc:
        return f"bad template: {exc}"
    return None


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
    check = _Check(source, name, raw, problems)
    before = len(problems)
    rtype = raw.get("type")
    if rtype is None:
        check.fail("type", f"is required (one of {', '.join(RULE_TYPES)})")
        return None
    if rtype not in RULE_TYPES:
        check.fail("type", f"must be one of {', '.join(RULE_TYPES)}, not {rtype!r}")
        return None
    required, optional = _TYPE_KEYS[rtype]
    for key in sorted(raw):
        if key not in _COMMON | required | optional:
            check.fail(str(key), f"unknown key for a {rtype} rule")
    for key in sorted(required):
        if key not in raw:
            check.fail(key, f"is required for a {rtype} rule")
    kwargs: dict[str, Any] = {"name": name, "type": rtype, "source": source}

    kind = check.choice("kind", KINDS)
    if kind is None and rtype == "down" and "kind" not in raw:
        check.fail("kind", "is required for a down rule")
    kwargs["kind"] = kind
    kwargs["severity"] = check.choice("severity", SEVERITIES) or "warning"
    if "severity" not in raw:
        check.fail("severity", f"is required (one of {', '.join(SEVERITIES)})")
    metric = raw.get("metric")
    if metric is not None:
        if not isinstance(metric, str) or not METRIC_RE.match(metric):
            check.fail("metric", f"{metric!r} does not match {METRIC_RE.pattern}")
        else:
            kwargs["metric"] = metric
    for key in ("op", "bad_op"):
        if (op := check.choice(key, OPS)) is not None:
            kwargs[key] = op
    for key in ("threshold", "clear", "bad_threshold", "min_deviation"):
        if (number := check.number(key)) is not None:
            kwargs[key] = number
    if (quantile := check.number("quantile", lo=0.0, hi=1.0)) is not None:
        kwargs["quantile"] = quantile
    if (objective := check.number("objective", lo=0.0, hi=1.0)) is not None:
        if objective >= 1.0:
            check.fail("objective", "must be below 1 (a 100% objective leaves no error budget)")
        else:
            kwargs["objective"] = objective
    if (mads := check.number("mads", lo=0.5, hi=100.0)) is not None:
        kwargs["mads"] = mads
    for key, lo, hi in (("min_history", 1, 52), ("weeks", 1, 52)):
        value = raw.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                check.fail(key, f"must be a whole number of weeks between {lo} and {hi}, not {value!r}")
            else:
                kwargs[key] = value
    if (direction := check.choice("direction", ("up", "down", "both"))) is not None:
        kwargs["direction"] = direction
    if (for_s := check.duration("for")) is not None:
        kwargs["for_s"] = for_s
    if (window := check.duration("window", positive=True)) is not None:
        kwargs["window_s"] = window
    if (per := check.duration("per", positive=True)) is not None:
        kwargs["per_s"] = per
    if (heartbeat := check.duration("heartbeat", positive=True)) is not None:
        kwargs["heartbeat_s"] = heartbeat
    if (keep := check.duration("keep_firing_for")) is not None:
        kwargs["keep_firing_for_s"] = keep
    for key in ("counter", "enabled", "down"):
        if (flag := check.boolean(key)) is not None:
            kwargs[key] = flag
    if rtype == "down":
        kwargs["down"] = True
    if "windows" in raw:
        kwargs["windows"] = _parse_windows(check, raw["windows"])
    kwargs["summary"] = check.texts("summary")
    if "summary" not in raw:
        check.fail("summary", "is required (a text, or vi and en texts)")
    kwargs["description"] = check.texts("description")
    kwargs["labels"] = _parse_labels(check, raw.get("labels"))
    if "inhibited_by" in raw:
        kwargs["inhibited_by"] = _parse_inhibited_by(check, raw["inhibited_by"], name)
    kwargs["match"] = _parse_match(check, raw.get("match"))
    if "clear" in kwargs and "threshold" in kwargs and "op" in kwargs:
        op, threshold, clear = kwargs["op"], kwargs["threshold"], kwargs["clear"]
        if (op in (">", ">=") and clear > threshold) or (op in ("<", "<=") and clear < threshold):
            check.fail("clear", f"must be on the healthy side of threshold {threshold:g} for op {op!r}")
        if op in ("==", "!="):
            check.fail("clear", f"has no meaning with op {op!r}")
    if len(problems) > before:
        return None
    return Rule(**kwargs)


def _parse_windows(check: _Check, raw: object) -> tuple[tuple[float, float, float], ...]:
    if not isinstance(raw, list) or not raw:
        check.fail("windows", "must be a non-empty list of {long, short, factor}")
        return DEFAULT_BURN_WINDOWS
    out = []
    for i, entry in enumerate(raw):
        key = f"windows[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"long", "short", "factor"}:
            check.fail(key, "must be a mapping with exactly long, short and factor")
            continue
        try:
            long, short = parse_duration(entry["long"]), parse_duration(entry["short"])
        except ValueError as exc:
            check.fail(key, str(exc))
            continue
        factor = entry["factor"]
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < 1e6:
            check.fail(f"{key}.factor", f"must be a positive number, not {factor!r}")
            continue
        if not 0 < short < long:
            check.fail(key, "short must be longer than 0s and shorter than long")
            continue
        out.append((long, short, float(factor)))
    return tuple(out)


def _parse_inhibited_by(check: _Check, raw: object, name: str) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) and NAME_RE.match(v) for v in values):
        check.fail("inhibited_by", "must be a rule name or a non-empty list of rule names")
        return ()
    if name in values:
        check.fail("inhibited_by", "a rule cannot inhibit itself")
        return ()
    return tuple(values)


def _parse_labels(check: _Check, raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        check.fail("labels", "must be a mapping of label names to texts")
        return {}
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not LABEL_RE.match(key):
            check.fail(f"labels.{key}", f"label name does not match {LABEL_RE.pattern}")
        elif key in ("alertname", "severity", "kind", "entity", "site", "agency"):
            check.fail(f"labels.{key}", "is set by the engine and cannot be overridden")
        elif not isinstance(value, str):
            check.fail(f"labels.{key}", f"must be a text, not {value!r}")
        else:
            out[key] = value
    return out


def _parse_match(check: _Check, raw: object) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        check.fail("match", f"must be a mapping of {', '.join(MATCH_KEYS)} to a value or a list of values")
        return {}
    out = {}
    for key, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if key not in MATCH_KEYS:
            check.fail(f"match.{key}", f"unknown key (expected one of {', '.join(MATCH_KEYS)})")
        elif not values or not all(isinstance(v, str) and v for v in values):
            check.fail(f"match.{key}", "must be a text or a non-empty list of texts")
        else:
            out[str(key)] = tuple(values)
    return out


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
