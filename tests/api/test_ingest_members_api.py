"""GET /api/v1/ingest/members and the member gauges on /metrics (contract section 11)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from seed import Store

from ioc.store import members


def _members(store: Store) -> None:
    with store.connect() as conn:
        members.register(conn, "ioc-ingest", 101)
        members.heartbeat(conn, "ioc-ingest", 42)
        members.register(conn, "ioc-ingest-1", 102)
        conn.execute("UPDATE ingest_members SET last_seen = now() - interval '1 hour' WHERE client_id = 'ioc-ingest-1'")
        members.register(conn, "ioc-ingest-2", 103)
        members.set_state(conn, "ioc-ingest-2", "drained", drained_by="ioc-ingest", drained_messages=1500)


def test_members_listed_for_operators_only(store: Store, client: TestClient) -> None:
    _members(store)
    assert client.get("/api/v1/ingest/members", headers=store.key("viewer")).status_code == 403
    body = client.get("/api/v1/ingest/members", headers=store.key("operator")).json()
    assert [(m["client_id"], m["state"], m["up"], m["backlog"]) for m in body] == [
        ("ioc-ingest", "live", True, 42),
        ("ioc-ingest-1", "live", False, 0),  # a crashed member: live, but not seen for an hour
        ("ioc-ingest-2", "drained", False, 0),
    ]
    drained = body[2]
    assert drained["drained_by"] == "ioc-ingest" and drained["drained_messages"] == 1500 and drained["ended_at"]
    assert body[1]["seen_s_ago"] >= 3599


def test_member_gauges_on_metrics(store: Store, client: TestClient) -> None:
    _members(store)
    text = client.get("/metrics").text
    assert 'ioc_ingest_member_up{member="ioc-ingest"} 1.0' in text
    assert 'ioc_ingest_member_up{member="ioc-ingest-1"} 0.0' in text
    assert 'ioc_ingest_member_backlog_messages{member="ioc-ingest"} 42.0' in text
    assert 'ioc_ingest_member_drained_messages{member="ioc-ingest-2"} 1500.0' in text
    assert 'ioc_ingest_members{state="live"} 2.0' in text
    assert 'ioc_ingest_members{state="drained"} 1.0' in text
