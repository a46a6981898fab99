"""Entity status rules on a fake clock: no store, no wall time."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ioc.status import (
    EntityFacts,
    MaintenanceWindow,
    Silence,
    StatusInputs,
    compute_statuses,
    heartbeat_s,
    matches,
    window_active,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=HCM).timestamp()  # a Monday, 10:00 local


def status_of(entity: EntityFacts, *others: EntityFacts, now: float = NOW, **extra) -> str:
    inputs = StatusInputs((entity, *others), **extra)
    return compute_statuses(inputs, now)[entity.ref]


def kiosk(ident: str = "k1", **kw) -> EntityFacts:
    kw.setdefault("site", "xa-a")
    kw.setdefault("agency", "so-tttt")
    return EntityFacts("kiosk", ident, **kw)


@pytest.mark.parametrize(
    ("interval", "expected"),
    [(None, 300.0), (10.0, 30.0), (60.0, 180.0), (100.0, 300.0), (3600.0, 300.0), (0.0, 300.0)],
)
def test_heartbeat_is_three_intervals_at_most_five_minutes(interval, expected):
    assert heartbeat_s(interval) == expected


def test_never_seen_is_unknown():
    assert status_of(kiosk()) == "unknown"


def test_recently_seen_is_ok():
    assert status_of(kiosk(last_seen=NOW - 20, interval_s=10)) == "ok"


def test_silent_past_heartbeat_is_down():
    assert status_of(kiosk(last_seen=NOW - 31, interval_s=10)) == "down"
    assert status_of(kiosk(last_seen=NOW - 30, interval_s=10)) == "ok"
    assert status_of(kiosk(last_seen=NOW - 299)) == "ok"
    assert status_of(kiosk(last_seen=NOW - 301)) == "down"


def test_offline_status_word_is_down_even_when_recently_seen():
    assert status_of(kiosk(last_seen=NOW - 1, mqtt_status="offline")) == "down"
    assert status_of(kiosk(mqtt_status="offline")) == "down"


def test_down_behind_a_down_dependency_is_unreachable():
    link = EntityFacts("link", "wan-a", last_seen=NOW - 600)
    k = kiosk(last_seen=NOW - 600, depends_on=("link/wan-a",))
    assert status_of(k, link) == "unreachable"
    assert status_of(link, k) == "down"


def test_dependency_up_means_down_not_unreachable():
    link = EntityFacts("link", "wan-a", last_seen=NOW - 5)
    k = kiosk(mqtt_status="offline", depends_on=("link/wan-a",))
    assert status_of(k, link) == "down"


def test_unreachable_is_transitive():
    core = EntityFacts("link", "core", mqtt_status="offline")
    wan = EntityFacts("link", "wan-a", last_seen=NOW - 600, depends_on=("link/core",))
    k = kiosk(last_seen=NOW - 600, depends_on=("link/wan-a",))
    statuses = compute_statuses(StatusInputs((core, wan, k)), NOW)
    assert statuses == {"link/core": "down", "link/wan-a": "unreachable", "kiosk/k1": "unreachable"}


def test_ok_entity_behind_down_link_stays_ok():
    link = EntityFacts("link", "wan-a", mqtt_status="offline")
    assert status_of(kiosk(last_seen=NOW, depends_on=("link/wan-a",)), link) == "ok"


def test_missing_dependency_and_cycles_do_not_break():
    a = kiosk("a", last_seen=NOW - 900, depends_on=("kiosk/b", "link/ghost"))
    b = kiosk("b", last_seen=NOW - 900, depends_on=("kiosk/a",))
    assert compute_statuses(StatusInputs((a, b)), NOW) == {"kiosk/a": "unreachable", "kiosk/b": "unreachable"}


def test_firing_warning_alert_degrades_but_down_wins():
    firing = frozenset({("kiosk", "k1")})
    assert status_of(kiosk(last_seen=NOW), firing=firing) == "degraded"
    assert status_of(kiosk(mqtt_status="offline"), firing=firing) == "down"


def test_active_silence_matching_labels_is_maintenance():
    silence = Silence({"site": "xa-a"}, NOW - 60, NOW + 60)
    assert status_of(kiosk(mqtt_status="offline"), silences=(silence,)) == "maintenance"
    assert status_of(kiosk(), silences=(silence,)) == "maintenance"


@pytest.mark.parametrize(
    "silence",
    [
        Silence({"site": "xa-b"}, NOW - 60, NOW + 60),  # other site
        Silence({"site": "xa-a", "alertname": "kiosk_down"}, NOW - 60, NOW + 60),  # an alert's, not ours
        Silence({"site": "xa-a"}, NOW + 1, NOW + 60),  # not started
        Silence({"site": "xa-a"}, NOW - 60, NOW),  # ended
        Silence({}, NOW - 60, NOW + 60),  # matches nothing
    ],
)
def test_silence_that_does_not_apply_leaves_status(silence):
    assert status_of(kiosk(mqtt_status="offline"), silences=(silence,)) == "down"


def test_silence_by_entity_kind_and_agency():
    silence = Silence({"kind": "kiosk", "entity": "k1", "agency": "so-tttt"}, NOW - 1, NOW + 1)
    assert status_of(kiosk(mqtt_status="offline"), silences=(silence,)) == "maintenance"
    assert status_of(kiosk("k2", mqtt_status="offline"), silences=(silence,)) == "down"


def window(weekdays=(1,), start=time(9, 30), duration_s=3600.0, **matchers) -> MaintenanceWindow:
    return MaintenanceWindow(matchers or {"kind": "kiosk"}, weekdays, start, duration_s)


def test_maintenance_window_in_local_time():
    assert window_active(window(), NOW)  # Monday 09:30-10:30 local covers 10:00
    assert not window_active(window(start=time(10, 0, 1)), NOW)
    assert not window_active(window(start=time(9, 0)), NOW)  # 09:00-10:00 ends exactly now
    assert not window_active(window(weekdays=(2,)), NOW)
    assert status_of(kiosk(mqtt_status="offline"), windows=(window(),)) == "maintenance"


def test_maintenance_window_across_midnight_and_days():
    # Sunday 22:00 for 13 hours reaches Monday 11:00.
    assert window_active(window(weekdays=(7,), start=time(22, 0), duration_s=13 * 3600), NOW)
    # Saturday 10:00 for 49 hours ends Monday 11:00.
    assert window_active(window(weekdays=(6,), start=time(10, 0), duration_s=49 * 3600), NOW)
    assert not window_active(window(weekdays=(6,), start=time(10, 0), duration_s=47 * 3600), NOW)


@given(
    matchers=st.dictionaries(st.sampled_from(["kind", "entity", "site", "agency", "x"]), st.text(max_size=3)),
    labels=st.dictionaries(st.sampled_from(["kind", "entity", "site", "agency"]), st.text(max_size=3)),
)
def test_matches_means_every_matcher_agrees(matchers, labels):
    expected = bool(matchers) and all(labels.get(k) == v for k, v in matchers.items())
    assert matches(matchers, labels) is expected
    if matches(matchers, labels):
        assert matches(matchers, {**labels, "other": "x"})


def test_up_zero_is_down_and_makes_dependents_unreachable():
    link = EntityFacts("link", "wan", last_seen=NOW - 1, up_zero=True)
    behind = kiosk(last_seen=NOW - 400, depends_on=("link/wan",))
    assert status_of(link, behind) == "down"
    assert status_of(behind, link) == "unreachable"


def test_one_off_window_intervals_and_recurring_ones_over_midnight():
    from ioc.status import OneOffWindow, window_intervals

    one_off = OneOffWindow({"entity": "k1"}, NOW - 100, NOW + 100)
    assert window_intervals(one_off, NOW, NOW + 1000) == [(NOW, NOW + 100)]
    assert status_of(kiosk(last_seen=NOW - 1), windows=(one_off,)) == "maintenance"
    sunday_night = MaintenanceWindow({"entity": "k1"}, (7,), time(22, 0), 4 * 3600.0)
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=HCM).timestamp()  # NOW's day, 00:00 local
    assert window_intervals(sunday_night, monday, monday + 86400) == [(monday, monday + 2 * 3600)]
    week = window_intervals(sunday_night, monday - 7 * 86400, monday)
    # The Sunday before the range spills into its first Monday; the last Sunday is cut at its end.
    assert week == [(monday - 7 * 86400, monday - 7 * 86400 + 2 * 3600), (monday - 2 * 3600, monday)]
