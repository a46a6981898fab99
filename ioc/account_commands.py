"""`ioc users ...` and `ioc keys list|revoke`: console users and API keys (contract sections 4 and 10)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from ioc.settings import Settings

users_app = typer.Typer(no_args_is_help=True, help="Console users (contract section 10)")


def _settings() -> Settings:
    from ioc.cli import settings_or_exit  # not at the top: ioc.cli imports this module

    return settings_or_exit()


def add_key_commands(keys_app: typer.Typer) -> None:
    """`ioc keys list` and `ioc keys revoke ID`, beside `ioc keys create`."""
    keys_app.command("list")(keys_list)
    keys_app.command("revoke")(keys_revoke)


def keys_list() -> None:
    """List API keys: id, role, agency, name, created, expires, state, last used (never the keys themselves)."""
    from ioc.auth import list_keys
    from ioc.store.connect import connect

    settings = _settings()
    with connect(settings.database_url) as conn:
        keys = list_keys(conn)
    now = datetime.now(UTC)
    typer.echo("id\trole\tagency\tname\tcreated_at\texpires_at\tstate\tlast_used_at")
    for k in keys:
        state = k.state(now)
        if k.revoked_at is not None:
            state = f"revoked {_when(k.revoked_at)}"
        typer.echo(
            f"{k.id}\t{k.role}\t{k.agency or '-'}\t{k.name or '-'}\t{_when(k.created_at)}\t{_when(k.expires_at)}"
            f"\t{state}\t{_when(k.last_used_at)}"
        )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def keys_revoke(key_id: Annotated[int, typer.Argument(metavar="ID", help="The key's id (from ioc keys list)")]) -> None:
    """Revoke an API key at once."""
    from ioc.auth import revoke_key
    from ioc.store.connect import connect

    settings = _settings()
    with connect(settings.database_url) as conn:
        try:
            key = revoke_key(conn, key_id)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"key {key.id} ({key.role}, {key.name or 'no name'}) revoked")


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="The user's login name, shown in the audit log")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")],
    agency: Annotated[str | None, typer.Option(help="Bind the user to one agency's entities and alerts")] = None,
) -> None:
    """Create a console user; the password is read from standard input (one line)."""
    from ioc.store.connect import connect
    from ioc.users import UserError, create_user

    settings = _settings()
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with connect(settings.database_url) as conn:
        try:
            user = create_user(conn, name, password, role, agency)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"user {user.name} created ({user.role}{', agency ' + user.agency if user.agency else ''})")


@users_app.command("list")
def users_list() -> None:
    """List console users: name, role, agency, and whether disabled, or refused to new browsers for a while
    after failed logins (IOC_AUTH_USER_FAIL_LIMIT)."""
    from ioc.auth_limits import Limits, user_blocked_until
    from ioc.store.connect import connect
    from ioc.users import list_users

    settings = _settings()
    now = datetime.now(UTC)
    with connect(settings.database_url) as conn:
        users = list_users(conn)
        blocked = {u.name: user_blocked_until(conn, u.name, now.timestamp(), Limits.of(settings)) for u in users}
    typer.echo("name\trole\tagency\tstate")
    for u in users:
        state = "disabled" if u.disabled_at else "active"
        until = blocked[u.name]
        if u.disabled_at is None and until is not None:
            state = f"login limited until {_when(until)}"
        typer.echo(f"{u.name}\t{u.role}\t{u.agency or '-'}\t{state}")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="The user's login name")]) -> None:
    """Disable a console user and end their sessions."""
    from ioc.store.connect import connect
    from ioc.users import UserError, disable_user

    settings = _settings()
    with connect(settings.database_url) as conn:
        try:
            disable_user(conn, name)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"user {name} disabled")
