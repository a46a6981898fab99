"""The composition root: the one place that wires collectors, the store, alerting and the API together."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Protocol

import uvicorn
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from psycopg_pool import ConnectionPool

from ioc.settings import Settings
from ioc.store.batch import CommittedBatch
from ioc.store.connect import make_pool

log = logging.getLogger("ioc")


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def make_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def store_reachable(pool: ConnectionPool) -> bool:
    try:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def broker_reachable(settings: Settings) -> bool:
    """A TCP connection to the broker opens (for processes that hold no MQTT session of their own)."""
    target = settings.mqtt
    try:
        socket.create_connection((target.host, target.port), timeout=2).close()
        return True
    except OSError:
        return False


def build_services(
    settings: Settings, roles: set[str], pool: ConnectionPool, registry: CollectorRegistry
) -> tuple[list[Service], dict[str, Callable[[], bool]]]:
    """Create the services of the given roles, wired together; also the readiness checks they add."""
    from ioc.store.maintenance import StoreMaintenance

    # Every process may do the upkeep; an advisory lock lets one at a time do it.
    services: list[Service] = [StoreMaintenance(pool, settings)]
    checks: dict[str, Callable[[], bool]] = {
        "store": lambda: store_reachable(pool),
        "broker": lambda: broker_reachable(settings),
    }
    listeners: list[Callable[[CommittedBatch], None]] = []
    alert_service = None
    if "alerts" in roles:
        from alerts.service import AlertService

        alert_service = AlertService(settings, pool=pool, registry=registry, in_process=("ingest" in roles))
        listeners.append(alert_service.on_committed)
    if "ingest" in roles:
        from collectors.ingest import IngestService

        ingest = IngestService(settings, registry=registry, listeners=listeners)
        services.append(ingest)
        checks["broker"] = lambda: ingest.connected
    if alert_service is not None:
        services.append(alert_service)
    return services, checks


def run_service(settings: Settings, roles: set[str]) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    from ioc.api.app import create_app

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry = make_registry()
    pool = make_pool(settings.database_url, max_size=settings.db_pool_size, name="ioc-api")
    pool.open(wait=False)
    services, checks = build_services(settings, roles, pool, registry)
    app = create_app(settings, pool=pool, registry=registry, readiness=checks, full_api="api" in roles)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="warning"))
    started: list[Service] = []
    try:
        for service in services:
            service.start()
            started.append(service)
        log.info("ioc running: roles %s, HTTP on port %d", ",".join(sorted(roles)), settings.http_port)
        server.run()
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %s failed", type(service).__name__)
        pool.close()
    return 0
