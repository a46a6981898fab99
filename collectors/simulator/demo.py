"""`ioc demo`: the whole IOC on one machine, a simulated province feeding it, and where to look."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx

from collectors.simulator.command import simulate
from collectors.simulator.scenario import Scenario, read_scenario
from ioc.auth import create_key
from ioc.inventory import Inventory, read_inventory, store_inventory
from ioc.local_services import Account, LocalMosquitto, LocalPostgres, die_with_parent, state_dir
from ioc.settings import Settings
from ioc.store.connect import connect, ensure_database
from ioc.store.migrate import migrate

# What the default rules raise for each fault type, for the schedule the demo prints.
EXPECTED_ALERTS = {
    "link_down": "link_down (the devices behind it are suppressed, not paged)",
    "link_degraded": "link_loss or link_latency",
    "link_flapping": "link_down",
    "kiosk_crash": "kiosk_down",
    "paper_out": "kiosk_paper_low",
    "portal_slow": "service_slow",
    "lgsp_outage": "service_down, and service_errors on the systems depending on it",
    "tls_expiry": "tls_expiring",
}


def default_example(relative: str) -> Path:
    """A file of deploy/examples, from the working directory or the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "deploy" / "examples" / relative
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"deploy/examples/{relative} not found: pass --inventory and --scenario")


def default_inventory() -> Path:
    """The sample province."""
    return default_example("province.yaml")


def start_local_services(settings: Settings, stack: ExitStack, var_dir: Path, echo: Callable[[str], None]) -> Settings:
    """Run PostgreSQL and Mosquitto of the demo's own for whichever of IOC_DATABASE_URL and IOC_MQTT_URL is
    not set (in the environment or .env); `stack` stops them."""
    update: dict[str, str] = {}
    if "database_url" not in settings.model_fields_set:
        account = Account.for_service("postgres")
        pg = LocalPostgres(state_dir("demo-postgres", account, var_dir) / "data", account=account)
        if pg.initialise():
            echo(f"created a PostgreSQL cluster for the demo in {pg.data_dir}")
        stack.enter_context(pg)
        echo(f"IOC_DATABASE_URL is not set: PostgreSQL of the demo's own runs as {account.name} in {pg.data_dir} "
             f"(Unix socket only, log {pg.log_file})")  # fmt: skip
        update["database_url"] = pg.dsn("ioc")
    if "mqtt_url" not in settings.model_fields_set:
        account = Account.for_service("mosquitto")
        broker = LocalMosquitto(state_dir("demo-mosquitto", account, var_dir), account=account)
        stack.enter_context(broker)
        echo(f"IOC_MQTT_URL is not set: Mosquitto of the demo's own runs as {account.name} on {broker.url} "
             f"(data and log in {broker.state})")  # fmt: skip
        update["mqtt_url"] = broker.url
    return settings.model_copy(update=update) if update else settings


def fault_schedule(scenario: Scenario, started: float, live: bool) -> list[str]:
    """One line per incident: when it starts (clock time when the run is live), what, and what to expect."""
    lines = []
    for inc in sorted(scenario.incidents, key=lambda i: i.at_s):
        offset = f"+{int(inc.at_s) // 60}:{int(inc.at_s) % 60:02d}"
        when = f"{datetime.fromtimestamp(started + inc.at_s).strftime('%H:%M:%S')} ({offset})" if live else offset
        lines.append(f"  {when}  {inc.type} on {inc.target} for {inc.duration_s:g} s -> "
                     f"{EXPECTED_ALERTS.get(inc.type, 'see alerts/rules')}")  # fmt: skip
    return lines


