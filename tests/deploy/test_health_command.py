"""`ioc health`, the containers' health check: it asks the process on this container's IOC_HTTP_PORT."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from ioc.health_check import check_health
from ioc.health_server import HealthServer
from tests.support import free_port

READY = {"value": True}


@pytest.fixture
def health_server() -> Iterator[int]:
    """A role's /healthz and /readyz (ioc/health_server.py, as ingest and alerting serve them)."""
    checks = {"store": lambda: READY["value"]}
    problems = [lambda: ["broker dropping 3/min"]]
    server = HealthServer("127.0.0.1", free_port(), registry=CollectorRegistry(), checks=checks, problems=problems)
    server.start()
    yield server.port
    server.stop()
    READY["value"] = True


def ioc_health(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IOC_HTTP_PORT": str(port)}
    return subprocess.run([sys.executable, "-m", "ioc", "health", *args], env=env, capture_output=True, text=True,
                          timeout=30)  # fmt: skip


def test_it_asks_the_port_of_ioc_http_port(health_server: int) -> None:
    answer = ioc_health(health_server)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"ok: http://127.0.0.1:{health_server}/healthz 200"
    other = free_port()
    refused = ioc_health(other)
    assert refused.returncode == 1 and f"failed: http://127.0.0.1:{other}/healthz no answer" in refused.stderr


def test_ready_names_what_is_wrong(health_server: int) -> None:
    assert check_health(health_server, ready=True).ok
    READY["value"] = False
    answer = ioc_health(health_server, "--ready")
    assert answer.returncode == 1
    assert answer.stderr.strip() == (
        f"failed: http://127.0.0.1:{health_server}/readyz 503 not ready: store; broker dropping 3/min"
    )


def test_port_option_overrides_the_setting(health_server: int) -> None:
    assert ioc_health(free_port(), "--port", str(health_server)).returncode == 0
