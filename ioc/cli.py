"""The `ioc` command. Each command validates settings first and reports every problem together."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ioc import account_commands, health_check, ingest_commands, probe_commands
from ioc.devices.command import devices_app
from ioc.settings import Settings, SettingsError, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="IOC monitoring service")
inventory_app = typer.Typer(no_args_is_help=True, help="Load and check the inventory (contract section 3)")
keys_app = typer.Typer(no_args_is_help=True, help="API keys (contract section 4)")
rules_app = typer.Typer(no_args_is_help=True, help="Alert rules")
dashboards_app = typer.Typer(no_args_is_help=True, help="Grafana dashboards as code")
routes_app = typer.Typer(no_args_is_help=True, help="Alert routing and receivers (contract section 8)")
notify_app = typer.Typer(no_args_is_help=True, help="Try the receivers (contract section 8)")
app.add_typer(inventory_app, name="inventory")
app.add_typer(keys_app, name="keys")
app.add_typer(account_commands.users_app, name="users")
account_commands.add_key_commands(keys_app)
app.add_typer(rules_app, name="rules")
app.add_typer(probe_commands.probe_app, name="probe")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(routes_app, name="routes")
app.add_typer(notify_app, name="notify")
report_app = typer.Typer(no_args_is_help=True, help="Reports from the store (contract section 9)")
app.add_typer(report_app, name="report")
app.add_typer(devices_app, name="devices")
health_check.add_health_command(app)
app.add_typer(ingest_commands.ingest_app, name="ingest")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Create or upgrade the store (idempotent)."""
    from ioc.store.connect import connect, ensure_database
    from ioc.store.migrate import detect_backend, migrate

    settings = settings_or_exit()
    if ensure_database(settings.database_url):
        typer.echo("created the database")
    with connect(settings.database_url, autocommit=True) as conn:
        applied = migrate(conn, settings)
        backend = detect_backend(conn)
    typer.echo(f"store up to date on {backend}; applied: {', '.join(applied) if applied else 'nothing'}")


@inventory_app.command("check")
def inventory_check(file: Path) -> None:
    """Validate an inventory file without loading it."""
    from ioc.inventory import InventoryError, read_inventory

    try:
        inv = read_inventory(file)
    except InventoryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: ok ({len(inv.agencies)} agencies, {len(inv.sites)} sites, {len(inv.entities)} entities)")


@inventory_app.command("load")
def inventory_load(file: Path) -> None:
    """Validate an inventory file and make it the stored inventory."""
    from ioc.inventory import InventoryError, read_inventory, store_inventory
    from ioc.store.connect import connect

    settings = settings_or_exit()
    try:
        inv = read_inventory(file)
    except InventoryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    with connect(settings.database_url) as conn:
        counts = store_inventory(conn, inv)
    typer.echo(f"{file}: loaded {counts['agencies']} agencies, {counts['sites']} sites, {counts['entities']} entities")


class Role(StrEnum):
    all = "all"
    ingest = "ingest"
    alerts = "alerts"
    api = "api"


@app.command()
def run(
    role: Annotated[list[Role] | None, typer.Option("--role", help="Run only these parts (repeatable)")] = None,
) -> None:
    """Start ingest, alerting and the HTTP API, each in processes of its own under one supervisor.

    With --role, run only those parts, in this one process (for scaling out, or under systemd).
    """
    from ioc.runtime import run_service

    settings = settings_or_exit()
    roles = {r.value for r in role} if role else {"all"}
    if "all" in roles or "alerts" in roles:
        rules_or_exit(settings)
    if "all" in roles:
        from ioc.supervisor import supervise

        sys.exit(supervise(settings))
    sys.exit(run_service(settings, roles))


