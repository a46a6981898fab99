"""The batch writer against real PostgreSQL (both back ends where TimescaleDB is installed)."""

from __future__ import annotations

import time

import numpy as np
import orjson
import psycopg
import pytest

from ioc.model import Event, Rejection, StatusUpdate
from ioc.store.pg_binary import copy_payload
from ioc.store.rollups import rollup
from ioc.store.writer import BatchWriter, PendingBatch

NOW = float(int(time.time()) - 7200)


def batch_of(samples, **extra) -> PendingBatch:
    batch = PendingBatch(**extra)
    for kind, entity, metric, labels, ts, value in samples:
        batch.keys.append((kind, entity, metric, labels))
        batch.ts.append(ts)
        batch.values.append(value)
        batch.seen(kind, entity, ts, ts)
    return batch


def fetch(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def test_copy_payload_is_postgres_binary_copy():
    data = copy_payload(np.array([7], np.int32), np.array([1], np.int64), np.array([2.5]))
    assert data[:11] == b"PGCOPY\n\xff\r\n\x00" and data[-2:] == b"\xff\xff"
    assert len(data) == 19 + 34 + 2


def test_rollup_groups_by_series_and_bucket():
    sid = np.array([2, 1, 1, 1], np.int32)
    ts = np.array([0, 59_000_000, 60_000_000, 1_000_000], np.int64)
    cols = rollup(sid, ts, np.array([5.0, 1.0, 3.0, 2.0]), 60_000_000)
    assert [c.tolist() for c in cols] == [[1, 1, 2], [0, 60_000_000, 0], [2, 1, 1], [3.0, 3.0, 5.0],
                                          [1.0, 3.0, 5.0], [2.0, 3.0, 5.0]]  # fmt: skip


def test_writes_samples_entities_statuses_events_and_dead_letters(dsn):
    writer = BatchWriter(dsn)
    batch = batch_of([("kiosk", "k1", "cpu_pct", (), NOW, 1.0), ("kiosk", "k1", "cpu_pct", (("cpu", "0"),), NOW, 2.0)])
    batch.statuses.append(StatusUpdate("kiosk", "k2", NOW, "offline"))
    batch.seen("kiosk", "k2", NOW, NOW)
    batch.events.append(Event("kiosk", "k1", NOW, "printer_jam", "warning", "Kẹt giấy"))
    batch.rejections.append(Rejection("ioc/v1/metrics/kiosk/k1", b"{x", "not_json", "payload is not JSON"))
    result = writer.write(batch)
    assert result.stored == 2 and result.duplicates == 0 and len(result.committed) == 2
    assert [e.type for e in result.committed.events] == ["printer_jam"]
    assert fetch(dsn, "SELECT count(*) FROM samples") == [(2,)]
    assert fetch(dsn, "SELECT id, mqtt_status, assigned FROM entities ORDER BY id") == [
        ("k1", None, False), ("k2", "offline", False)]  # fmt: skip
    assert fetch(dsn, "SELECT message FROM events") == [("Kẹt giấy",)]
    assert fetch(dsn, "SELECT reason, payload FROM dead_letters") == [("not_json", b"{x")]
    again = writer.write(batch)  # a redelivery: nothing stored twice
    assert again.stored == 0 and again.duplicates == 2 and again.committed.events == []
    assert fetch(dsn, "SELECT count(*) FROM samples") == [(2,)]
    assert fetch(dsn, "SELECT count(*) FROM events") == [(1,)]
    writer.close()


def test_duplicates_within_and_across_batches_keep_rollups_exact(dsn):
    writer = BatchWriter(dsn)
    first = batch_of([("link", "l1", "rtt_ms", (), NOW + i, float(i)) for i in range(100)])
    assert writer.write(first).stored == 100
    mixed = batch_of([("link", "l1", "rtt_ms", (), NOW + i, 1000.0) for i in range(90, 110)] * 2)
    result = writer.write(mixed)
    assert result.stored == 10 and result.duplicates == 30
    assert result.committed.values.tolist() == [1000.0] * 10
    assert fetch(dsn, "SELECT count(*), sum(value) FROM samples") == [(110, 4950.0 + 10_000.0)]
    assert fetch(dsn, "SELECT sum(cnt), sum(total), min(min_value), max(max_value) FROM samples_1m") == [
        (110, 14950.0, 0.0, 1000.0)]  # fmt: skip
    assert fetch(dsn, "SELECT sum(cnt), sum(total) FROM samples_1h") == [(110, 14950.0)]
    writer.close()


def test_rollups_answer_the_same_on_both_back_ends(any_dsn):
    writer = BatchWriter(any_dsn)
    rng = np.random.default_rng(7)
    start = NOW - 3 * 3600
    samples = [
        ("kiosk", f"k{i % 3}", "temp_c", (), start + float(t), float(v))
        for i, (t, v) in enumerate(zip(rng.integers(0, 3 * 3600, 600), rng.normal(50, 5, 600), strict=True))
    ]
    for part in range(0, 600, 150):
        writer.write(batch_of(samples[part : part + 150]))
    writer.close()
    stored = fetch(any_dsn, "SELECT count(*) FROM samples")[0][0]
    expected_1m: dict[tuple[str, int], list[float]] = {}
    expected_1h: dict[tuple[str, int], list[float]] = {}
    seen = set()
    for _, entity, _, _, ts, value in samples:
        if (entity, ts) in seen:
            continue
        seen.add((entity, ts))
        expected_1m.setdefault((entity, int(ts // 60 * 60)), []).append(value)
        expected_1h.setdefault((entity, int(ts // 3600 * 3600)), []).append(value)
    assert stored == len(seen)
    for table, expected in (("samples_1m", expected_1m), ("samples_1h", expected_1h)):
        got = fetch(any_dsn, f"SELECT s.entity, extract(epoch FROM r.bucket)::int8, r.cnt, r.total, r.min_value,"
                             f" r.max_value FROM {table} r JOIN series s ON s.id = r.series_id")  # fmt: skip
        assert {(e, b): (c, round(t, 6), lo, hi) for e, b, c, t, lo, hi in got} == {
            k: (len(v), round(sum(v), 6), min(v), max(v)) for k, v in expected.items()}  # fmt: skip


def test_refused_rows_are_isolated_and_dead_lettered(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE samples ADD CONSTRAINT test_small CHECK (value < 1e6)")
    try:
        writer = BatchWriter(dsn)
        batch = batch_of([("kiosk", "k1", "queue_waiting", (), NOW + i, 1e9 if i == 37 else float(i))
                          for i in range(64)])  # fmt: skip
        batch.events.append(Event("kiosk", "k1", NOW, "door_open", "info", "Mở cửa"))
        result = writer.write(batch)
        writer.close()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE samples DROP CONSTRAINT test_small")
    assert result.stored == 63
    assert [d.reason for d in result.dead_letters] == ["store_rejected"]
    assert fetch(dsn, "SELECT count(*) FROM samples") == [(63,)]
    assert fetch(dsn, "SELECT count(*) FROM events") == [(1,)]
    ((reason, detail, payload),) = fetch(dsn, "SELECT reason, detail, payload FROM dead_letters")
    assert reason == "store_rejected" and "test_small" in detail and b'"value":1000000000.0' in payload
    assert fetch(dsn, "SELECT sum(cnt) FROM samples_1m") == [(63,)]


def test_pending_batch_round_trips_for_the_spool():
    batch = batch_of([("kiosk", "k1", "a", (("x", "Phú Vang"),), NOW, 1.5)])
    batch.statuses.append(StatusUpdate("kiosk", "k1", NOW, "online"))
    batch.events.append(Event("kiosk", "k1", NOW, "t", "info", "Kẹt", {"n": 1}))
    batch.rejections.append(Rejection("t", b"\x00\xff", "not_json", "d"))
    assert PendingBatch.from_bytes(batch.to_bytes()) == batch


@pytest.mark.parametrize("days_back", [0, 5])
def test_partitions_are_created_for_the_batch_days(dsn, days_back):
    writer = BatchWriter(dsn)
    ts = time.time() - days_back * 86400
    assert writer.write(batch_of([("link", "l1", "up", (), ts, 1.0)])).stored == 1
    writer.close()


def test_a_batch_of_many_series_is_announced_in_chunks_each_with_its_own_series_and_times(dsn):
    """Each NOTIFY names at most 500 series and the time range of those alone, so a reader in another
    process reads the batch back through the (series_id, ts) index, even with a day of backfill in it."""
    writer = BatchWriter(dsn)
    day_ago = NOW - 86400
    samples = [("kiosk", f"k{i:04d}", "cpu_pct", (), NOW + i * 0.001, float(i)) for i in range(1200)]
    samples.append(("kiosk", "k1199", "cpu_pct", (), day_ago, 0.0))  # the last series brings a day of history
    batch = batch_of(samples)
    batch.statuses.append(StatusUpdate("kiosk", "k0001", NOW, "online"))
    batch.events.append(Event("kiosk", "k0002", NOW, "printer_jam", "warning", "Kẹt giấy"))
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN ioc_committed")
        result = writer.write(batch)
        payloads = [orjson.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=3)]
    assert result.stored == 1201
    assert [len(p["series"]) for p in payloads] == [500, 500, 200]
    with psycopg.connect(dsn) as conn:
        ids = dict(conn.execute("SELECT entity, id FROM series").fetchall())
    assert sorted(s for p in payloads for s in p["series"]) == sorted(ids.values())
    assert [(p["status"], p["events"]) for p in payloads] == [(True, False), (False, False), (False, True)]
    first_of_last_chunk = sorted(ids.values())[1000]
    assert payloads[0]["min_ts"] == pytest.approx(NOW, abs=1e-3)  # the day of history is not in the first
    assert payloads[2]["min_ts"] == pytest.approx(day_ago, abs=1e-3)
    assert payloads[2]["max_ts"] == pytest.approx(NOW + 1.199, abs=1e-3)
    assert first_of_last_chunk in payloads[2]["series"]
