"""What the chaos suite runs and breaks: a device fleet, a webhook receiver counting pages, and the
faults themselves (a store and a broker of the bench's own, processes found by role, a spool disk).

The fleet publishes as a device does: QoS 1, and whatever the broker has not acknowledged is sent again
after a reconnect (the service stores no second copy of a sample of the same series and `ts`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psutil

PREFIX = "ioc/v1"
INCIDENT_RULE = "chaos_incident"
INCIDENT_SERVICE = "chaos-portal"


def inventory_yaml(kiosks: int) -> str:
    """The fleet sends twice a second but declares 10 s (a heartbeat of 30 s, as kiosks have in the field):
    a fault of a few seconds is not an outage of every device."""
    lines = ["sites:", "  - {id: chaos-site, name: 'UBND xã Thử Nghiệm'}", "agencies:",
             "  - {id: chaos-agency, name: 'Sở Thông tin và Truyền thông'}", "entities:",
             f"  - {{kind: service, id: {INCIDENT_SERVICE}, name: 'Cổng dịch vụ công', site: chaos-site,"
             " agency: chaos-agency, interval_s: 10}"]  # fmt: skip
    for i in range(kiosks):
        lines.append(
            f"  - {{kind: kiosk, id: chaos-k{i:03d}, name: 'Kiosk {i:03d}', site: chaos-site, agency: chaos-agency,"
            " interval_s: 10}"
        )
    return "\n".join(lines) + "\n"


RULES_YAML = f"""\
# The chaos suite's incident: the portal reports incident_active 1 while the bench holds an incident open.
rules:
  - name: {INCIDENT_RULE}
    kind: service
    type: threshold
    metric: incident_active
    op: ">"
    threshold: 0.5
    severity: critical
    summary:
      vi: "{{name}}: sự cố thử nghiệm"
      en: "{{name}}: chaos incident"
"""


def routes_yaml(url: str) -> str:
    """Every alert its own group, flushed at once: one firing and one resolved message per incident."""
    return f"""\
route:
  receiver: chaos
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: chaos
    webhook_configs: [{{url: "{url}", send_resolved: true}}]
"""


@dataclass
class Page:
    alertname: str
    entity: str
    status: str
    starts_at: str
    received: float


class Receiver:
    """A webhook receiver keeping every alert of every message it is sent."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                now = time.time()
                with receiver.lock:
                    for a in body.get("alerts", []):
                        labels = a.get("labels", {})
                        receiver.pages.append(
                            Page(labels.get("alertname", "?"), labels.get("entity", ""), a["status"],
                                 a.get("startsAt", ""), now)
                        )  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def since(self, t0: float) -> list[Page]:
        with self.lock:
            return [p for p in self.pages if p.received >= t0]

    def wait(self, t0: float, alertname: str, status: str, timeout: float) -> Page | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for page in self.since(t0):
                if page.alertname == alertname and page.status == status:
                    return page
            time.sleep(0.1)
        return None


