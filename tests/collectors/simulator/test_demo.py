"""`ioc demo` end to end on a private broker and the test store: service up, province simulated, clean stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

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
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", "from ioc.cli import main; main()", "demo", "--inventory", str(tmp_path / "inv.yaml"),
         "--speed", "30", "--duration", "60"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - began < 60
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
