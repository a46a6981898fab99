"""The route tree means what Alertmanager's means: inheritance of the group settings, first match
unless `continue`, the parent when no child matches, anchored regexes, a missing label as ""."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.routes.config import parse_routes_text
from alerts.routes.matchers import parse_matcher
from alerts.routes.tree import build_tree

TREE = """
route:
  receiver: default
  group_by: [site]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: critical
      group_wait: 1s
      continue: true
      routes:
        - matchers: ['kind="link"']
          receiver: network
          group_by: [alertname]
    - matchers: ['agency=~"so-.*"']
      receiver: agencies
      repeat_interval: 1h
    - matchers: ['kind="kiosk"']
      receiver: kiosks
receivers: [{name: default}, {name: critical}, {name: network}, {name: agencies}, {name: kiosks}]
"""


def receivers(labels: dict[str, str]) -> list[str]:
    tree = build_tree(parse_routes_text(TREE).route)
    return [r.receiver for r in tree.match(labels)]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical", "kind": "link"}, ["network"]),  # deepest match; continue goes on to siblings
        ({"severity": "critical", "kind": "kiosk", "agency": "so-tttt"}, ["critical", "agencies"]),
        ({"severity": "warning", "kind": "kiosk", "agency": "so-tttt"}, ["agencies"]),  # first match stops
        ({"severity": "warning", "kind": "kiosk"}, ["kiosks"]),
        ({"severity": "warning", "kind": "service"}, ["default"]),  # nothing below matches: the parent
        ({"severity": "warning", "agency": "xa-so-1"}, ["default"]),  # regexes are anchored at both ends
    ],
)
def test_routes_as_alertmanager_walks_them(labels, expected):
    assert receivers(labels) == expected


def test_children_inherit_what_they_leave_out():
    tree = build_tree(parse_routes_text(TREE).route)
    critical, agencies, _kiosks = tree.routes
    (network,) = critical.routes
    assert (tree.group_wait_s, tree.group_interval_s, tree.repeat_interval_s) == (10.0, 300.0, 4 * 3600.0)
    assert (critical.group_by, critical.group_wait_s) == (("site",), 1.0)
    assert (network.group_by, network.group_wait_s, network.receiver) == (("alertname",), 1.0, "network")
    assert (agencies.repeat_interval_s, agencies.group_wait_s) == (3600.0, 10.0)
    assert network.key == '{}/{severity="critical"}/{kind="link"}'


@pytest.mark.parametrize(
    ("matcher", "labels", "hit"),
    [
        ('kind="kiosk"', {"kind": "kiosk"}, True),
        ("kind=kiosk", {"kind": "kiosk"}, True),  # Alertmanager takes unquoted values too
        ('kind!="kiosk"', {"kind": "link"}, True),
        ('site!="x"', {}, True),  # a missing label is the empty string
        ('site=""', {}, True),
        ('kind=~"kiosk|link"', {"kind": "link"}, True),
        ('kind=~"kiosk"', {"kind": "kiosk-2"}, False),
        ('kind!~"kiosk|link"', {"kind": "service"}, True),
        ('summary="Kiosk \\"01\\" mất kết nối"', {"summary": 'Kiosk "01" mất kết nối'}, True),
    ],
)
def test_matchers(matcher, labels, hit):
    assert parse_matcher(matcher).matches(labels) is hit


def _at(local: str, zone: str = "Asia/Ho_Chi_Minh") -> float:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone)).timestamp()


INTERVALS = """
route: {receiver: a}
receivers: [{name: a}]
time_intervals:
  - name: dem
    time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}],
                      location: Asia/Ho_Chi_Minh}]
  - name: gio-hanh-chinh
    time_intervals: [{weekdays: ["monday:friday"], times: [{start_time: "07:30", end_time: "17:00"}],
                      location: Asia/Ho_Chi_Minh}]
  - name: cuoi-thang
    time_intervals: [{days_of_month: ["-3:-1"], months: ["november:december"], years: ["2026"]}]
"""


@pytest.mark.parametrize(
    ("name", "when", "inside"),
    [
        ("dem", _at("2026-11-23 22:00"), True),
        ("dem", _at("2026-11-23 21:59"), False),
        ("dem", _at("2026-11-24 05:59"), True),
        ("gio-hanh-chinh", _at("2026-11-23 07:30"), True),  # a Monday
        ("gio-hanh-chinh", _at("2026-11-23 17:00"), False),  # the end is not in it
        ("gio-hanh-chinh", _at("2026-11-22 09:00"), False),  # a Sunday
        ("cuoi-thang", _at("2026-11-28 12:00", "UTC"), True),  # November has 30 days: the last three
        ("cuoi-thang", _at("2026-11-27 12:00", "UTC"), False),
        ("cuoi-thang", _at("2027-11-29 12:00", "UTC"), False),  # not in the years
    ],
)
def test_time_intervals(name, when, inside):
    intervals = parse_routes_text(INTERVALS).intervals()
    assert any(i.contains(when) for i in intervals[name]) is inside
