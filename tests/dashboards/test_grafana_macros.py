"""Grafana's PostgreSQL macros and template variables expand as Grafana's data source expands them
(its documentation and pkg/tsdb/grafana-postgresql-datasource/macros.go)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from dashboards import build_all
from dashboards.macros import Variable, dashboard_variables, expand_macros, interpolate, render_query, rfc3339_nano

START = datetime(2017, 4, 21, 5, 1, 17, tzinfo=UTC)
END = datetime(2017, 4, 21, 5, 6, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("WHERE $__timeFilter(ts)", "WHERE ts BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'"),
        ("$__timeFrom()", "'2017-04-21T05:01:17Z'"),
        ("$__timeTo()", "'2017-04-21T05:06:17Z'"),
        ("$__timeGroup(ts,'5m')", "floor(extract(epoch from ts)/300)*300"),
        ("$__timeGroup(ts, 1h)", "floor(extract(epoch from ts)/3600)*3600"),
        ("$__timeGroupAlias(x.bucket, '1m')", 'floor(extract(epoch from x.bucket)/60)*60 AS "time"'),
        ("$__timeGroup(ts,'500ms')", "floor(extract(epoch from ts)/0.5)*0.5"),
        ("$__time(ts)", 'ts AS "time"'),
        ("$__timeEpoch(ts)", 'extract(epoch from ts) AS "time"'),
        ("$__unixEpochFilter(t)", "t >= 1492750877 AND t <= 1492751177"),
        ("$__unixEpochFrom() $__unixEpochTo()", "1492750877 1492751177"),
    ],
)
def test_macros_as_grafana_documents_them(sql, expanded):
    assert expand_macros(sql, START, END) == expanded


def test_time_group_with_the_timescaledb_option():
    assert expand_macros("$__timeGroupAlias(ts, '5m')", START, END, timescaledb=True) == (
        "time_bucket('300.000s',ts) AS \"time\""
    )


def test_times_keep_their_fraction_as_go_prints_it():
    assert rfc3339_nano(datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)) == "2026-01-02T03:04:05.12Z"


def test_unknown_macros_are_refused():
    with pytest.raises(ValueError, match=r"undefined macro: \$__nope"):
        expand_macros("$__nope(x)", START, END)


def test_interval_variables():
    sql = "GROUP BY $__timeGroup(ts, $__interval) -- $__interval_ms"
    assert interpolate(sql, {}, "5m") == "GROUP BY $__timeGroup(ts, 5m) -- 300000"
    assert render_query(sql, START, END, interval="5m") == "GROUP BY floor(extract(epoch from ts)/300)*300 -- 300000"


def test_template_variables_single_multi_and_all():
    single = Variable("site", ["xa-a"], multi=False, include_all=False)
    assert interpolate("site = '$site'", {"site": single}, "1m") == "site = 'xa-a'"
    quote = Variable("site", ["o'brien"], multi=False, include_all=False)
    assert interpolate("site = '${site}'", {"site": quote}, "1m") == "site = 'o''brien'"
    multi = Variable("site", ["xa-a", "o'b"])
    assert interpolate("site IN (${site})", {"site": multi}, "1m") == "site IN ('xa-a','o''b')"
    # A single pick of a multi-value variable is quoted too.
    assert interpolate("site IN ($site)", {"site": Variable("site", ["xa-a"])}, "1m") == "site IN ('xa-a')"
    custom_all = Variable("site", Variable.ALL, all_value="'__all'")
    assert interpolate("site IN (${site})", {"site": custom_all}, "1m") == "site IN ('__all')"
    every = Variable("site", Variable.ALL, options=["xa-a", "xa-b"])
    assert interpolate("site IN (${site:sqlstring})", {"site": every}, "1m") == "site IN ('xa-a','xa-b')"
    with pytest.raises(ValueError, match=r"\$nope"):
        interpolate("$nope", {}, "1m")


def test_a_dashboard_variables_default_to_all():
    board = build_all()["ioc-overview"]
    variables = dashboard_variables(board, {"site": ["xa-phu-vang"]})
    assert variables["site"].render() == "'xa-phu-vang'"
    assert variables["agency"].render() == "'__all'"
    assert variables["console"].render() == "http://127.0.0.1:8000"


def test_the_filter_of_every_pick_is_valid_sql(dsn):
    """`x IN (${v}) OR '__all' IN (${v})` with each kind of pick, in PostgreSQL itself."""
    from dashboards.common import in_variable

    cases = {
        "All": (Variable("v", Variable.ALL, all_value="'__all'"), [None, "a", "b", "c"]),
        "one": (Variable("v", ["a"]), ["a"]),
        "two": (Variable("v", ["a", "b"]), ["a", "b"]),
    }
    with psycopg.connect(dsn) as conn:
        for name, (variable, expected) in cases.items():
            sql = interpolate(
                f"SELECT x FROM (VALUES (NULL::text), ('a'), ('b'), ('c')) t(x) WHERE {in_variable('x', 'v')}",
                {"v": variable},
                "1m",
            )
            got = [r[0] for r in conn.execute(sql)]  # type: ignore[call-overload]
            assert sorted(got, key=str) == sorted(expected, key=str), name
