"""The console's ingest members page: operators see members, state and backlog; viewers are refused."""

from __future__ import annotations

from console_helpers import ClientFactory, add_user, log_in
from seed import Store

from ioc.store import members


def seed_members(dsn: str) -> None:
    with Store(dsn).connect() as conn:
        members.register(conn, "ioc-ingest", 2101)
        members.heartbeat(conn, "ioc-ingest", 137)
        members.register(conn, "ioc-ingest-1", 2102)
        conn.execute(
            "UPDATE ingest_members SET last_seen = now() - interval '10 minutes' WHERE client_id = 'ioc-ingest-1'"
        )
        members.register(conn, "ioc-ingest-old", 2050)
        members.set_state(conn, "ioc-ingest-old", "drained", drained_by="host-a:ioc-ingest", drained_messages=1500)


def test_members_page_for_operators(store: Store, make_client: ClientFactory) -> None:
    seed_members(store.dsn)
    add_user(store.dsn, "an", "operator")
    add_user(store.dsn, "binh", "viewer")
    operator = log_in(make_client(store.dsn), "an")
    page = operator.get("/ui/ingest-members")
    assert page.status_code == 200
    html = page.text
    assert "<code>ioc-ingest</code>" in html and "<code>ioc-ingest-old</code>" in html
    assert "<b>1</b> đang chạy" in html and "<b>137</b> bản tin đang chờ ghi" in html
    assert "đã xả và đóng phiên" in html and "1500" in html
    assert 'href="/ui/ingest-members"' in operator.get("/ui/").text
    viewer = log_in(make_client(store.dsn), "binh")
    assert viewer.get("/ui/ingest-members").status_code == 403
    assert 'href="/ui/ingest-members"' not in viewer.get("/ui/").text
