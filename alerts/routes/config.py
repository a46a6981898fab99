"""The routes file parsed with pydantic models; every problem reported at once, each naming its key
as `route.routes[1].matchers[0]: ...`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.routes.durations import parse_duration
from alerts.routes.matchers import Matcher, parse_matcher
from alerts.routes.time_intervals import MONTHS, WEEKDAYS, TimeInterval, TimeRange, parse_clock, parse_range
from ioc.model import check_timezone


class RoutesError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _duration(value: object) -> float:
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]

# Keys that would put a secret in the routes file, and the `*_file` key to use instead.
SECRET_KEYS = {
    "bot_token": "bot_token_file",
    "auth_password": "auth_password_file",
    "auth_secret": "auth_password_file",
    "oa_access_token": "oa_access_token_file",
    "access_token": "access_token_file",
    "refresh_token": "refresh_token_file",
    "secret_key": "secret_key_file",
    "api_key": "api_key_file",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, instead in SECRET_KEYS.items():
                if key in data and instead in cls.model_fields:
                    raise ValueError(f"{key} is a secret: write it in a file and name the file in {instead}")
        return data


class WebhookConfig(_Strict):
    url: str
    send_resolved: bool = True
    max_alerts: int = Field(0, ge=0)


class AlertmanagerConfig(_Strict):
    url: str


class EmailConfig(_Strict):
    to: str
    from_: str = Field("ioc@localhost", alias="from")
    smarthost: str
    auth_username: str | None = None
    auth_password_file: str | None = None
    require_tls: bool = True  # Alertmanager's default: STARTTLS
    send_resolved: bool = False  # Alertmanager's default for e-mail

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"smarthost {value!r} must be host:port")
        return value


class TelegramConfig(_Strict):
    bot_token_file: str
    chat_id: int | str
    api_url: str = "https://api.telegram.org"
    send_resolved: bool = True


class ZaloConfig(_Strict):
    oa_access_token_file: str
    refresh_token_file: str
    app_id: str
    secret_key_file: str
    user_ids: list[str] = Field(min_length=1)
    api_url: str = "https://openapi.zalo.me"
    oauth_url: str = "https://oauth.zaloapp.com"
    send_resolved: bool = True


class SmsConfig(_Strict):
    preset: Literal["esms", "speedsms"] | None = None
    url: str | None = None
    method: Literal["POST", "PUT", "GET"] | None = None
    headers: dict[str, str] = {}
    body_template: dict[str, Any] | str | None = None
    phones: list[str] = Field(min_length=1)
    max_chars: int = Field(160, ge=20, le=1600)
    unicode: bool = False
    brandname: str = ""
    api_key_file: str | None = None
    secret_key_file: str | None = None
    access_token_file: str | None = None
    send_resolved: bool = True

    @model_validator(mode="after")
    def _complete(self) -> SmsConfig:
        if self.preset is None and (self.url is None or self.body_template is None):
            raise ValueError("without a preset, url and body_template are required")
        if self.preset == "esms" and (self.api_key_file is None or self.secret_key_file is None):
            raise ValueError("preset esms needs api_key_file and secret_key_file")
        if self.preset == "speedsms" and self.access_token_file is None:
            raise ValueError("preset speedsms needs access_token_file")
        return self


class ReceiverConfig(_Strict):
    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = []
    alertmanager_configs: list[AlertmanagerConfig] = []
    email_configs: list[EmailConfig] = []
    telegram_configs: list[TelegramConfig] = []
    zalo_configs: list[ZaloConfig] = []
    sms_configs: list[SmsConfig] = []


def _matchers(value: object) -> object:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("must be a list of matchers, like ['severity=\"critical\"']")
    return value


def _one_matcher(item: object) -> Matcher:
    if isinstance(item, Matcher):
        return item
    if not isinstance(item, str):
        raise ValueError(f"a matcher is a string like 'severity=\"critical\"', not {item!r}")
    return parse_matcher(item)


MatcherItem = Annotated[Matcher, BeforeValidator(_one_matcher)]


class RouteConfig(_Strict):
    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    matchers: Annotated[list[MatcherItem], BeforeValidator(_matchers)] = []
    match: dict[str, str] = {}  # deprecated in Alertmanager, still accepted there
    match_re: dict[str, str] = {}
    continue_: bool = Field(False, alias="continue")
    routes: list[RouteConfig] = []
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, arbitrary_types_allowed=True)

    @field_validator("group_interval")
    @classmethod
    def _not_zero(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("group_interval cannot be zero")
        return value

    @field_validator("repeat_interval")
    @classmethod
    def _repeat_not_zero(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("repeat_interval cannot be zero")
        return value

    def all_matchers(self) -> tuple[Matcher, ...]:
        extra = [parse_matcher(f'{k}="{v}"') for k, v in sorted(self.match.items())]
        extra += [parse_matcher(f'{k}=~"{v}"') for k, v in sorted(self.match_re.items())]
        return (*self.matchers, *extra)


class TimeRangeConfig(_Strict):
    start_time: str
    end_time: str


class TimeIntervalSpec(_Strict):
    times: list[TimeRangeConfig] = []
    weekdays: list[str] = []
    days_of_month: list[str] = []
    months: list[str] = []
    years: list[str] = []
    location: str = "UTC"

    @field_validator("weekdays", "days_of_month", "months", "years", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        return [str(v) for v in value] if isinstance(value, list) else value

    def build(self) -> TimeInterval:
        times = []
        for r in self.times:
            start, end = parse_clock(r.start_time), parse_clock(r.end_time)
            if start >= end:
                raise ValueError(f"start_time {r.start_time} must be before end_time {r.end_time}")
            times.append(TimeRange(start, end))
        check_timezone(self.location) if self.location != "Local" else None
        return TimeInterval(
            times=tuple(times),
            weekdays=tuple(parse_range(w, WEEKDAYS, 0, 6, "weekday") for w in self.weekdays),
            days_of_month=tuple(parse_range(d, None, -31, 31, "day of month") for d in self.days_of_month),
            months=tuple(parse_range(m, MONTHS, 1, 12, "month") for m in self.months),
            years=tuple(parse_range(y, None, 1, 9999, "year") for y in self.years),
            location=self.location,
        )


class NamedTimeInterval(_Strict):
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpec]


class RoutesConfig(_Strict):
    route: RouteConfig
    receivers: list[ReceiverConfig]
    time_intervals: list[NamedTimeInterval] = []
    mute_time_intervals: list[NamedTimeInterval] = []  # the older name, still accepted by Alertmanager

    def intervals(self) -> dict[str, tuple[TimeInterval, ...]]:
        return {
            n.name: tuple(s.build() for s in n.time_intervals)
            for n in (*self.time_intervals, *self.mute_time_intervals)
        }

    def receiver(self, name: str) -> ReceiverConfig:
        return next(r for r in self.receivers if r.name == name)


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-\[\]]+$")


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (
            part.startswith("function-") or part in ("str", "int", "dict[str,any]", "literal['esms','speedsms']")
        ):
            if not _PLAIN_KEY.match(part):
                part = repr(part)  # a key of spaces, colons or controls, shown so it can be found
            out += f".{part}" if out else part
    return out


def _message(error: dict[str, Any]) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg[0].lower() + msg[1:] if msg else msg


def _check_tree(config: RoutesConfig) -> list[str]:
    """What pydantic cannot see: names that refer to receivers and time intervals, the root's rules."""
    problems: list[str] = []
    receivers = [r.name for r in config.receivers]
    for i, name in enumerate(receivers):
        if name in receivers[:i]:
            problems.append(f"receivers[{i}].name: notification config name {name!r} is not unique")
    intervals: dict[str, str] = {}
    for key, named in (("time_intervals", config.time_intervals), ("mute_time_intervals", config.mute_time_intervals)):
        for i, interval in enumerate(named):
            if interval.name in intervals:
                problems.append(f"{key}[{i}].name: time interval {interval.name!r} is not unique")
            intervals[interval.name] = key
            for j, spec in enumerate(interval.time_intervals):
                try:
                    spec.build()
                except ValueError as exc:
                    problems.append(f"{key}[{i}].time_intervals[{j}]: {exc}")
    root = config.route
    if root.receiver is None:
        problems.append("route.receiver: the root route needs a receiver")
    if root.all_matchers():
        problems.append("route.matchers: the root route must not have any matchers")
    if root.continue_:
        problems.append("route.continue: cannot have continue in the root route")
    if root.mute_time_intervals or root.active_time_intervals:
        problems.append("route: the root route cannot have mute or active time intervals")

    def walk(route: RouteConfig, path: str) -> None:
        if route.receiver is not None and route.receiver not in receivers:
            problems.append(f"{path}.receiver: undefined receiver {route.receiver!r} used in route")
        for key in ("mute_time_intervals", "active_time_intervals"):
            for i, name in enumerate(getattr(route, key)):
                if name not in intervals:
                    problems.append(f"{path}.{key}[{i}]: undefined time interval {name!r} used in route")
        if route.group_by and "..." in route.group_by and len(route.group_by) > 1:
            problems.append(f"{path}.group_by: cannot have wildcard group_by (`...`) and other labels at the same time")
        for key, mapping in (("match_re", route.match_re),):
            for label, regex in mapping.items():
                try:
                    parse_matcher(f'{label}=~"{regex}"')
                except ValueError as exc:
                    problems.append(f"{path}.{key}.{label}: {exc}")
        for i, child in enumerate(route.routes):
            walk(child, f"{path}.routes[{i}]")

    walk(root, "route")
    return problems


