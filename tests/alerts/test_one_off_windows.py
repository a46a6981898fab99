"""One-off maintenance windows (contract section 9) mute alerts like recurring ones, read from the store."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from alerts.silences import muted_by
from alerts.store import load_windows

NOW = 1_796_000_000.0


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_a_one_off_window_mutes_only_while_it_lasts(dsn):
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, starts_at, ends_at, created_by) VALUES (%s, %s, %s, 't')",
            (Jsonb({"entity": "dvc-portal"}), at(NOW - 60), at(NOW + 60)),
        )
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, weekdays, start_time, duration, created_by)"
            " VALUES (%s, %s, '00:00', interval '1 second', 't')",
            (Jsonb({"entity": "edoc"}), [1]),
        )
        windows = load_windows(conn)
    labels = {"alertname": "service_down", "kind": "service", "entity": "dvc-portal"}
    (one_off,) = [w for w in windows if w.starts_at is not None]
    assert muted_by(labels, [], windows, NOW) == f"maintenance#{one_off.id}"
    assert muted_by(labels, [], windows, NOW + 61) is None
    assert muted_by(labels, [], windows, NOW - 61) is None
