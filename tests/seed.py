"""Putting data into the real test store with SQL, the way the ingest path leaves it (shared by test folders)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from ioc.auth import create_key
from ioc.inventory import parse_inventory, store_inventory
from ioc.store.migrate import detect_backend
from ioc.store.series import SeriesKey, SeriesRegistry

INVENTORY = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
  - {id: vp-ubnd, name: "Văn phòng UBND tỉnh"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
  - {id: xa-phu-da, name: "UBND xã Phú Đa", parent: dc-tinh}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, agency: so-tttt,
     interval_s: 10}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 10}
  - {kind: kiosk, id: kiosk-pd-01, name: "Kiosk tra cứu Phú Đa", site: xa-phu-da, agency: vp-ubnd, interval_s: 10}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", system: dvc_portal, agency: so-tttt,
     site: dc-tinh, url: "https://dichvucong.example.gov.vn/"}
  - {kind: service, id: mot-cua, name: "Hệ thống thông tin giải quyết thủ tục hành chính", system: one_stop,
     agency: so-tttt, site: dc-tinh}
  - {kind: service, id: edoc, name: "Quản lý văn bản điều hành", agency: vp-ubnd, site: dc-tinh}
"""


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Store:
    """Puts data into the real test store the way the ingest path leaves it."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.registry = SeriesRegistry()
        with psycopg.connect(dsn) as conn:
            self.backend = detect_backend(conn)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)

    def load_inventory(self, text: str = INVENTORY) -> None:
        with psycopg.connect(self.dsn) as conn:
            store_inventory(conn, parse_inventory(text))

    def key(self, role: str, agency: str | None = None) -> dict[str, str]:
        with psycopg.connect(self.dsn) as conn:
            return {"Authorization": f"Bearer {create_key(conn, role, agency, f'test-{role}')}"}

    def seen(self, kind: str, entity: str, last_seen: float | None, mqtt_status: str | None = None) -> None:
        """Record an entity as heard (inserting it unassigned when the inventory lacks it)."""
        with self.connect() as conn:
            conn.execute(
                """
                INSERT INTO entities (kind, id, first_seen, last_seen, mqtt_status, mqtt_status_at)
                VALUES (%(kind)s, %(id)s, %(seen)s, %(seen)s, %(st)s, CASE WHEN %(st)s::text IS NULL THEN NULL
                        ELSE coalesce(%(seen)s, now()) END)
                ON CONFLICT (kind, id) DO UPDATE SET last_seen = excluded.last_seen,
                    first_seen = coalesce(entities.first_seen, excluded.first_seen),
                    mqtt_status = excluded.mqtt_status, mqtt_status_at = excluded.mqtt_status_at
                """,
                {"kind": kind, "id": entity, "seen": at(last_seen) if last_seen else None, "st": mqtt_status},
            )

    def samples(
        self,
        kind: str,
        entity: str,
        metric: str,
        points: Sequence[tuple[float, float]],
        labels: dict[str, str] | None = None,
    ) -> int:
        """Store samples of one series and keep the plain back end's rollups as its writer does."""
        key = SeriesKey(kind, entity, metric, tuple(sorted((labels or {}).items())))
        with psycopg.connect(self.dsn) as conn:
            series_id = self.registry.resolve(conn, [key])[key]
            with conn.cursor().copy("COPY samples (series_id, ts, value) FROM STDIN") as copy:
                for ts, value in points:
                    copy.write_row((series_id, at(ts), value))
            if self.backend == "postgres":
                for table, unit in (("samples_1m", "minute"), ("samples_1h", "hour")):
                    conn.execute(
                        f"""
                        INSERT INTO {table} (series_id, bucket, cnt, total, min_value, max_value)
                        SELECT series_id, date_trunc('{unit}', ts), count(*), sum(value), min(value), max(value)
                        FROM samples WHERE series_id = %s GROUP BY 1, 2
                        ON CONFLICT (series_id, bucket) DO UPDATE SET cnt = excluded.cnt, total = excluded.total,
                            min_value = excluded.min_value, max_value = excluded.max_value
                        """,
                        (series_id,),
                    )
        return series_id

    def refresh_rollups(self, until: float) -> None:
        """Materialize TimescaleDB's continuous aggregates up to `until` (an hour boundary), as its refresh
        policy does; samples after it are answered in real time."""
        if self.backend != "timescaledb":
            return
        with self.connect() as conn:
            conn.execute("CALL refresh_continuous_aggregate('samples_1m', NULL, %s)", (at(until),))
            conn.execute("CALL refresh_continuous_aggregate('samples_1h', NULL, %s)", (at(until),))

    def alert(self, kind: str, entity: str, severity: str = "warning", state: str = "firing") -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, pending_since, starts_at) "
                "VALUES (%s, 'test_rule', %s, %s, %s, %s, now(), now())",
                (f"{kind}/{entity}/{severity}/{state}", severity, state, kind, entity),
            )

    def silence(self, matchers: dict[str, str], starts: float, ends: float) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO silences (matchers, starts_at, ends_at, created_by) VALUES (%s, %s, %s, 'test')",
                (Jsonb(matchers), at(starts), at(ends)),
            )
