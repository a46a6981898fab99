"""Alert state in the store: open alerts loaded on start, transitions saved, silences and acks read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from alerts.alert import Alert
from alerts.silences import MaintenanceWindow, Silence


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


_COLUMNS = (
    "id, fingerprint, rule, severity, state, kind, entity, site, agency, labels, annotations, summary, value, "
    "pending_since, starts_at, ends_at, suppressed_by, acked_by, last_notified_at"
)


def _alert(r: tuple[Any, ...]) -> Alert:
    return Alert(
        id=r[0], fingerprint=r[1], rule=r[2], severity=r[3], state=r[4], kind=r[5], entity=r[6], site=r[7],
        agency=r[8], labels=r[9], annotations=r[10], summary=r[11], value=r[12], pending_since=_ts(r[13]) or 0.0,
        starts_at=_ts(r[14]), ends_at=_ts(r[15]), suppressed_by=r[16], acked_by=r[17], last_notified_at=_ts(r[18]),
    )  # fmt: skip


def load_open_alerts(conn: psycopg.Connection) -> list[Alert]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE state <> 'resolved' ORDER BY id").fetchall()
    return [_alert(r) for r in rows]


def load_alerts_by_id(conn: psycopg.Connection, ids: list[int]) -> dict[int, Alert]:
    """Alerts in any state (a resolved one waiting in a group for its message, after a restart)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = ANY(%s)", (ids,)).fetchall()
    return {r[0]: _alert(r) for r in rows}


def save_alerts(conn: psycopg.Connection, alerts: Iterable[Alert]) -> None:
    """Write the alerts' new state in one transaction: insert new rows, update known ones, delete the
    rows of pending alerts whose condition went away before they fired."""
    with conn.transaction():
        for alert in alerts:
            if alert.dropped:
                if alert.id is not None:
                    conn.execute("DELETE FROM alerts WHERE id = %s", (alert.id,))
                    alert.id = None
                continue
            params = (
                alert.state,
                alert.severity,
                Jsonb(alert.labels),
                Jsonb(alert.annotations),
                alert.summary,
                alert.value,
                _dt(alert.pending_since),
                _dt(alert.starts_at),
                _dt(alert.ends_at),
                alert.suppressed_by,
                _dt(alert.last_notified_at),
            )
            if alert.id is None:
                row = conn.execute(
                    """
                    INSERT INTO alerts (state, severity, labels, annotations, summary, value, pending_since,
                                        starts_at, ends_at, suppressed_by, last_notified_at,
                                        fingerprint, rule, kind, entity, site, agency)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (fingerprint) WHERE state <> 'resolved' DO UPDATE SET
                        state = excluded.state, severity = excluded.severity, labels = excluded.labels,
                        annotations = excluded.annotations, summary = excluded.summary, value = excluded.value,
                        starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                        suppressed_by = excluded.suppressed_by, updated_at = now()
                    RETURNING id, acked_by, last_notified_at
                    """,
                    (*params, alert.fingerprint, alert.rule, alert.kind, alert.entity, alert.site, alert.agency),
                ).fetchone()
                assert row is not None
                alert.id, alert.acked_by = row[0], row[1]
                if alert.last_notified_at is None:
                    alert.last_notified_at = _ts(row[2])
            else:
                conn.execute(
                    """
                    UPDATE alerts SET state = %s, severity = %s, labels = %s, annotations = %s, summary = %s,
                        value = %s, pending_since = %s, starts_at = %s, ends_at = %s, suppressed_by = %s,
                        last_notified_at = %s, updated_at = now()
                    WHERE id = %s
                    """,
                    (*params, alert.id),
                )


def mark_notified(conn: psycopg.Connection, ids: list[int], at: float) -> None:
    if ids:
        conn.execute("UPDATE alerts SET last_notified_at = %s WHERE id = ANY(%s)", (_dt(at), ids))


def load_acks(conn: psycopg.Connection) -> dict[int, str]:
    rows = conn.execute("SELECT id, acked_by FROM alerts WHERE state <> 'resolved' AND acked_by IS NOT NULL")
    return {r[0]: r[1] for r in rows}


def load_liveness(conn: psycopg.Connection) -> list[tuple[str, str, float | None, float | None]]:
    """(kind, id, last seen, offline since) of every entity; offline only while it is the latest status."""
    rows = conn.execute(
        """
        SELECT kind, id, greatest(last_seen, CASE WHEN mqtt_status = 'online' THEN mqtt_status_at END),
               CASE WHEN mqtt_status = 'offline' THEN mqtt_status_at END
        FROM entities
        """
    ).fetchall()
    return [(r[0], r[1], _ts(r[2]), _ts(r[3])) for r in rows]


def last_status_at(conn: psycopg.Connection) -> float | None:
    """When the newest status change `load_liveness` reflects was said (the status changes after it are new)."""
    row = conn.execute("SELECT max(mqtt_status_at) FROM entities").fetchone()
    return _ts(row[0]) if row else None


def load_silences(conn: psycopg.Connection, now: float) -> list[Silence]:
    rows = conn.execute(
        "SELECT id, matchers, starts_at, ends_at FROM silences WHERE expired_at IS NULL AND ends_at > %s",
        (_dt(now),),
    ).fetchall()
    return [Silence(r[0], r[1], r[2].timestamp(), r[3].timestamp()) for r in rows]


def load_windows(conn: psycopg.Connection) -> list[MaintenanceWindow]:
    rows = conn.execute(
        "SELECT id, matchers, weekdays, start_time, duration, timezone, starts_at, ends_at FROM maintenance_windows"
    ).fetchall()
    out = []
    for r in rows:
        if r[6] is not None:  # one-off (contract section 9)
            out.append(MaintenanceWindow(r[0], r[1], (), time(0), 0.0, r[5], r[6].timestamp(), r[7].timestamp()))
            continue
        start: time = r[3]
        duration: timedelta = r[4]
        out.append(MaintenanceWindow(r[0], r[1], tuple(r[2]), start, duration.total_seconds(), r[5]))
    return out


def hourly_averages(conn: psycopg.Connection, series_id: int, starts: list[float]) -> np.ndarray:
    """The series' average in each of the given hours, from the 1-hour rollup (hours with no data left out)."""
    rows = conn.execute(
        "SELECT total / NULLIF(cnt, 0) FROM samples_1h WHERE series_id = %s AND bucket = ANY(%s)",
        (series_id, [_dt(s) for s in starts]),
    ).fetchall()
    return np.array([r[0] for r in rows if r[0] is not None], dtype=np.float64)


def audit(conn: psycopg.Connection, actor: str, action: str, target: str, detail: dict[str, object]) -> None:
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
        (actor, action, target, Jsonb(detail)),
    )