def rules_or_exit(settings: Settings) -> None:
    """Check the alert rules (shipped and IOC_RULES_DIR) before anything starts; list every problem."""
    from alerts.rules import RuleError, load_rules

    try:
        load_rules(settings.rules_dir)
    except RuleError as exc:
        typer.echo(f"invalid alert rules (IOC_RULES_DIR={settings.rules_dir}):", err=True)
        typer.echo("\n".join(f"  {p}" for p in exc.problems), err=True)
        raise typer.Exit(2) from None


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin")],
    agency: Annotated[str | None, typer.Option(help="Bind the key to one agency's entities and alerts")] = None,
    name: Annotated[str, typer.Option(help="Who or what the key is for; shown in the audit log")] = "",
    expires: Annotated[
        str | None, typer.Option(help="When the key stops working: in 90m, 12h, 30d, or at an RFC 3339 time")
    ] = None,
) -> None:
    """Create an API key and print it (only its hash is stored)."""
    from datetime import UTC, datetime

    from ioc.auth import create_key, parse_expiry
    from ioc.store.connect import connect

    settings = settings_or_exit()
    with connect(settings.database_url) as conn:
        try:
            expires_at = parse_expiry(expires, datetime.now(UTC)) if expires is not None else None
            key = create_key(conn, role, agency, name, expires_at)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(key)


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Rules directory (default: the shipped rules)")] = None,
) -> None:
    """Validate alert rule files; each error names the file, the rule and the key."""
    from alerts.rules import check

    rules, problems = check(directory)
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise typer.Exit(1)
    typer.echo(f"{directory or 'default rules'}: ok ({len(rules)} rules)")


@routes_app.command("check")
def routes_check(file: Path) -> None:
    """Validate a routes file; each error names its key (`route.routes[1].matchers[0]: ...`)."""
    from alerts.routes.config import RoutesError, load_routes

    try:
        config = load_routes(file)
    except RoutesError as exc:
        typer.echo(f"{file}: invalid routes file", err=True)
        typer.echo("\n".join(f"  {p}" for p in exc.problems), err=True)
        raise typer.Exit(1) from None
    routes = len(build_routes(config))
    intervals = len(config.intervals())
    typer.echo(
        f"{file}: ok ({len(config.receivers)} receivers, {routes} routes, "
        f"{intervals} time interval{'' if intervals == 1 else 's'})"
    )


def build_routes(config: object) -> list[object]:
    from alerts.routes.config import RoutesConfig
    from alerts.routes.tree import build_tree

    assert isinstance(config, RoutesConfig)
    return list(build_tree(config.route).walk())


@notify_app.command("test")
def notify_test(
    receiver: Annotated[str, typer.Argument(help="A receiver of IOC_ALERT_ROUTES_FILE (`ioc` without one)")],
) -> None:
    """Send a test message through one receiver and say what each of its integrations answered."""
    from alerts.notifiers.trial import send_trial

    settings = settings_or_exit()
    lines, ok = send_trial(settings, receiver)
    for line in lines:
        typer.echo(line, err=not ok)
    if not ok:
        raise typer.Exit(1)


