"""`ioc demo`: the whole IOC on one machine, a simulated province feeding it, and where to look."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from collectors.simulator.command import simulate
from ioc.auth import create_key
from ioc.inventory import read_inventory, store_inventory
from ioc.settings import Settings
from ioc.store.connect import connect, ensure_database
from ioc.store.migrate import migrate


def default_inventory() -> Path:
    """The sample province, from the working directory or the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "deploy" / "examples" / "province.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("deploy/examples/province.yaml not found: pass --inventory")


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not answer {url} within {timeout_s:.0f} s")


def run_demo(
    settings: Settings,
    *,
    inventory_file: Path | None = None,
    scenario_file: Path | None = None,
    speed: float = 1.0,
    duration_s: float | None = None,
    truth_out: Path | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    inventory_file = inventory_file or default_inventory()
    inventory = read_inventory(inventory_file)
    if ensure_database(settings.database_url):
        echo("created the database")
    with connect(settings.database_url, autocommit=True) as conn:
        migrate(conn, settings)
    with connect(settings.database_url) as conn:
        store_inventory(conn, inventory)
        key = create_key(conn, "admin", name="ioc demo")
    echo(f"loaded {inventory_file}: {len(inventory.entities)} entities")

    # The service runs as `ioc run` in its own process, with this process's environment and settings.
    env = dict(os.environ)
    env.update({"IOC_DATABASE_URL": settings.database_url, "IOC_MQTT_URL": settings.mqtt_url,
                "IOC_HTTP_PORT": str(settings.http_port), "IOC_SPOOL_DIR": str(settings.spool_dir)})  # fmt: skip
    service = subprocess.Popen([sys.executable, "-c", "from ioc.cli import main; main()", "run"], env=env)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    base = f"http://127.0.0.1:{settings.http_port}"
    try:
        wait_healthy(f"{base}/healthz", service)
        echo(
            "\n".join([
                "",
                "IOC demo is running.",
                f"  admin API key:   {key}",
                f"  API:             {base}/api/v1/entities   (OpenAPI: {base}/docs)",
                f"  public status:   {base}/status",
                f"  own metrics:     {base}/metrics",
                "  try:",
                f"    curl -H 'Authorization: Bearer {key}' '{base}/api/v1/entities?kind=link'",
                f"    curl -H 'Authorization: Bearer {key}' '{base}/api/v1/alerts?state=firing'",
                f"    curl -H 'Authorization: Bearer {key}' "
                f"'{base}/api/v1/entities/service/dvc-portal/series/response_ms?step=60'",
                "  Ctrl-C stops the simulator and the service.",
                "",
            ])
        )  # fmt: skip
        simulate(
            settings, inventory, scenario_file=scenario_file, speed=speed, duration_s=duration_s,
            truth_out=truth_out, stop=stop, echo=echo, client_id="ioc-demo-simulator",
        )  # fmt: skip
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        clean = service.returncode in (0, -signal.SIGTERM)
        echo("service stopped" if clean else f"service stopped with exit code {service.returncode}")
    return 0 if clean else 1
