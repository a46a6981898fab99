"""What `ioc probe ...` does: probe the inventory's entities and publish, or print, the results."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import orjson

from collectors.probes.publisher import PublisherSet
from collectors.probes.runner import ProbeRunner, jobs_from_inventory
from ioc.inventory import Inventory
from ioc.settings import Settings


class ProbeCommandError(Exception):
    pass


def _accounts(settings: Settings, refs: list[tuple[str, str]]) -> dict[str, tuple[str, str]] | None:
    """Each entity's own broker account from IOC_MQTT_CREDENTIALS_FILE, if set; all of them or an error."""
    from ioc.devices.credentials_file import CredentialsFileError, read_credentials

    path = settings.mqtt_credentials_file
    if path is None:
        return None
    try:
        accounts = read_credentials(path)
    except CredentialsFileError as exc:
        raise ProbeCommandError(f"IOC_MQTT_CREDENTIALS_FILE: {exc}") from None
    missing = [f"{kind}/{entity}" for kind, entity in refs if f"{kind}/{entity}" not in accounts]
    if missing:
        raise ProbeCommandError(f"IOC_MQTT_CREDENTIALS_FILE ({path}): no account for {', '.join(missing)}")
    return accounts


def run_probes(
    settings: Settings,
    inventory: Inventory,
    probes: list[str],
    *,
    only: set[str] | None = None,
    interval_s: float | None = None,
    once: bool = False,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Probe until SIGINT/SIGTERM (or one round with `once`); returns the number of published results."""
    jobs, problems = jobs_from_inventory(inventory, probes, only=only, interval_s=interval_s)
    if problems:
        raise ProbeCommandError("\n".join(problems))
    if not jobs:
        raise ProbeCommandError("nothing to probe: no entity of the inventory has probe settings (see README)")
    published = 0
    if dry_run:

        def show(kind: str, entity: str, metrics: dict[str, float], ts: float) -> None:
            nonlocal published
            echo(orjson.dumps({"topic": f"{settings.mqtt_topic_prefix}/metrics/{kind}/{entity}", "ts": ts,
                               "metrics": metrics}).decode())  # fmt: skip
            published += 1

        ProbeRunner(jobs, show).run(rounds=1)
        return published

    refs = [(j.kind, j.entity) for j in jobs]
    pubs = PublisherSet(settings.mqtt, settings.mqtt_topic_prefix, refs, accounts=_accounts(settings, refs))

    def publish(kind: str, entity: str, metrics: dict[str, float], ts: float) -> None:
        nonlocal published
        pubs.publish(kind, entity, metrics, ts)
        published += 1

    runner = ProbeRunner(jobs, publish)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: runner.stop())
    pubs.start()
    try:
        runner.run(rounds=1 if once else None)
    finally:
        pubs.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return published
