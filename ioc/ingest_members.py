"""The ingest members as the API, the console and /metrics show them (contract section 11): read from
`ingest_members` (ioc.store.members), with whether each is up (live and seen within
IOC_INGEST_MEMBER_GONE_S) and its backlog (messages received and not yet acknowledged, as its last
heartbeat said)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from ioc.store.members import STATES, Member, list_members

log = logging.getLogger(__name__)


def is_up(member: Member, gone_s: float) -> bool:
    return member.state == "live" and member.seen_s_ago < gone_s


def member_json(member: Member, gone_s: float) -> dict[str, object]:
    return {**member.as_json(), "up": is_up(member, gone_s)}


class MembersCollector(Collector):
    """Gauges labelled by member, read from the store at each scrape (nothing when the store is away)."""

    def __init__(self, pool: ConnectionPool, gone_s: float):
        self._pool = pool
        self._gone_s = gone_s

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("ioc_ingest_member_up", "1 while the ingest member runs (live, seen recently)",
                              labels=["member"]),
            GaugeMetricFamily("ioc_ingest_member_backlog_messages",
                              "Messages the member received and had not acknowledged yet, at its last heartbeat",
                              labels=["member"]),
            GaugeMetricFamily("ioc_ingest_member_last_seen_seconds", "Seconds since the member's last heartbeat",
                              labels=["member"]),
            GaugeMetricFamily("ioc_ingest_member_drained_messages",
                              "Messages stored from the member's session when it was drained", labels=["member"]),
            GaugeMetricFamily("ioc_ingest_members", "Ingest members by state", labels=["state"]),
        )  # fmt: skip

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._pool.connection(timeout=2) as conn:
                rows = list_members(conn)
        except Exception as exc:
            log.warning("cannot read the ingest members for /metrics: %s", exc)
            return
        up, backlog, seen, drained, states = self._families()
        counts = dict.fromkeys(STATES, 0)
        for m in rows:
            up.add_metric([m.client_id], 1.0 if is_up(m, self._gone_s) else 0.0)
            backlog.add_metric([m.client_id], float(m.backlog))
            seen.add_metric([m.client_id], max(m.seen_s_ago, 0.0))
            drained.add_metric([m.client_id], float(m.drained_messages))
            counts[m.state] += 1
        for state, n in counts.items():
            states.add_metric([state], float(n))
        yield from (up, backlog, seen, drained, states)
