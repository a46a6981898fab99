"""Alert state and baselines in the store, on both back ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import psycopg

from alerts import store
from alerts.alert import FIRING, PENDING, RESOLVED, Alert, alert_labels, fingerprint
from ioc.store.series import SeriesKey, SeriesRegistry

T0 = 1_800_000_000.0


def make_alert(entity: str = "kiosk-pv-01") -> Alert:
    labels = alert_labels(rule="kiosk_down", severity="critical", kind="kiosk", entity=entity, site="s", agency=None)
    return Alert(fingerprint(labels), "kiosk_down", "critical", "kiosk", entity, labels, state=PENDING, site="s",
                 summary="Kiosk lấy số 01 – UBND xã Phú Vang mất kết nối", pending_since=T0)  # fmt: skip


def test_alerts_round_trip_one_open_row_per_fingerprint(any_dsn):
    with psycopg.connect(any_dsn) as conn:
        a = make_alert()
        store.save_alerts(conn, [a])
        assert a.id is not None
        a.state, a.starts_at, a.suppressed_by = FIRING, T0 + 60, "link/wan"
        store.save_alerts(conn, [a])
        store.mark_notified(conn, [a.id], T0 + 61)
        (loaded,) = store.load_open_alerts(conn)
        assert (loaded.id, loaded.state, loaded.starts_at, loaded.suppressed_by) == (a.id, FIRING, T0 + 60, "link/wan")
        assert loaded.last_notified_at == T0 + 61 and loaded.summary == a.summary and loaded.labels == a.labels
        # A second process inserting the same fingerprint takes over the open row instead of adding one.
        twin = make_alert()
        twin.state = FIRING
        store.save_alerts(conn, [twin])
        assert twin.id == a.id and twin.last_notified_at == T0 + 61
        a.state, a.ends_at = RESOLVED, T0 + 120
        store.save_alerts(conn, [a])
        assert store.load_open_alerts(conn) == []
        # The next incident of the same fingerprint is a new row; a pending one that goes away is deleted.
        b = make_alert()
        store.save_alerts(conn, [b])
        assert b.id != a.id
        b.dropped = True
        store.save_alerts(conn, [b])
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (1,)


def test_hourly_averages_for_the_seasonal_baseline(any_dsn):
    with psycopg.connect(any_dsn) as conn:
        backend = conn.execute("SELECT value FROM ioc_meta WHERE key = 'backend'").fetchone()[0]
        sid = SeriesRegistry().resolve(conn, [SeriesKey("kiosk", "k1", "queue_waiting")])[
            SeriesKey("kiosk", "k1", "queue_waiting")
        ]
        this_hour = time.time() // 3600 * 3600
        hours = [this_hour - 7 * 86400 * k for k in (1, 2, 3)]
        for k, start in enumerate(hours):
            for minute, value in ((0, 10.0 + k), (30, 20.0 + k)):
                conn.execute(
                    "INSERT INTO samples (series_id, ts, value) VALUES (%s, %s, %s)",
                    (sid, datetime.fromtimestamp(start + minute * 60, UTC), value),
                )
            if backend == "postgres":  # the plain back end's writer keeps this rollup itself
                conn.execute(
                    "INSERT INTO samples_1h (series_id, bucket, cnt, total, min_value, max_value) "
                    "VALUES (%s, %s, 2, %s, %s, %s)",
                    (sid, datetime.fromtimestamp(start, UTC), 30.0 + 2 * k, 10.0 + k, 20.0 + k),
                )
        conn.commit()
        got = store.hourly_averages(conn, sid, [*hours, this_hour - 7 * 86400 * 4])
    assert sorted(got.tolist()) == [15.0, 16.0, 17.0]
    assert isinstance(got, np.ndarray)


def test_silences_windows_and_acks_as_the_router_reads_them(any_dsn):
    now = time.time()
    with psycopg.connect(any_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by) VALUES "
            "('{\"site\": \"a\"}', now() - interval '1 hour', now() + interval '1 hour', 't'), "
            "('{\"site\": \"b\"}', now() - interval '2 hour', now() - interval '1 hour', 't')"
        )
        conn.execute(
            "INSERT INTO maintenance_windows (matchers, weekdays, start_time, duration, created_by) "
            "VALUES ('{\"site\": \"dc-tinh\"}', '{6,7}', '22:00', interval '2 hours', 't')"
        )
        a = make_alert()
        store.save_alerts(conn, [a])
        conn.execute("UPDATE alerts SET acked_by = 'Nguyễn Văn An' WHERE id = %s", (a.id,))
        (silence,) = store.load_silences(conn, now)
        (window,) = store.load_windows(conn)
        acks = store.load_acks(conn)
    assert silence.matchers == {"site": "a"} and silence.active(now)
    assert (window.weekdays, window.start_time.hour, window.duration_s, window.timezone) == (
        (6, 7),
        22,
        7200.0,
        "Asia/Ho_Chi_Minh",
    )
    assert acks == {a.id: "Nguyễn Văn An"}