@dataclass
class Fleet:
    """Kiosks and the incident portal publishing every `interval` seconds, each sample counted once acked."""

    host: str
    port: int
    kiosks: int
    interval: float = 0.5
    incident: bool = False
    clock_offset_s: float = 0.0  # the devices' clock, off by this much (a kiosk without NTP)
    acked: Counter[int] = field(default_factory=Counter)  # whole second of ts -> samples acknowledged
    generated: Counter[int] = field(default_factory=Counter)
    resent: int = 0

    def __post_init__(self) -> None:
        self._pending: dict[int, tuple[str, bytes, int, float]] = {}
        self._early: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"chaos-fleet-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.2, 2)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object) -> None:
        # paho's thread: never call into paho while holding our lock (publish takes paho's own lock).
        with self._lock:
            entry = self._pending.pop(mid, None)
            if entry is None:  # acknowledged before _send recorded it
                self._early[mid] = time.monotonic()
        if entry is not None:
            self.acked[entry[2] // 1000] += _samples_in(entry[1])

    def _send(self, topic: str, payload: bytes, ts_ms: int) -> None:
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None or time.monotonic() - early > 5:
                self._pending[info.mid] = (topic, payload, ts_ms, time.monotonic())
                return
        self.acked[ts_ms // 1000] += _samples_in(payload)

    def start(self) -> Fleet:
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            ts_ms = int((time.time() + self.clock_offset_s) * 1000)
            for i in range(self.kiosks):
                metrics = {"cpu_pct": 10 + i % 7, "mem_pct": 40.0, "queue_waiting": i % 5, "temp_c": 45.5}
                self._publish(f"{PREFIX}/metrics/kiosk/chaos-k{i:03d}", ts_ms, metrics)
            portal = {"up": 1, "response_ms": 180.0, "incident_active": 1 if self.incident else 0}
            self._publish(f"{PREFIX}/metrics/service/{INCIDENT_SERVICE}", ts_ms, portal)
            tick += self.interval
            time.sleep(max(0.0, tick - time.monotonic()))

    def _publish(self, topic: str, ts_ms: int, metrics: dict[str, float]) -> None:
        payload = orjson.dumps({"ts": ts_ms / 1000, "metrics": metrics})
        self.generated[ts_ms // 1000] += len(metrics)
        self._send(topic, payload, ts_ms)

    def unacked(self) -> int:
        with self._lock:
            return len(self._pending)

    def resend_stale(self, older_than_s: float = 10.0) -> None:
        """Messages a connection took with it unacknowledged go again, as a device's retry timer does."""
        now = time.monotonic()
        with self._lock:
            stale = [(mid, e) for mid, e in self._pending.items() if now - e[3] > older_than_s]
            for mid, _ in stale:
                del self._pending[mid]
        self.resent += len(stale)
        for _, (topic, payload, ts_ms, _) in stale:
            self._send(topic, payload, ts_ms)

    def pause(self) -> None:
        """No new samples; what is unacknowledged still goes again on resend_stale."""
        self._stop.set()
        time.sleep(self.interval * 2)

    def stop(self) -> None:
        self.pause()
        self.client.disconnect()
        self.client.loop_stop()


def _samples_in(payload: bytes) -> int:
    return len(orjson.loads(payload)["metrics"])


def role_processes(top_pid: int, role: str) -> list[psutil.Process]:
    """The children of `ioc run` (pid `top_pid`) started with `--role ROLE`."""
    found = []
    try:
        children = psutil.Process(top_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for child in children:
        try:
            cmd = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "--role" in cmd and cmd[cmd.index("--role") + 1 : cmd.index("--role") + 2] == [role]:
            found.append(child)
    return found


def kill9(procs: list[psutil.Process]) -> list[int]:
    pids = []
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
            pids.append(proc.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def metric_value(port: int, name: str) -> float | None:
    """One unlabelled sample of a process's /metrics, or None when it is absent or the process is away."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


class SpoolDisk:
    """The spool on a small filesystem of its own (tmpfs, needs root), which the fault fills to the brim."""

    def __init__(self, directory: Path, size_mb: int = 64):
        self.directory = directory
        self.size_mb = size_mb
        self.mounted = False
        self.filler = directory / ".chaos-filler"

    @staticmethod
    def why_not() -> str | None:
        if os.geteuid() != 0:
            return "needs root to mount a tmpfs for the spool"
        return None

    def mount(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "chaos-spool", str(self.directory)],
                       check=True)  # fmt: skip
        self.mounted = True

    def fill(self) -> None:
        """Leave no byte free: write zeros until ENOSPC (unbuffered, so the error comes from a write)."""
        with self.filler.open("wb", buffering=0) as f:
            for size in (1 << 20, 4096, 1):
                block = b"\0" * size
                try:
                    while True:
                        f.write(block)
                except OSError:
                    pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.directory)], check=False)
            self.mounted = False
