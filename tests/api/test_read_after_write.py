"""A write answered 200 is committed before the answer leaves: a client that reads right after it sees it.

FastAPI ends a dependency with `yield` after the response is sent unless it is scoped to the function;
the connection's commit is in that ending, so this is checked at the moment the response starts."""

from __future__ import annotations

import asyncio

import orjson
import psycopg
from test_alerts_api import add_alert


def _post(app, path: str, body: dict, headers: dict[str, str], on_start) -> int:  # type: ignore[no-untyped-def]
    """Drive the ASGI app by hand, calling on_start() when the response's first message goes out."""
    raw = orjson.dumps(body)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    status: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            on_start()

    asyncio.run(app(scope, receive, send))
    return status[0]


def test_an_ack_is_committed_before_its_answer_is_sent(store, client):
    store.load_inventory()
    alert_id = add_alert(store.dsn, entity="kiosk-pv-01", agency="so-tttt")
    seen: list[object] = []

    def read_back() -> None:
        with psycopg.connect(store.dsn, autocommit=True) as conn:
            seen.append(conn.execute("SELECT acked_by FROM alerts WHERE id = %s", (alert_id,)).fetchone()[0])

    status = _post(
        client.app, f"/api/v1/alerts/{alert_id}/ack", {"by": "Nguyễn Văn An"}, store.key("operator"), read_back
    )
    assert status == 200
    assert seen == ["Nguyễn Văn An"]
