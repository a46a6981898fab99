"""Restart-proof delivery (issue 8, item 6; Alertmanager issue #4064, re-fire after restart): the flap
damping and holds of open alerts, the groups with their timers, and messages not yet sent are written
with each round's transitions, and read back on start, so a kill -9 and restart sends exactly the pages
a run without it sends."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from alerts import store
from alerts.alert import Alert
from alerts.delivery.dispatcher import Dispatcher
from alerts.delivery.group import AggregationGroup
from alerts.grouping import AlertSnapshot, Notification

Runtime = tuple[float | None, int, float | None]  # clearing_since, flaps, hold_until


class Unsent(NamedTuple):
    outbox_id: int
    receiver: str
    integration: int
    message: Notification
    sending_epoch: int | None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def message_to_json(notification: Notification) -> dict[str, Any]:
    return dataclasses.asdict(notification)


def message_from_json(data: dict[str, Any]) -> Notification:
    alerts = tuple(AlertSnapshot(**a) for a in data["alerts"])
    return Notification(data["group_key"], dict(data["group_labels"]), alerts, receiver=data["receiver"])


class DeliveryState:
    """Reads and writes the state; keeps what it last wrote, so a round that changed nothing writes nothing."""

    def __init__(self) -> None:
        self._runtime: dict[str, Runtime] = {}
        self._groups: list[tuple[Any, ...]] | None = None

    # -- alerts' flap damping and holds --------------------------------------------------------

    def save_runtime(self, conn: psycopg.Connection, alerts: dict[str, Alert]) -> None:
        now: dict[str, Runtime] = {}
        for fp, alert in alerts.items():
            if alert.clearing_since is not None or alert.flaps or alert.hold_until is not None:
                now[fp] = (alert.clearing_since, alert.flaps, alert.hold_until)
        gone = [fp for fp in self._runtime if fp not in now]
        changed = [(fp, v) for fp, v in now.items() if self._runtime.get(fp) != v]
        if gone:
            conn.execute("DELETE FROM alert_runtime WHERE fingerprint = ANY(%s)", (gone,))
        for fp, (clearing, flaps, hold) in changed:
            conn.execute(
                """
                INSERT INTO alert_runtime (fingerprint, clearing_since, flaps, hold_until) VALUES (%s, %s, %s, %s)
                ON CONFLICT (fingerprint) DO UPDATE SET clearing_since = excluded.clearing_since,
                    flaps = excluded.flaps, hold_until = excluded.hold_until, updated_at = now()
                """,
                (fp, _dt(clearing), flaps, _dt(hold)),
            )
        self._runtime = now

    def restore_runtime(self, conn: psycopg.Connection, alerts: dict[str, Alert]) -> None:
        rows = conn.execute("SELECT fingerprint, clearing_since, flaps, hold_until FROM alert_runtime").fetchall()
        for fp, clearing, flaps, hold in rows:
            alert = alerts.get(fp)
            if alert is None:
                continue
            alert.clearing_since, alert.flaps, alert.hold_until = _ts(clearing), flaps, _ts(hold)
            self._runtime[fp] = (alert.clearing_since, alert.flaps, alert.hold_until)
        stale = [r[0] for r in rows if r[0] not in alerts]
        if stale:
            conn.execute("DELETE FROM alert_runtime WHERE fingerprint = ANY(%s)", (stale,))

    # -- groups --------------------------------------------------------------------------------

    def save_groups(self, conn: psycopg.Connection, dispatcher: Dispatcher) -> None:
        rows = sorted(
            (
                route_id,
                group.key,
                Jsonb(group.labels),
                _dt(group.created_at),
                _dt(group.next_flush),
                _dt(group.last_sent),
                sorted(group.sent_firing),
                sorted(a.id for a in group.alerts.values() if a.id is not None),
            )
            for (route_id, _), group in dispatcher.groups.items()
        )
        comparable = [(r[0], r[1], r[2].obj, *r[3:]) for r in rows]
        if comparable == self._groups:
            return
        conn.execute("DELETE FROM alert_groups")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO alert_groups (route_id, group_key, labels, created_at, next_flush, last_sent, "
                "sent_firing, members) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        self._groups = comparable

    def restore_groups(self, conn: psycopg.Connection, dispatcher: Dispatcher, open_alerts: dict[str, Alert]) -> None:
        """The groups as they were, on the routes that still exist, with the open alerts' live objects."""
        routes = {r.id: r for r in dispatcher.tree.walk()}
        rows = conn.execute(
            "SELECT route_id, labels, created_at, next_flush, last_sent, sent_firing, members FROM alert_groups"
        ).fetchall()
        members = store.load_alerts_by_id(conn, sorted({i for r in rows for i in r[6]}))
        for route_id, labels, created, next_flush, last_sent, sent_firing, ids in rows:
            route = routes.get(route_id)
            if route is None:
                continue  # the routes file changed: its open alerts are routed afresh
            group = AggregationGroup(route, dict(labels), _ts(next_flush) or 0.0, _ts(created) or 0.0)
            group.last_sent, group.sent_firing = _ts(last_sent), set(sent_firing)
            for alert_id in ids:
                loaded = members.get(alert_id)
                if loaded is not None:
                    group.alerts[loaded.fingerprint] = open_alerts.get(loaded.fingerprint, loaded)
            dispatcher.groups[(route.id, group.key)] = group

    # -- messages not yet sent -----------------------------------------------------------------

    @staticmethod
    def add_to_outbox(conn: psycopg.Connection, receiver: str, integration: int, message: Notification) -> int:
        row = conn.execute(
            "INSERT INTO alert_outbox (receiver, integration, message) VALUES (%s, %s, %s) RETURNING id",
            (receiver, integration, Jsonb(message_to_json(message))),
        ).fetchone()
        assert row is not None
        return int(row[0])

    @staticmethod
    def take_outbox(conn: psycopg.Connection, ids: list[int] | None = None) -> list[Unsent]:
        """The messages not yet sent (of those ids): with the epoch of the leader that took each out to
        send it, None for one nobody did (alerts/leadership.py)."""
        rows = conn.execute(
            "SELECT id, receiver, integration, message, sending_epoch FROM alert_outbox "
            "WHERE %s::bigint[] IS NULL OR id = ANY(%s) ORDER BY id",
            (ids, ids),
        ).fetchall()
        return [Unsent(r[0], r[1], r[2], message_from_json(r[3]), r[4]) for r in rows]

    @staticmethod
    def sent(conn: psycopg.Connection, outbox_id: int) -> None:
        conn.execute("DELETE FROM alert_outbox WHERE id = %s", (outbox_id,))
