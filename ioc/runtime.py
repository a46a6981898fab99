"""The composition root: the one place that wires collectors, the store, alerting and the API together."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

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


class PeerReadiness:
    """Another process of the same service (under the supervisor): ready when its /readyz says so."""

    def __init__(self, url: str, timeout_s: float = 1.0):
        parts = urlsplit(url)
        self.name = parts.fragment or parts.netloc
        self.url = urlunsplit((parts.scheme, parts.netloc, "/readyz", "", ""))
        self.timeout_s = timeout_s
        self._problems: list[str] = []

    def ready(self) -> bool:
        import httpx

        try:
            answer = httpx.get(self.url, timeout=self.timeout_s)
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            self._problems = [f"{self.name}: no answer from {self.url}"]
            return False
        self._problems = [f"{self.name}: {p}" for p in body.get("problems", [])]
        failed = [name for name, ok in body.get("checks", {}).items() if not ok]
        if failed:
            self._problems.append(f"{self.name}: not ready ({', '.join(failed)})")
        return answer.status_code == 200

    def problems(self) -> list[str]:
        """What its last answer named (read after ready())."""
        return self._problems


Readiness = tuple[dict[str, Callable[[], bool]], list[Callable[[], list[str]]]]


def build_services(
    settings: Settings, roles: set[str], pool: ConnectionPool, registry: CollectorRegistry
) -> tuple[list[Service], Readiness]:
    """Create the services of the given roles, wired together; also the readiness checks they add
    and the sources of problems /readyz names."""
    from ioc.store.maintenance import StoreMaintenance

    # Every process may do the upkeep; an advisory lock lets one at a time do it.
    services: list[Service] = [StoreMaintenance(pool, settings)]
    checks: dict[str, Callable[[], bool]] = {
        "store": lambda: store_reachable(pool),
        "broker": lambda: broker_reachable(settings),
    }
    problems: list[Callable[[], list[str]]] = []
    listeners: list[Callable[[CommittedBatch], None]] = []
    alert_service = None
    if "alerts" in roles:
        from alerts.service import AlertService

        # One leads among all alerts processes (on this machine and others); a standby is ready too.
        alert_service = AlertService(
            settings, pool=pool, registry=registry, in_process=("ingest" in roles), leadership=True
        )
        listeners.append(alert_service.on_committed)
        assert alert_service.leadership is not None
        checks["alerting"] = alert_service.leadership.healthy
        problems.append(alert_service.leadership.problems)
    if "ingest" in roles:
        from collectors.ingest import IngestService
        from collectors.ingest.membership import IngestMember

        ingest = IngestService(settings, registry=registry, listeners=listeners)
        services.append(IngestMember(settings, ingest))  # registered, heartbeating; leaves on stop
        checks["broker"] = lambda: ingest.connected
        problems.append(ingest.problems)
    if alert_service is not None:
        services.append(alert_service)
    for url in settings.peer_urls:
        peer = PeerReadiness(str(url))
        checks[peer.name] = peer.ready
        problems.append(peer.problems)
    return services, (checks, problems)


class PortUnavailable(Exception):
    """The process's HTTP port cannot be listened on (under `ioc run`: IOC_HTTP_PORT + 1 + ...)."""

    def __init__(self, port: int, exc: OSError):
        super().__init__(f"cannot listen on port {port}: {exc.strerror or exc}")


def run_service(settings: Settings, roles: set[str]) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness call of a peer otherwise
    registry = make_registry()
    pool = make_pool(settings.database_url, max_size=settings.db_pool_size, name=f"ioc-{'-'.join(sorted(roles))}")
    pool.open(wait=False)
    services, (checks, problems) = build_services(settings, roles, pool, registry)
    started: list[Service] = []
    try:
        for service in services:
            service.start()
            started.append(service)
        log.info("ioc running: roles %s, HTTP on port %d", ",".join(sorted(roles)), settings.http_port)
        if "api" in roles:
            _serve_api(settings, pool, registry, checks, problems)
        else:
            _serve_health(settings, registry, checks, problems)
    except PortUnavailable as exc:
        log.error("%s; under `ioc run` the API takes IOC_HTTP_PORT, alerting the next port and ingest process "
                  "i the one after plus i: free them or choose another IOC_HTTP_PORT", exc)  # fmt: skip
        return 1
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %s failed", type(service).__name__)
        pool.close()
    return 0


def _serve_api(
    settings: Settings,
    pool: ConnectionPool,
    registry: CollectorRegistry,
    checks: dict[str, Callable[[], bool]],
    problems: list[Callable[[], list[str]]],
) -> None:
    """The HTTP API (and health) with uvicorn, until SIGINT/SIGTERM (uvicorn's own handlers)."""
    import uvicorn

    from ioc.api.app import create_app

    app = create_app(settings, pool=pool, registry=registry, readiness=checks, warnings=problems)
    uvicorn.Server(uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="warning")).run()


def _serve_health(
    settings: Settings,
    registry: CollectorRegistry,
    checks: dict[str, Callable[[], bool]],
    problems: list[Callable[[], list[str]]],
) -> None:
    """Only /healthz, /readyz and /metrics (the standard library's server), until SIGINT/SIGTERM."""
    from ioc.health_server import HealthServer

    stop = threading.Event()
    try:
        server = HealthServer(
            settings.http_host, settings.http_port, registry=registry, checks=checks, problems=problems
        )
    except OSError as exc:
        raise PortUnavailable(settings.http_port, exc) from None
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        stop.wait()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