class AlertWatcher:
    """Prints each alert as it fires and resolves, read through the API as an operator would."""

    def __init__(
        self, base: str, key: str, echo: Callable[[str], None], *, interval_s: float = 2.0,
        get: Callable[..., httpx.Response] = httpx.get,
    ):  # fmt: skip
        self.url = f"{base}/api/v1/alerts"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.echo, self.interval_s, self.get = echo, interval_s, get
        self.states: dict[int, str] | None = None  # None until the first poll, which only takes stock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ioc-demo-alerts", daemon=True)

    def poll(self) -> None:
        try:
            response = self.get(self.url, params={"state": "pending,firing,resolved", "limit": 200},
                                headers=self.headers, timeout=5)  # fmt: skip
            response.raise_for_status()
        except httpx.HTTPError:
            return  # the service is starting or stopping; the next poll catches up
        first = self.states is None
        states = self.states or {}
        for alert in reversed(response.json()):
            before = states.get(alert["id"])
            states[alert["id"]] = alert["state"]
            if first or alert["state"] == before or alert["state"] == "pending":
                continue
            if alert["state"] == "resolved" and before != "firing":
                continue  # it never fired (or fired unseen between two polls): nothing was paged
            clock = datetime.now().strftime("%H:%M:%S")
            why = f" (suppressed by {alert['suppressed_by']}: not paged)" if alert.get("suppressed_by") else ""
            self.echo(f"[{clock}] alert {alert['state']:<8} {alert['severity']:<8} {alert['rule']} "
                      f"{alert['kind']}/{alert['entity']}: {alert['summary']}{why}")  # fmt: skip
        self.states = states

    def _loop(self) -> None:
        while True:
            self.poll()
            if self.stop.wait(self.interval_s):
                return

    def __enter__(self) -> AlertWatcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)


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
    raise RuntimeError(
        f"the service did not answer {url} within {timeout_s:.0f} s: is its port free? `ioc run` listens on "
        "IOC_HTTP_PORT (default 8000) and the two ports after it; set IOC_HTTP_PORT to choose others"
    )


def run_demo(
    settings: Settings,
    *,
    inventory_file: Path | None = None,
    scenario_file: Path | None = None,
    speed: float = 1.0,
    duration_s: float | None = None,
    truth_out: Path | None = None,
    echo: Callable[[str], None] = print,
    var_dir: Path | None = None,
) -> int:
    """The demo; PostgreSQL and Mosquitto of its own under `var_dir` (default ./var) unless the settings name them."""
    if scenario_file is None and inventory_file is None:
        scenario_file = default_example("scenarios/demo.yaml")
    inventory_file = inventory_file or default_inventory()
    inventory = read_inventory(inventory_file)
    scenario = read_scenario(scenario_file, inventory) if scenario_file else Scenario()
    with ExitStack() as services:
        local = start_local_services(settings, services, (var_dir or Path("var")).resolve(), echo)
        code = _run(local, inventory_file, inventory, scenario_file, scenario, speed, duration_s, truth_out, echo)
    if local is not settings:
        echo("the demo's own services stopped")
    return code


def _run(
    settings: Settings, inventory_file: Path, inventory: Inventory, scenario_file: Path | None, scenario: Scenario,
    speed: float, duration_s: float | None, truth_out: Path | None, echo: Callable[[str], None],
) -> int:  # fmt: skip
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
    # The demo prints an admin key: its API answers this machine only, unless IOC_HTTP_HOST says otherwise.
    env.setdefault("IOC_HTTP_HOST", "127.0.0.1")
    # SIGTERM should this process die without stopping it: nothing of the demo outlives it.
    service = subprocess.Popen([sys.executable, "-c", "from ioc.cli import main; main()", "run"], env=env,
                               preexec_fn=die_with_parent(signal.SIGTERM))  # fmt: skip
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
                f"  store:           {settings.database_url}",
                "  try:",
                f"    curl -H 'Authorization: Bearer {key}' '{base}/api/v1/entities?kind=link'",
                f"    curl -H 'Authorization: Bearer {key}' '{base}/api/v1/alerts?state=firing'",
                f"    curl -H 'Authorization: Bearer {key}' "
                f"'{base}/api/v1/entities/service/dvc-portal/series/response_ms?step=60'",
                "  Ctrl-C stops the simulator, the service and the demo's own PostgreSQL and Mosquitto.",
                "",
            ])
        )  # fmt: skip
        live = scenario.start is None and not (speed > 1 and duration_s is not None)
        if scenario.incidents:
            echo(f"Faults coming ({scenario.name}); alerts are printed here as they fire and resolve:")
            echo("\n".join(fault_schedule(scenario, time.time(), live)))
        with AlertWatcher(base, key, echo):
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
