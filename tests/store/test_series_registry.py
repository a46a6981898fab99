"""The series registry against real PostgreSQL: ids created once, and agreed on by concurrent writers."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from ioc.store.series import SeriesKey, SeriesRegistry
from ioc.store.writer import BatchWriter, PendingBatch

NOW = float(int(time.time()) - 7200)


def fetch(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def wait_until_blocked(dsn: str, pid: int) -> None:
    """Until the backend `pid` waits for a lock (another transaction's uncommitted row)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if fetch(dsn, f"SELECT 1 FROM pg_stat_activity WHERE pid = {pid} AND wait_event_type = 'Lock'"):
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_resolve_creates_each_series_once_and_returns_known_ids(dsn):
    registry = SeriesRegistry()
    keys = [SeriesKey("kiosk", "k1", "cpu_pct"), SeriesKey("kiosk", "k1", "cpu_pct", (("core", "0"), ("x", 'é\\"')))]
    with psycopg.connect(dsn) as conn:
        ids = registry.resolve(conn, keys + keys[:1])
        conn.commit()
        assert sorted(ids.values()) == [1, 2] and registry.key_of(ids[keys[1]]) == keys[1]
        assert registry.key_of(ids[keys[1]]).labels_dict == {"core": "0", "x": 'é\\"'}  # a SeriesKey
        new = SeriesKey("link", "l1", "rtt_ms")
        cold = SeriesRegistry().resolve(conn, [*keys[::-1], new])  # known to the store, not to this process
        conn.commit()
        assert {k: cold[k] for k in keys} == ids and cold[new] not in ids.values()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert SeriesRegistry().resolve(conn, [new, *keys]) == cold
    assert fetch(dsn, "SELECT labels FROM series ORDER BY id") == [({},), ({"core": "0", "x": 'é\\"'},), ({},)]


def test_a_series_created_meanwhile_by_another_process_gets_its_id(dsn):
    """B asks for keys that A created but has not committed yet: B waits for A and takes A's ids."""
    keys = [SeriesKey("kiosk", f"k{i}", "cpu_pct", (("cpu", str(i % 2)),)) for i in range(40)]
    other = [SeriesKey("link", "l1", "rtt_ms")]
    a_registry, b_registry = SeriesRegistry(), SeriesRegistry()
    with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b:
        a_ids = a_registry.resolve(a, keys)  # A's transaction stays open
        b_ids: dict[SeriesKey, int] = {}
        errors: list[BaseException] = []

        def resolve_b() -> None:
            try:
                b_ids.update(b_registry.resolve(b, other + keys[::-1]))
                b.commit()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=resolve_b)
        thread.start()
        wait_until_blocked(dsn, b.info.backend_pid)
        a.commit()
        thread.join(10)
    assert errors == []
    assert {k: b_ids[k] for k in keys} == a_ids
    assert b_ids[other[0]] not in a_ids.values()
    assert fetch(dsn, "SELECT count(*) FROM series") == [(41,)]


def test_two_writers_racing_on_the_same_new_series_agree(dsn, caplog):
    """Two writers (two ingest processes) write batches of the same new series, in opposite orders:
    both succeed (no deadlock), one row per series, and both caches hold the same ids."""
    rounds, metrics = 8, ("cpu_pct", "mem_pct", "disk_pct")
    entities = [f"k{i}" for i in range(60)]
    writers = [BatchWriter(dsn), BatchWriter(dsn)]
    errors: list[BaseException] = []
    results = []
    start = threading.Barrier(2)

    def run(writer: BatchWriter, order: list[str], offset: float) -> None:
        try:
            start.wait()
            for round_ in range(rounds):  # each round brings new series
                batch = PendingBatch()
                for entity in order:
                    for metric in metrics:
                        batch.keys.append(("kiosk", entity, f"{metric}_{round_}", ()))
                        batch.ts.append(NOW + offset)
                        batch.values.append(1.0)
                    batch.seen("kiosk", entity, NOW, NOW)
                results.append(writer.write(batch))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(writers[0], entities, 0.0)),
        threading.Thread(target=run, args=(writers[1], entities[::-1], 0.5)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for writer in writers:
        writer.close()
    assert errors == []
    assert [r.stored for r in results] == [180] * 2 * rounds and not any(r.dead_letters for r in results)
    assert not [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    n = 180 * rounds
    assert fetch(dsn, "SELECT count(*), count(DISTINCT (kind, entity, metric, labels)) FROM series") == [(n, n)]
    keys = [SeriesKey("kiosk", e, f"{m}_{r}") for e in entities for m in metrics for r in range(rounds)]
    assert None not in [writers[0].registry.get(k) for k in keys]
    assert [writers[0].registry.get(k) for k in keys] == [writers[1].registry.get(k) for k in keys]
    assert fetch(dsn, "SELECT count(*) FROM samples") == [(n * 2,)]


def test_series_whose_creation_does_not_commit_stay_uncached(dsn):
    """The cache never holds an id the store does not: samples would be stored against it (no foreign key)."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION ioc_test_refuse() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
        )
        admin.execute(
            "CREATE CONSTRAINT TRIGGER ioc_test_refuse AFTER INSERT ON series DEFERRABLE INITIALLY DEFERRED"
            " FOR EACH ROW EXECUTE FUNCTION ioc_test_refuse()"
        )
    key = ("kiosk", "k1", "cpu_pct", ())
    registry = SeriesRegistry()
    writer = BatchWriter(dsn, registry)
    batch = PendingBatch(keys=[key], ts=[NOW], values=[1.0])
    try:
        with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.RaiseException, match="refused at commit"):
            registry.ids_for(conn, [key])
        assert registry.cached([key]) == [None] and len(registry) == 0
        writer.prepare(batch)  # creating them ahead fails the same way: left for the committer
        assert batch.prepared is None and registry.cached([key]) == [None]
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("DROP TRIGGER ioc_test_refuse ON series")
            admin.execute("DROP FUNCTION ioc_test_refuse()")
    assert fetch(dsn, "SELECT count(*) FROM series") == [(0,)]
    later = PendingBatch(keys=[("kiosk", "k2", "cpu_pct", ())], ts=[NOW], values=[2.0])
    writer.prepare(later)  # no new attempt from prepare until the committer got through
    assert later.prepared is None
    assert writer.write(batch).stored == 1 and registry.cached([key]) != [None]
    writer.prepare(later)
    assert later.prepared is not None and None not in registry.cached(later.keys)
    assert writer.write(later).stored == 1
    writer.close()
    assert fetch(dsn, "SELECT count(*) FROM samples") == [(2,)]
