"""The routes file: a pasted Alertmanager block parses; every error names its key, by exact message,
table-driven as Alertmanager's config tests are."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alerts.routes.config import RoutesError, parse_routes_text
from ioc.cli import app

GOOD = """
route:
  receiver: truc-ca
  group_by: [site]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"', 'agency="so-tttt"']
      receiver: zalo-so-tttt
      continue: true
    - matchers: ['kind=~"kiosk|link"']
      receiver: sms-ky-thuat
      mute_time_intervals: [dem]
receivers:
  - name: truc-ca
    webhook_configs: [{url: "https://oncall.example.gov.vn/hook", send_resolved: true}]
  - name: zalo-so-tttt
    zalo_configs: [{oa_access_token_file: /etc/ioc/zalo-token, refresh_token_file: /etc/ioc/zalo-refresh,
                    app_id: "1234567890", secret_key_file: /etc/ioc/zalo-secret, user_ids: ["8123456789"]}]
  - name: sms-ky-thuat
    sms_configs: [{preset: speedsms, phones: ["0912345678"], access_token_file: /etc/ioc/speedsms}]
time_intervals:
  - name: dem
    time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}], location: Asia/Ho_Chi_Minh}]
"""


def test_the_contract_example_parses():
    config = parse_routes_text(GOOD)
    assert config.route.receiver == "truc-ca" and config.route.group_wait == 30.0
    assert config.route.group_interval == 300.0 and config.route.repeat_interval == 4 * 3600.0
    first, second = config.route.routes
    assert [str(m) for m in first.matchers] == ['severity="critical"', 'agency="so-tttt"'] and first.continue_
    assert [str(m) for m in second.matchers] == ['kind=~"kiosk|link"']
    assert set(config.intervals()) == {"dem"}


def changed(path: str, value: object) -> str:
    """GOOD with the value at a dotted path (`route.routes.1.receiver`) replaced; None deletes it."""
    doc = yaml.safe_load(GOOD)
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: int | str = int(last) if last.isdigit() else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return yaml.safe_dump(doc, allow_unicode=True)


CASES = [
    ("route.routes.1.matchers", ['kind=~"kiosk|link"', 'severity="crit'],
     ["route.routes[1].matchers[1]: a value is either quoted whole or not at all"]),
    ("route.routes.1.matchers", ['kind=~"(kiosk"'],
     ["route.routes[1].matchers[0]: bad regex '(kiosk' in 'kind=~\"(kiosk\"': missing ), unterminated subpattern "
      "at position 0"]),
    ("route.routes.0.matchers", ["severity critical"],
     ["route.routes[0].matchers[0]: bad matcher 'severity critical': expected label=\"value\", label!=, label=~ "
      "or label!~"]),
    ("route.routes.0.receiver", "nobody", ["route.routes[0].receiver: undefined receiver 'nobody' used in route"]),
    ("route.routes.1.mute_time_intervals", ["ngay-le"],
     ["route.routes[1].mute_time_intervals[0]: undefined time interval 'ngay-le' used in route"]),
    ("route.group_wait", "30",
     ["route.group_wait: bad duration '30': expected a number and a unit, like 30s, 5m or 4h"]),
    ("route.group_interval", "0s", ["route.group_interval: group_interval cannot be zero"]),
    ("route.receiver", None, ["route.receiver: the root route needs a receiver"]),
    ("route.matchers", ['site="x"'], ["route.matchers: the root route must not have any matchers"]),
    ("route.continue", True, ["route.continue: cannot have continue in the root route"]),
    ("route.routes.0.recevier", "x", ["route.routes[0].recevier: unknown key"]),
    ("route.group_by", ["...", "site"],
     ["route.group_by: cannot have wildcard group_by (`...`) and other labels at the same time"]),
    ("receivers.1.name", "truc-ca", ["receivers[1].name: notification config name 'truc-ca' is not unique",
                                     "route.routes[0].receiver: undefined receiver 'zalo-so-tttt' used in route"]),
    ("receivers.0.webhook_configs", [{"send_resolved": True}], ["receivers[0].webhook_configs[0].url: is required"]),
    ("receivers.1.zalo_configs.0.oa_access_token", "abc",
     ["receivers[1].zalo_configs[0]: oa_access_token is a secret: write it in a file and name the file in "
      "oa_access_token_file"]),
    ("receivers.1.zalo_configs.0.user_ids", [],
     ["receivers[1].zalo_configs[0].user_ids: list should have at least 1 item after validation, not 0"]),
    ("receivers.2.sms_configs", [{"phones": ["0912345678"]}],
     ["receivers[2].sms_configs[0]: without a preset, url and body_template are required"]),
    ("receivers.2.sms_configs", [{"preset": "viettel", "phones": ["0912345678"]}],
     ["receivers[2].sms_configs[0].preset: input should be 'esms' or 'speedsms'"]),
    ("receivers.2.sms_configs", [{"preset": "esms", "phones": ["0912345678"]}],
     ["receivers[2].sms_configs[0]: preset esms needs api_key_file and secret_key_file"]),
    ("time_intervals.0.time_intervals", [{"times": [{"start_time": "22:00", "end_time": "21:00"}]}],
     ["time_intervals[0].time_intervals[0]: start_time 22:00 must be before end_time 21:00"]),
    ("time_intervals.0.time_intervals", [{"weekdays": ["thu-hai"]}],
     ["time_intervals[0].time_intervals[0]: bad weekday 'thu-hai'"]),
    ("time_intervals.0.time_intervals", [{"months": ["13"]}],
     ["time_intervals[0].time_intervals[0]: month 13 out of range 1..12"]),
    ("time_intervals.0.time_intervals", [{"location": "Asia/Hanoi_City"}],
     ["time_intervals[0].time_intervals[0]: unknown time zone 'Asia/Hanoi_City'"]),
]  # fmt: skip


CASES += [
    ("global", {"smtp_smarthost": "mail:25"},
     ["global: not read here: write smarthost, from and api_url in each receiver's configs"]),
    ("inhibit_rules", [{"source_matchers": ['alertname="link_down"']}],
     ["inhibit_rules: inhibition is in the alert rules (inhibited_by, and the inventory's depends_on)"]),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "problems"), CASES)
def test_every_error_names_its_key(path, value, problems):
    with pytest.raises(RoutesError) as caught:
        parse_routes_text(changed(path, value))
    assert caught.value.problems == problems


def test_all_problems_are_reported_together():
    text = changed("route.routes.0.receiver", "nobody").replace("group_wait: 30s", "group_wait: soon")
    with pytest.raises(RoutesError) as caught:
        parse_routes_text(text)
    assert caught.value.problems == [
        "route.group_wait: bad duration 'soon': expected a number and a unit, like 30s, 5m or 4h"
    ]  # pydantic's problems first; the references are checked once the file's shape is right


def test_ioc_routes_check(tmp_path: Path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(changed("route.routes.0.receiver", "nobody"), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["routes", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{good}: ok (3 receivers, 3 routes, 1 time interval)\n"
    result = runner.invoke(app, ["routes", "check", str(bad)])
    assert result.exit_code == 1
    assert (
        result.output
        == f"{bad}: invalid routes file\n  route.routes[0].receiver: undefined receiver 'nobody' used in route\n"
    )


def test_a_bad_routes_file_is_a_settings_problem_naming_the_variable(tmp_path: Path):
    from ioc.settings import SettingsError, load_settings

    bad = tmp_path / "routes.yaml"
    bad.write_text(changed("route.routes.0.receiver", "nobody"), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(alert_routes_file=bad)
    assert caught.value.problems == [
        "IOC_ALERT_ROUTES_FILE: route.routes[0].receiver: undefined receiver 'nobody' used in route"
    ]


@pytest.mark.parametrize(
    ("public_url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("https://ioc.thuathienhue.gov.vn", False),
        ("http://10.20.0.5:8000", False),
    ],
)
def test_a_loopback_public_url_is_noticed(public_url, loopback):
    from alerts.service import loopback_public_url
    from ioc.settings import load_settings

    assert loopback_public_url(load_settings(public_url=public_url)) is loopback


def test_without_a_routes_file_the_section_6_settings_are_one_route(tmp_path: Path, caplog):
    from alerts.receivers import load_delivery
    from ioc.settings import load_settings

    settings = load_settings(alert_webhook_urls="http://127.0.0.1:9/a,http://127.0.0.1:9/b", alert_group_wait_s=5,
                             alert_repeat_interval_s=3600, smtp_host="127.0.0.1", smtp_to="a@b.vn")  # fmt: skip
    delivery = load_delivery(settings)
    tree = delivery.tree
    assert (tree.receiver, tree.routes, tree.group_wait_s, tree.group_interval_s, tree.repeat_interval_s) == (
        "ioc",
        [],
        5.0,
        5.0,
        3600.0,
    )
    assert [i.notifier.name for i in delivery.receivers["ioc"]] == [
        "webhook:http://127.0.0.1:9/a", "webhook:http://127.0.0.1:9/b", "email",
    ]  # fmt: skip
    assert tree.group_labels({"site": "s", "agency": "a"}) == {"site": "s"}
    assert tree.group_labels({"agency": "a"}) == {"agency": "a"}
    # With a routes file those settings send nothing, and the log says so.
    routes = tmp_path / "routes.yaml"
    routes.write_text(GOOD, encoding="utf-8")
    delivery = load_delivery(load_settings(alert_routes_file=routes, alert_webhook_urls="http://127.0.0.1:9/a"))
    assert sorted(delivery.receivers) == ["sms-ky-thuat", "truc-ca", "zalo-so-tttt"]
    assert [r.getMessage() for r in caplog.records] == [
        f"IOC_ALERT_ROUTES_FILE is set, so IOC_ALERT_WEBHOOK_URLS send nothing: name them as receivers in {routes}"
    ]
