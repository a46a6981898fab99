"""`ioc probe http|link|kiosk|all`: the probes that measure inventory entities and publish per the
contract (collectors.probes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ioc.settings import Settings

probe_app = typer.Typer(no_args_is_help=True, help="Probes that measure and publish per the contract")


def _settings() -> Settings:
    from ioc.cli import settings_or_exit  # not at the top: ioc.cli imports this module

    return settings_or_exit()


def _probe(
    kinds: list[str], inventory: Path, entity: list[str] | None, interval: float | None, once: bool, dry_run: bool
) -> None:
    from collectors.probes.command import ProbeCommandError, run_probes
    from ioc.inventory import InventoryError, read_inventory

    settings = _settings()
    try:
        inv = read_inventory(inventory)
    except InventoryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    try:
        count = run_probes(
            settings, inv, kinds, only=set(entity) if entity else None, interval_s=interval, once=once,
            dry_run=dry_run, echo=typer.echo,
        )  # fmt: skip
    except ProbeCommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not dry_run:
        typer.echo(f"published {count} probe results", err=True)


_ProbeInventory = Annotated[Path, typer.Option(help="Inventory file whose entities say what to probe")]
_ProbeEntity = Annotated[list[str] | None, typer.Option(help="Probe only these entity ids (repeatable)")]
_ProbeInterval = Annotated[float | None, typer.Option(help="Seconds between rounds (default: interval_s)")]
_ProbeOnce = Annotated[bool, typer.Option(help="One round, then exit")]
_ProbeDryRun = Annotated[bool, typer.Option(help="Print one round as JSON instead of publishing")]


@probe_app.command("http")
def probe_http(
    inventory: _ProbeInventory, entity: _ProbeEntity = None, interval: _ProbeInterval = None,
    once: _ProbeOnce = False, dry_run: _ProbeDryRun = False,
) -> None:  # fmt: skip
    """Probe service systems (entities with a url): up, response_ms, http_status, tls_days_left."""
    _probe(["http"], inventory, entity, interval, once, dry_run)


@probe_app.command("link")
def probe_link(
    inventory: _ProbeInventory, entity: _ProbeEntity = None, interval: _ProbeInterval = None,
    once: _ProbeOnce = False, dry_run: _ProbeDryRun = False,
) -> None:  # fmt: skip
    """Probe links (entities with a target): rtt_ms, jitter_ms, loss_pct, up; ICMP where permitted, else TCP."""
    _probe(["link"], inventory, entity, interval, once, dry_run)


@probe_app.command("kiosk")
def probe_kiosk(
    inventory: _ProbeInventory, entity: Annotated[list[str], typer.Option(help="This kiosk's entity id")],
    interval: _ProbeInterval = None, once: _ProbeOnce = False, dry_run: _ProbeDryRun = False,
) -> None:  # fmt: skip
    """Run on a kiosk: its cpu_pct, mem_pct, disk_free_pct and temp_c (where the OS exposes it)."""
    _probe(["kiosk"], inventory, entity, interval, once, dry_run)


@probe_app.command("all")
def probe_all(
    inventory: _ProbeInventory, entity: _ProbeEntity = None, interval: _ProbeInterval = None,
    once: _ProbeOnce = False, dry_run: _ProbeDryRun = False,
) -> None:  # fmt: skip
    """Probe services and links of the inventory (and kiosks named with --entity)."""
    _probe(["http", "link", "kiosk"], inventory, entity, interval, once, dry_run)
