"""`ioc` as a user runs it: the CLI and `ioc run` as real processes, and a webhook that records pages."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.support import free_port

IOC = [sys.executable, "-c", "from ioc.cli import main; main()"]


def ioc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IOC, *args], env=env, capture_output=True, text=True, timeout=60)


class ServiceProcess:
    """`ioc run` (the supervisor and its children) on the port that env's IOC_HTTP_PORT names."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.base = f"http://127.0.0.1:{env['IOC_HTTP_PORT']}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 90.0) -> ServiceProcess:
        # Four interpreters import FastAPI, numpy and psycopg at once: on a loaded 2-core machine that alone
        # has taken over 30 s.
        self.proc = subprocess.Popen(
            [*IOC, "run"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"ioc run exited: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            time.sleep(0.1)
        self.stop()
        output = self.proc.stdout.read() if self.proc.stdout else ""
        raise AssertionError(f"the service never became ready within {timeout:.0f} s; it said:\n{output[-3000:]}")

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM, as a service manager stops it; returns what it printed. Fails if it does not stop."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("the service did not stop on SIGTERM") from None
        return out


class _Webhook(BaseHTTPRequestHandler):
    received: queue.Queue[dict]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put(json.loads(body.decode("utf-8")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, queue.Queue[dict]]]:
    """A local webhook receiver: its URL and the queue of payloads it received."""
    received: queue.Queue[dict] = queue.Queue()
    handler = type("Webhook", (_Webhook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
