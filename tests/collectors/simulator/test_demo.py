"""`ioc demo` end to end: on a private broker and the test store, and on PostgreSQL and Mosquitto of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from collectors.simulator.demo import AlertWatcher, default_example, default_inventory, fault_schedule
from collectors.simulator.scenario import read_scenario
from ioc.inventory import read_inventory
from ioc.local_services import Account, LocalPostgres, project_root
from tests.support import Broker, free_port

INVENTORY = """
agencies: [{id: so-tttt, name: "Sở Thông tin và Truyền thông"}]
sites: [{id: xa-phu-vang, name: "UBND xã Phú Vang"}]
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, interval_s: 5}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 5}
"""


def test_demo_runs_bounded_and_stops_cleanly(dsn: str, broker: Broker, tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text(INVENTORY, encoding="utf-8")
    port = free_port()
    env = dict(os.environ, IOC_DATABASE_URL=dsn, IOC_MQTT_URL=broker.url, IOC_HTTP_PORT=str(port),
               IOC_SPOOL_DIR=str(tmp_path / "spool"), IOC_TIMESCALEDB="off",
               IOC_MQTT_CLIENT_ID=f"ioc-demo-test-{time.monotonic_ns()}")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", "from ioc.cli import main; main()", "demo", "--inventory", str(tmp_path / "inv.yaml"),
         "--speed", "30", "--duration", "60"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "admin API key:   ioc_" in out
    assert f"http://127.0.0.1:{port}/metrics" in out
    assert out.rstrip().endswith("service stopped")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys WHERE role = 'admin'").fetchone()[0] == 1
        names = {r[0] for r in conn.execute("SELECT name FROM entities WHERE assigned")}
        assert names == {"Đường truyền xã Phú Vang", "Kiosk lấy số 01"}
        stored = conn.execute(
            "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id WHERE r.entity = 'wan-xa-phu-vang'"
        ).fetchone()[0]
    assert stored >= 5, "the simulated province reached the store through the broker and ingest"


# A kiosk hangs a few seconds in: its retained `offline` pages at once (no link in front of it to wait for).
SCENARIO = """
name: "Kiosk treo"
incidents:
  - {id: kiosk-treo, type: kiosk_crash, target: kiosk/kiosk-pv-01, at: 5s, duration: 10m}
