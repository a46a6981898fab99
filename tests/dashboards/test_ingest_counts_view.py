"""ioc_views.ingest_counts (the wall's samples stored per second) gives what the rollups summed give: from
the hours the upkeep counted in `ingest_hourly`, a marked day live again, and the rest from the rollups."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import psycopg
from dash_province import HOUR

from ioc.store.ingest_hourly import refresh_ingest_hours

DAY = 86400.0
INVENTORY = """
entities:
  - {kind: service, id: portal, name: "Cổng", interval_s: 60}
  - {kind: link, id: wan-a, name: "Đường truyền A", interval_s: 60}
"""


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def counts(dsn: str, start: float, end: float) -> tuple[dict[datetime, int], dict[datetime, int]]:
    """The view's counts and the rollups' own, per bucket."""
    with psycopg.connect(dsn) as conn:
        view = conn.execute("SELECT bucket, cnt FROM ioc_views.ingest_counts(%s, %s)", (at(start), at(end)))
        rollup = conn.execute(
            "SELECT bucket, sum(cnt)::bigint FROM ioc_views.rollup(%s, %s) GROUP BY 1", (at(start), at(end))
        )
        return dict(view.fetchall()), dict(rollup.fetchall())


def assert_ranges_match(dsn: str, now: float) -> dict[datetime, int]:
    for span in (3 * HOUR, DAY, 2.5 * DAY, 30 * DAY):
        view, rollup = counts(dsn, now - span, now)
        assert view == rollup, span
        assert view
    return counts(dsn, now - 30 * DAY, now)[0]


def test_ingest_counts_match_the_rollups(any_store):
    with any_store.connect() as conn:
        now = math.floor(conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0] / 60) * 60 + 17
    any_store.load_inventory(INVENTORY)
    minutes = [now - 3 * DAY + i * 60 for i in range(int(3 * DAY / 60))]
    quiet = (now - 30 * HOUR, now - 27 * HOUR)  # whole hours without a sample
    any_store.samples("service", "portal", "up", [(ts, 1.0) for ts in minutes if not quiet[0] <= ts < quiet[1]])
    any_store.samples("link", "wan-a", "rtt_ms", [(ts, 20.0) for ts in minutes[::3]])
    any_store.refresh_rollups(math.floor(now / HOUR) * HOUR)
    assert_ranges_match(any_store.dsn, now)  # nothing stored: all from the rollups

    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        assert refresh_ingest_hours(conn, now, []) > 24 * 90
        assert refresh_ingest_hours(conn, now, []) == 0  # every closed hour counted
        stored = conn.execute("SELECT count(*) FROM ingest_hourly WHERE samples > 0").fetchone()[0]
    before = assert_ranges_match(any_store.dsn, now)
    assert stored >= 3 * 24 - 4

    # A late sample: its day is marked (as the writer does), so counted live until the upkeep counts it again.
    late = math.floor((now - DAY) / HOUR) * HOUR + 30
    day = at(late).date()
    any_store.samples("link", "wan-a", "rtt_ms", [(late, 25.0)])
    any_store.refresh_rollups(math.floor(now / HOUR) * HOUR)
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO uptime_dirty (kind, entity, day) VALUES ('link', 'wan-a', %s)", (day,))
    after = assert_ranges_match(any_store.dsn, now)
    assert after[at(late - 30)] == before[at(late - 30)] + 1
    with psycopg.connect(any_store.dsn, autocommit=True) as conn:
        assert refresh_ingest_hours(conn, now, [("link", "wan-a", day)]) == 24
        conn.execute("DELETE FROM uptime_dirty")
    assert assert_ranges_match(any_store.dsn, now) == after

    if any_store.backend == "postgres":  # retention drops old hour rollups: their stored counts are not shown
        with any_store.connect() as conn:
            conn.execute("DELETE FROM samples_1h WHERE bucket < %s", (at(now - 2 * DAY),))
        assert min(assert_ranges_match(any_store.dsn, now)) >= at(now - 2 * DAY)
