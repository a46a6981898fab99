"""/healthz, /readyz and /metrics for a process without the HTTP API (ingest, alerting): the standard
library's HTTP server, so those processes do without FastAPI and uvicorn (about 25 MB each)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], bool]
Problems = Callable[[], list[str]]


def readiness_report(checks: dict[str, Check], problems: Sequence[Problems]) -> tuple[int, dict[str, object]]:
    """The /readyz answer, the same for the API and for these processes: status code and body."""
    results = {name: bool(check()) for name, check in checks.items()}
    ready = all(results.values())
    body = {"ready": ready, "checks": results, "problems": [p for source in problems for p in source()]}
    return (200 if ready else 503), body


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry,
        checks: dict[str, Check],
        problems: Sequence[Problems] = (),
    ):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    server._send(self, 200, "application/json", orjson.dumps({"status": "ok"}))
                elif path == "/readyz":
                    code, body = readiness_report(checks, problems)
                    server._send(self, code, "application/json", orjson.dumps(body))
                elif path == "/metrics":
                    server._send(self, 200, CONTENT_TYPE_LATEST, generate_latest(registry))
                else:
                    detail = {"detail": f"no {path} here: this process serves /healthz, /readyz and /metrics"}
                    server._send(self, 404, "application/json", orjson.dumps(detail))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, content_type: str, body: bytes) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ioc-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