def parse_routes_text(text: str, source: str = "routes") -> RoutesConfig:
    """A routes file's text as a RoutesConfig; RoutesError listing every problem otherwise."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutesError([f"{source}: not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise RoutesError([f"{source}: expected a mapping with route and receivers"])
    # Parts of an Alertmanager file that are not routing: said plainly rather than "unknown key".
    elsewhere = {
        "global": "not read here: write smarthost, from and api_url in each receiver's configs",
        "templates": "not read here: messages are composed by ioc (in Vietnamese or English, IOC_LANGUAGE)",
        "inhibit_rules": "inhibition is in the alert rules (inhibited_by, and the inventory's depends_on)",
    }
    unread = [f"{key}: {why}" for key, why in elsewhere.items() if key in raw]
    if unread:
        raise RoutesError(unread)
    try:
        config = RoutesConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _loc(error["loc"])
            problems.append(f"{where}: {_message(dict(error))}" if where else _message(dict(error)))
        raise RoutesError(sorted(dict.fromkeys(problems))) from None
    problems = _check_tree(config)
    if problems:
        raise RoutesError(problems)
    return config


def load_routes(path: Path | str) -> RoutesConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesError([f"{path}: cannot read it: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise RoutesError([f"{path}: cannot read it: not UTF-8 text (byte {exc.start})"]) from None
    return parse_routes_text(text, str(path))
