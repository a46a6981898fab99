"""`ioc ingest members` and `ioc ingest drain MEMBER`: the ingest members of the shared subscription and
the draining of one gone for good (contract section 11)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from ioc.settings import Settings

ingest_app = typer.Typer(no_args_is_help=True, help="Ingest members and their sessions (contract section 11)")


def _settings() -> Settings:
    from ioc.cli import settings_or_exit  # not at the top: ioc.cli imports this module

    return settings_or_exit()


@ingest_app.command("members")
def members_list() -> None:
    """List ingest members: client id, state, last seen, backlog, host and pid."""
    from ioc.store.connect import connect
    from ioc.store.members import list_members

    settings = _settings()
    with connect(settings.database_url) as conn:
        rows = list_members(conn)
    typer.echo("client_id\tstate\tseen_s_ago\tbacklog\thost\tpid\tdrained_messages")
    for m in rows:
        typer.echo(
            f"{m.client_id}\t{m.state}\t{m.seen_s_ago:.0f}\t{m.backlog}\t{m.host or '-'}\t{m.pid}\t{m.drained_messages}"
        )


@ingest_app.command("drain")
def drain(
    member: Annotated[str, typer.Argument(help="The member's MQTT client id (IOC_MQTT_CLIENT_ID)")],
    stall_s: Annotated[
        float, typer.Option(help="Give up (keeping the session) after this long without progress")
    ] = 30.0,
) -> None:
    """Take over MEMBER's persistent session, store what was queued for it, then end the session.

    Refused while the member runs (its lock is held). Exit code 0 when the session was ended, 1 when it
    was kept (the store did not take everything: nothing is lost, run it again), 3 when the member is busy.
    """
    from collectors.ingest.drain import MemberBusy, drain_member

    settings = _settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not member.strip():
        typer.echo("MEMBER: must be a client id, not empty", err=True)
        raise typer.Exit(2)
    try:
        result = drain_member(settings, member, stall_s=stall_s)
    except MemberBusy as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None
    assert result is not None
    present = {True: "yes", False: "no (nothing was queued)", None: "unknown"}[result.session_present]
    typer.echo(f"member {result.client_id}: session present {present}; {result.messages} messages stored")
    if not result.closed:
        typer.echo("the session was KEPT: not everything could be stored; run the drain again", err=True)
        sys.exit(1)
    typer.echo("session ended: the broker routes nothing more to it")
