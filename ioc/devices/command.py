"""`ioc devices credentials`: the broker's password and ACL files from the inventory (contract section 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

devices_app = typer.Typer(no_args_is_help=True, help="Devices' MQTT accounts (contract section 11)")


@devices_app.command("credentials")
def credentials(
    inventory: Annotated[Path, typer.Option(help="Inventory file: one account per entity")],
    out: Annotated[Path, typer.Option(help="Folder for the broker's `passwd` and `acl` files")],
    rotate: Annotated[
        list[str] | None, typer.Option(help="Give this account a new password: kind/id, or `ioc` (repeatable)")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Group of the files (the broker's, e.g. mosquitto, or 1883 in its image)")
    ] = None,
    service_user: Annotated[str, typer.Option(help="The service's own username (in IOC_MQTT_URL)")] = "ioc",
) -> None:
    """Write OUT/passwd and OUT/acl; print each new password once: `kind/id username password`.

    Accounts already in OUT/passwd keep their passwords unless named with --rotate; entities no longer in
    the inventory lose theirs. The broker applies the files on reload (SIGHUP).
    """
    from ioc.cli import settings_or_exit  # not at the top: ioc.cli imports this module
    from ioc.devices.accounts import AccountError, accounts_for
    from ioc.devices.credentials import ACL_FILE, PASSWD_FILE, issue
    from ioc.devices.credentials_file import format_line
    from ioc.devices.passwords import PasswordFileError
    from ioc.inventory import InventoryError, read_inventory

    settings = settings_or_exit()
    try:
        inv = read_inventory(inventory)
    except InventoryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    try:
        accounts = accounts_for(inv, settings.mqtt_topic_prefix, service_user)
        issued = issue(accounts, out, source=inventory.name, rotate=set(rotate or ()), group=group)
    except (AccountError, PasswordFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    for account, password in issued.passwords:
        typer.echo(format_line(account.ref, account.username, password))
    new = len(issued.passwords) - len(issued.rotated)
    summary = f"{len(accounts)} accounts: {new} new, {len(issued.rotated)} rotated, {len(issued.kept)} unchanged"
    if issued.removed:
        summary += f", {len(issued.removed)} removed ({', '.join(issued.removed)})"
    typer.echo(f"wrote {out / PASSWD_FILE} and {out / ACL_FILE}; {summary}", err=True)
    if issued.passwords or issued.removed:
        typer.echo("reload the broker to apply them (SIGHUP: `docker compose kill -s HUP mosquitto`)", err=True)