"""


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A working directory the services' accounts can traverse to (pytest's tmp_path is 0700 as root)."""
    path = Path(tempfile.mkdtemp(prefix="ioc-demo-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def processes_under(directory: Path) -> list[str]:
    """Command lines of live processes that name `directory` (the demo's postgres -D, mosquitto -c)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if str(directory) in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_demo_without_settings_runs_its_own_services_fires_an_alert_and_stops_them_on_sigint(workdir: Path) -> None:
    (workdir / "inv.yaml").write_text(INVENTORY.replace("depends_on: [link/wan-xa-phu-vang], ", ""), encoding="utf-8")
    (workdir / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(PYTHONPATH=str(project_root()), IOC_HTTP_PORT=str(free_port()), IOC_TIMESCALEDB="off")
    demo = subprocess.Popen(
        [sys.executable, "-c", "from ioc.cli import main; main()", "demo", "--inventory", "inv.yaml",
         "--scenario", "scenario.yaml"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    fired = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "alert firing" in line:
                fired.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        fired.wait(120)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        reader.join(10)
        if demo.stdout is not None:
            demo.stdout.close()
    out = "".join(lines)
    assert fired.is_set(), out
    assert demo.returncode == 0, out
    assert "IOC_DATABASE_URL is not set: PostgreSQL of the demo's own runs as" in out
    assert "IOC_MQTT_URL is not set: Mosquitto of the demo's own runs as" in out
    assert "kiosk_crash on kiosk/kiosk-pv-01 for 600 s -> kiosk_down" in out
    assert "alert firing   critical kiosk_down kiosk/kiosk-pv-01: Kiosk lấy số 01" in out
    assert out.rstrip().endswith("the demo's own services stopped")
    assert processes_under(workdir) == [], "the demo left its services running"

    # What the demo stored is in its cluster, which was shut down cleanly and starts again.
    account = Account.for_service("postgres")
    pg = LocalPostgres(workdir / "var" / "demo-postgres" / "data", account=account)
    with pg, psycopg.connect(pg.dsn("ioc")) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id WHERE r.entity = 'wan-xa-phu-vang'"
        ).fetchone()
        alerts = conn.execute("SELECT rule, entity, state FROM alerts").fetchall()
    assert stored is not None and stored[0] >= 1, "the simulated province reached the demo's store"
    assert ("kiosk_down", "kiosk-pv-01", "firing") in alerts
    assert processes_under(workdir) == []


def test_fault_schedule_gives_clock_time_offset_and_the_alert_to_expect() -> None:
    inventory = read_inventory(default_inventory())
    scenario = read_scenario(default_example("scenarios/demo.yaml"), inventory)
    started = datetime(2026, 12, 2, 9, 0, 0).timestamp()
    lines = fault_schedule(scenario, started, live=True)
    assert lines[0] == "  09:00:45 (+0:45)  kiosk_crash on kiosk/kiosk-hcc-04 for 90 s -> kiosk_down"
    assert lines[1].startswith("  09:01:30 (+1:30)  link_down on link/wan-xa-phu-vang for 120 s -> link_down")
    assert fault_schedule(scenario, started, live=False)[2] == (
        "  +2:00  portal_slow on service/dvc-portal for 240 s -> service_slow"
    )


def alert(ident: int, state: str, suppressed_by: str | None = None) -> dict[str, object]:
    return {"id": ident, "state": state, "severity": "critical", "rule": "kiosk_down", "kind": "kiosk",
            "entity": f"k{ident}", "summary": f"K{ident} mất kết nối", "suppressed_by": suppressed_by}  # fmt: skip


def test_alert_watcher_takes_stock_first_then_prints_firing_and_resolved_once() -> None:
    answers = [
        [alert(1, "firing")],
        [alert(1, "resolved"), alert(2, "pending")],
        [alert(1, "resolved"), alert(2, "firing", "link/wan-1"), alert(3, "firing")],
    ]
    seen_requests: list[dict[str, object]] = []

    def get(url: str, **kwargs: object) -> httpx.Response:
        seen_requests.append({"url": url, **kwargs})
        return httpx.Response(200, json=answers.pop(0), request=httpx.Request("GET", url))

    printed: list[str] = []
    watcher = AlertWatcher("http://127.0.0.1:1", "ioc_key", printed.append, get=get)
    watcher.poll()
    assert printed == [], "alerts from before the demo are not news"
    watcher.poll()
    watcher.poll()
    assert [line.split("] ", 1)[1] for line in printed] == [
        "alert resolved critical kiosk_down kiosk/k1: K1 mất kết nối",
        "alert firing   critical kiosk_down kiosk/k3: K3 mất kết nối",
        "alert firing   critical kiosk_down kiosk/k2: K2 mất kết nối (suppressed by link/wan-1: not paged)",
    ]
    assert seen_requests[0]["url"] == "http://127.0.0.1:1/api/v1/alerts"
    assert seen_requests[0]["headers"] == {"Authorization": "Bearer ioc_key"}


def test_alert_watcher_waits_out_a_service_that_does_not_answer() -> None:
    def get(url: str, **_: object) -> httpx.Response:
        raise httpx.ConnectError("refused")

    printed: list[str] = []
    watcher = AlertWatcher("http://127.0.0.1:1", "k", printed.append, get=get)
    watcher.poll()
    assert watcher.states is None and printed == []


def test_alert_watcher_says_nothing_of_an_alert_that_resolved_without_firing() -> None:
    answers = [[], [alert(4, "pending")], [alert(4, "resolved")], [alert(5, "resolved")]]

    def get(url: str, **_: object) -> httpx.Response:
        return httpx.Response(200, json=answers.pop(0), request=httpx.Request("GET", url))

    printed: list[str] = []
    watcher = AlertWatcher("http://127.0.0.1:1", "k", printed.append, get=get)
    for _ in range(4):
        watcher.poll()
    assert printed == []  # a pending that went away, and one first seen resolved: neither was paged