@app.command()
def simulate(
    inventory: Annotated[Path, typer.Option(help="Inventory whose entities to bring to life")],
    scenario: Annotated[Path | None, typer.Option(help="Scenario YAML with the faults to inject")] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second")] = 1.0,
    truth_out: Annotated[Path | None, typer.Option(help="Write the ground truth (JSON, or YAML by extension)")] = None,
    duration: Annotated[float | None, typer.Option(help="Simulated seconds to run (default: forever)")] = None,
    start: Annotated[str | None, typer.Option(help="Simulated start, ISO 8601 with offset (default: see docs)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same run")] = 1,
) -> None:
    """Publish realistic metrics for every entity of an inventory, with faults from a scenario."""
    from datetime import datetime

    from collectors.simulator.command import SimulateError
    from collectors.simulator.command import simulate as run_simulation
    from collectors.simulator.scenario import ScenarioError
    from ioc.inventory import InventoryError, read_inventory

    settings = settings_or_exit()
    try:
        inv = read_inventory(inventory)
        begin = datetime.fromisoformat(start) if start else None
        run_simulation(
            settings, inv, scenario_file=scenario, speed=speed, duration_s=duration, start=begin,
            truth_out=truth_out, seed=seed, echo=typer.echo,
        )  # fmt: skip
    except (InventoryError, ScenarioError, SimulateError, ConnectionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        typer.echo(f"error: --start: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def score(
    truth: Annotated[Path, typer.Option(help="Ground truth written by `ioc simulate --truth-out`")],
    since: Annotated[str | None, typer.Option(help="Count alerts from (ISO 8601; default: the run's start)")] = None,
    until: Annotated[str | None, typer.Option(help="Count alerts until (default: the run's end + grace)")] = None,
    grace: Annotated[float, typer.Option(help="Seconds after an incident's end a page still counts")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Compare the alerts raised during a scenario with its ground truth: recall, precision, pages, delay."""
    from datetime import datetime, timedelta

    import orjson

    from ioc.scoring import TruthError, read_truth, render, score_store
    from ioc.store.connect import connect

    settings = settings_or_exit()
    try:
        run_truth = read_truth(truth)
        bounds = [datetime.fromisoformat(v) if v else None for v in (since, until)]
    except TruthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        typer.echo(f"error: --since/--until: {exc}", err=True)
        raise typer.Exit(2) from None
    if any(b is not None and b.tzinfo is None for b in bounds):
        typer.echo("error: --since/--until need a UTC offset, e.g. 2026-11-23T08:00:00+07:00", err=True)
        raise typer.Exit(2)
    with connect(settings.database_url) as conn:
        result = score_store(conn, run_truth, since=bounds[0], until=bounds[1], grace=timedelta(seconds=grace))
    if as_json:
        typer.echo(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(render(result, run_truth))


DEFAULT_DASHBOARDS_DIR = Path("deploy/grafana/dashboards")


@dashboards_app.command("build")
def dashboards_build(
    out: Annotated[Path, typer.Option(help="Folder for the JSON files")] = DEFAULT_DASHBOARDS_DIR,
) -> None:
    """Write every dashboard as JSON (sorted keys), as Grafana's file provisioning reads them."""
    from dashboards.registry import write_all

    for path in write_all(out):
        typer.echo(f"wrote {path}")


@dashboards_app.command("push")
def dashboards_push() -> None:
    """Upload every dashboard to IOC_GRAFANA_URL with IOC_GRAFANA_TOKEN, overwriting older versions."""
    from grafana_client.client import GrafanaException

    from dashboards.push import push_all

    settings = settings_or_exit()
    if settings.grafana_url is None:
        typer.echo("error: IOC_GRAFANA_URL is not set", err=True)
        raise typer.Exit(2)
    try:
        results = push_all(str(settings.grafana_url), settings.grafana_token, console_url=settings.public_url)
    except GrafanaException as exc:
        typer.echo(f"error: Grafana at {settings.grafana_url} refused: {exc}", err=True)
        raise typer.Exit(1) from None
    for result in results:
        typer.echo(f"pushed {result.get('uid')} version {result.get('version')}: {result.get('url')}")


@app.command()
def demo(
    inventory: Annotated[Path | None, typer.Option(help="Default: deploy/examples/province.yaml")] = None,
    scenario: Annotated[Path | None, typer.Option(help="Faults to inject (default: scenarios/demo.yaml)")] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second")] = 1.0,
    duration: Annotated[float | None, typer.Option(help="Simulated seconds to run (default: until Ctrl-C)")] = None,
    truth_out: Annotated[Path | None, typer.Option(help="Write the scenario's ground truth here")] = None,
) -> None:
    """Migrate, load the sample province, run the service and the simulator with faults, and print where to look.

    Unless IOC_DATABASE_URL / IOC_MQTT_URL are set, it runs PostgreSQL / Mosquitto of its own under var/.
    """
    from collectors.simulator.demo import run_demo
    from collectors.simulator.scenario import ScenarioError
    from ioc.inventory import InventoryError

    settings = settings_or_exit()
    try:
        code = run_demo(
            settings, inventory_file=inventory, scenario_file=scenario, speed=speed, duration_s=duration,
            truth_out=truth_out, echo=typer.echo,
        )  # fmt: skip
    except (InventoryError, ScenarioError, FileNotFoundError, RuntimeError, ConnectionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


class ReportFormat(StrEnum):
    csv = "csv"
    html = "html"


@report_app.command("sla")
def report_sla(
    month: Annotated[str, typer.Option(help="The local month, YYYY-MM (e.g. 2026-11)")],
    agency: Annotated[str | None, typer.Option(help="Only this agency's entities and KPIs")] = None,
    format: Annotated[ReportFormat, typer.Option("--format", help="csv, or html printable on A4")] = ReportFormat.csv,
    out: Annotated[Path | None, typer.Option(help="Write here (default: standard output)")] = None,
) -> None:
    """Monthly SLA report: per entity uptime, downtime, maintenance and incidents; per agency its KPIs."""
    import time

    from ioc.reports.sla import build, to_csv, to_html
    from ioc.store.connect import connect

    settings = settings_or_exit()
    with connect(settings.database_url) as conn:
        try:
            report = build(conn, month, agency=agency, timezone=settings.timezone, now=time.time())
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        names: dict[str, str] = dict(conn.execute("SELECT id, name FROM agencies").fetchall())
    text = to_csv(report) if format == ReportFormat.csv else to_html(report, settings.timezone, names)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def main() -> None:
    app()
