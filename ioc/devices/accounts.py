"""Who may log in to the broker and what each may do: one account per entity of the inventory, and the
service's own, written as a Mosquitto ACL file with one explicit `user` block per account.

Explicit blocks rather than `pattern ... %u` lines: the file says in plain words what each account may do,
an account that is not in it may do nothing, and what a device may do does not hang on how the broker
substitutes its username (or client id) into a pattern.

A device's username is its entity's address, `kind/id` (`kiosk/kiosk-pv-01`), as section 2 tells vendors
and the Telegraf configuration uses; in a URL it is written `kiosk%2Fkiosk-pv-01`. A device may publish
only on its own topics of contract section 2 (its Last Will, the retained `offline` on its status topic,
included) and subscribes to nothing. The service reads everything under the prefix (its shared or plain
subscription and its plain status subscription) and the broker figures that ingest watches; it writes
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the inventory brings the store's modules, which `ioc --help` need not load
    from ioc.inventory import Inventory

SERVICE_REF = "ioc"  # how the service's account is named on the command line and in the printed lines
DEFAULT_SERVICE_USERNAME = "ioc"
TOPIC_FAMILIES = ("metrics", "lp", "status", "events")  # contract section 2
_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class AccountError(ValueError):
    """An account that cannot be written, naming the option or entity at fault."""


@dataclass(frozen=True, slots=True)
class Account:
    ref: str  # `kind/id`, or SERVICE_REF
    username: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


def username_for(kind: str, entity: str) -> str:
    return f"{kind}/{entity}"


def device_account(kind: str, entity: str, prefix: str) -> Account:
    topics = tuple(f"{prefix}/{family}/{kind}/{entity}" for family in TOPIC_FAMILIES)
    return Account(f"{kind}/{entity}", username_for(kind, entity), write=topics)


def service_account(prefix: str, username: str = DEFAULT_SERVICE_USERNAME) -> Account:
    if not _USERNAME_RE.match(username):
        raise AccountError(f"--service-user: {username!r} does not match {_USERNAME_RE.pattern}")
    # Here, not at the top: importing ingest takes a third of a second, which every `ioc` command would pay.
    from collectors.ingest.mqtt_source import BROKER_FIGURES

    return Account(SERVICE_REF, username, read=(f"{prefix}/#", *BROKER_FIGURES))


def accounts_for(inventory: Inventory, prefix: str, service_username: str = DEFAULT_SERVICE_USERNAME) -> list[Account]:
    """The service's account first, then one per entity in the inventory's order."""
    if not prefix or any(c.isspace() or c in "+#" for c in prefix):
        raise AccountError(f"IOC_MQTT_TOPIC_PREFIX: {prefix!r} cannot go in an ACL (spaces or wildcards)")
    # Unique: the inventory's kind/id are, and the service's username holds no `/`.
    accounts = [service_account(prefix, service_username)]
    return accounts + [device_account(e.kind, e.id, prefix) for e in inventory.entities]


def render_acl(accounts: Iterable[Account], source: str) -> str:
    lines = [
        f"# Written by `ioc devices credentials` from {source}: do not edit; run the command again.",
        "# One block per account; an account without a block may do nothing (contract section 11).",
    ]
    for account in accounts:
        what = "the service" if account.ref == SERVICE_REF else account.ref
        lines += ["", f"# {what}", f"user {account.username}"]
        lines += [f"topic read {topic}" for topic in account.read]
        lines += [f"topic write {topic}" for topic in account.write]
    return "\n".join(lines) + "\n"
