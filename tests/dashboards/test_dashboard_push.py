"""`ioc dashboards push` against a local HTTP server standing in for Grafana's HTTP API, checking the calls
as Grafana documents them: GET /api/folders/:uid (404 when missing), POST /api/folders {uid, title},
POST /api/dashboards/db {dashboard (id null, uid of at most 40 characters), folderUid, message, overwrite}
(412 for a dashboard that exists without overwrite), JSON bodies, `Authorization: Bearer <token>`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from dashboards import DASHBOARDS
from dashboards.push import FOLDER_UID, push_all
from ioc.cli import app


class FakeGrafana(ThreadingHTTPServer):
    """Answers the few endpoints the push uses, as Grafana does, and records every request."""

    def __init__(self, token: str):
        super().__init__(("127.0.0.1", 0), Handler)
        self.token = token
        self.requests: list[tuple[str, str, dict | None, str]] = []
        self.folders: set[str] = set()
        self.versions: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_request(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((method, self.path, body, self.headers.get("Authorization", "")))
        if method == "POST" and not self.headers.get("Content-Type", "").startswith("application/json"):
            return self.reply(415, {"message": "Content-Type must be application/json"})
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self.reply(401, {"message": "invalid API key"})
        if method == "GET" and self.path.startswith("/api/folders/"):
            uid = self.path.rsplit("/", 1)[1]
            if uid in self.server.folders:
                return self.reply(200, {"uid": uid, "title": "IOC"})
            return self.reply(404, {"message": "folder not found"})
        if method == "POST" and self.path == "/api/folders":
            if set(body) - {"uid", "title", "parentUid"} or not body.get("title"):
                return self.reply(400, {"message": "bad folder"})
            if body["uid"] in self.server.folders:
                return self.reply(409, {"message": "a folder with the same uid already exists"})
            self.server.folders.add(body["uid"])
            return self.reply(200, {"uid": body["uid"], "title": body["title"]})
        if method == "POST" and self.path == "/api/dashboards/db":
            if set(body) - {"dashboard", "folderUid", "folderId", "message", "overwrite"}:
                return self.reply(400, {"message": f"unknown keys {sorted(body)}"})
            uid = body["dashboard"].get("uid", "")
            if body["dashboard"].get("id") is not None or not 0 < len(uid) <= 40:
                return self.reply(400, {"message": "id must be null and uid 1 to 40 characters"})
            if body.get("folderUid") and body["folderUid"] not in self.server.folders:
                return self.reply(400, {"message": "folder not found"})
            if uid in self.server.versions and not body.get("overwrite"):
                return self.reply(412, {"status": "version-mismatch", "message": "The dashboard has been changed"})
            self.server.versions[uid] = self.server.versions.get(uid, 0) + 1
            return self.reply(
                200, {"status": "success", "uid": uid, "url": f"/d/{uid}", "version": self.server.versions[uid]}
            )
        return self.reply(404, {"message": "not found"})

    def do_GET(self) -> None:
        self.handle_request("GET")

    def do_POST(self) -> None:
        self.handle_request("POST")


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana(token="glsa_test")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_push_creates_the_folder_and_overwrites_every_dashboard(grafana):
    results = push_all(grafana.url, "glsa_test")
    assert [r["uid"] for r in results] == list(DASHBOARDS)
    calls = [(method, path) for method, path, _, _ in grafana.requests]
    assert calls[:2] == [("GET", f"/api/folders/{FOLDER_UID}"), ("POST", "/api/folders")]
    assert calls[2:] == [("POST", "/api/dashboards/db")] * len(DASHBOARDS)
    assert all(auth == "Bearer glsa_test" for *_, auth in grafana.requests)
    saved = [body for method, path, body, _ in grafana.requests if path == "/api/dashboards/db"]
    for body, uid in zip(saved, DASHBOARDS, strict=True):
        assert body["overwrite"] is True
        assert body["folderUid"] == FOLDER_UID
        assert body["dashboard"]["uid"] == uid
    assert saved[0]["dashboard"]["title"] == "Tổng quan tỉnh"
    # Data links open the console at IOC_PUBLIC_URL's default here.
    [console] = [v for v in saved[0]["dashboard"]["templating"]["list"] if v["name"] == "console"]
    assert console["query"] == "http://127.0.0.1:8000"
    # A second push finds the folder and saves new versions.
    grafana.requests.clear()
    again = push_all(grafana.url, "glsa_test")
    assert [(m, p) for m, p, _, _ in grafana.requests][:2] == [
        ("GET", "/api/folders/ioc"),
        ("POST", "/api/dashboards/db"),
    ]
    assert {r["version"] for r in again} == {2}


def test_push_command(grafana, monkeypatch):
    monkeypatch.setenv("IOC_PUBLIC_URL", "https://ioc.example.gov.vn/")
    monkeypatch.setenv("IOC_GRAFANA_URL", grafana.url)
    monkeypatch.setenv("IOC_GRAFANA_TOKEN", "glsa_test")
    result = CliRunner().invoke(app, ["dashboards", "push"])
    assert result.exit_code == 0, result.output
    assert "pushed ioc-overview version 1: /d/ioc-overview" in result.output
    board = next(body for _, path, body, _ in grafana.requests if path == "/api/dashboards/db")["dashboard"]
    [console] = [v for v in board["templating"]["list"] if v["name"] == "console"]
    assert console["query"] == "https://ioc.example.gov.vn"


def test_push_command_reports_a_refusal(grafana, monkeypatch):
    monkeypatch.setenv("IOC_GRAFANA_URL", grafana.url)
    monkeypatch.setenv("IOC_GRAFANA_TOKEN", "wrong")
    result = CliRunner().invoke(app, ["dashboards", "push"])
    assert result.exit_code == 1
    assert f"error: Grafana at {grafana.url}/ refused: Unauthorized" in result.output


def test_push_command_needs_a_url(monkeypatch):
    monkeypatch.delenv("IOC_GRAFANA_URL", raising=False)
    result = CliRunner().invoke(app, ["dashboards", "push"])
    assert result.exit_code == 2
    assert "error: IOC_GRAFANA_URL is not set" in result.output
