"""Shared by the alert tests: a local HTTP receiver (webhook, Telegram), an inventory with a link and
the kiosks behind it, rule texts, and committed batches built as the ingest writer builds them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg

from ioc.inventory import parse_inventory, store_inventory
from ioc.model import StatusUpdate
from ioc.store.batch import CommittedBatch
from ioc.store.series import SeriesKey, SeriesRegistry

PHU_VANG_KIOSK = "Kiosk lấy số 01 – UBND xã Phú Vang"


def inventory_yaml(kiosks: int = 20, interval_s: float = 10) -> str:
    lines = [
        "agencies:",
        '  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}',
        "sites:",
        '  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}',
        '  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}',
        "entities:",
        '  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, interval_s: 10}',
        '  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", system: dvc_portal, agency: so-tttt,',
        "     site: dc-tinh}",
    ]
    for i in range(1, kiosks + 1):
        name = PHU_VANG_KIOSK if i == 1 else f"Kiosk lấy số {i:02d}"
        lines.append(
            f'  - {{kind: kiosk, id: kiosk-pv-{i:02d}, name: "{name}", site: xa-phu-vang, agency: so-tttt,'
            f" depends_on: [link/wan-xa-phu-vang], interval_s: {interval_s:g}}}"
        )
    return "\n".join(lines) + "\n"


def load_inventory(dsn: str, kiosks: int = 20, interval_s: float = 10) -> None:
    """The inventory of `inventory_yaml`, the kiosks' interval `interval_s` (heartbeat 3 x that)."""
    with psycopg.connect(dsn) as conn:
        store_inventory(conn, parse_inventory(inventory_yaml(kiosks, interval_s)))


# Rules with no `for`, so end-to-end tests page at once.
FAST_RULES = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
  - name: link_down
    kind: link
    type: threshold
    metric: up
    op: "<"
    threshold: 0.5
    down: true
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
  - name: service_slow
    kind: service
    type: percentile
    metric: response_ms
    quantile: 0.95
    window: 5m
    op: ">"
    threshold: 3000
    clear: 2000
    severity: warning
    summary: {vi: "{name} phản hồi chậm (p95 {value:.0f} ms)", en: "{name} is slow (p95 {value:.0f} ms)"}
"""


def write_rules(directory: Path, text: str = FAST_RULES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(text, encoding="utf-8")
    return directory


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST (path and JSON body) and answers with
    the status codes queued in `answers` (200 once they run out)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    code = receiver.answers.pop(0) if receiver.answers else 200
                    if code == 200:
                        receiver.requests.append((self.path, orjson.loads(body)))
                reply = b'{"ok": true}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[Any]:
        with self.lock:
            return [body for _, body in self.requests]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies()
            if len(bodies) >= count:
                return bodies
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.bodies())}: {self.bodies()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition", every: float = 0.01
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


class Batches:
    """Builds CommittedBatch objects the way the ingest writer does, with series created in the store."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.registry = SeriesRegistry()

    def ids(self, keys: list[SeriesKey]) -> list[int]:

        with psycopg.connect(self.dsn) as conn:
            resolved = self.registry.resolve(conn, keys)
        return [resolved[k] for k in keys]

    def samples(
        self, rows: list[tuple[str, str, str, float, float]], statuses: list[StatusUpdate] | None = None
    ) -> CommittedBatch:
        """rows: (kind, entity, metric, ts, value)."""
        keys = [SeriesKey(k, e, m) for k, e, m, _, _ in rows]
        ids = self.ids(keys) if keys else []
        seen: dict[tuple[str, str], float] = {}
        for k, e, _, t, _ in rows:
            seen[(k, e)] = max(seen.get((k, e), t), t)
        return CommittedBatch(
            np.array(ids, dtype=np.int32),
            np.array([r[3] for r in rows], dtype=np.float64),
            np.array([r[4] for r in rows], dtype=np.float64),
            statuses=statuses or [],
            entities_seen=seen,
        )
