"""API keys that expire and are revoked, and the limit of failed keys by client address, on the real store:
revocation seen at once by two `ioc run --role api` processes, 429 with Retry-After, logs and audit rows."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from seed import Store

from ioc.api.app import create_app
from ioc.auth import create_key
from ioc.settings import load_settings
from ioc.store.connect import make_pool
from tests.service_process import IOC, ioc
from tests.support import free_port

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_app(store: Store) -> Iterator[Callable[..., FastAPI]]:
    """Apps on the test store, each with its own pool (as separate API processes have)."""
    pools = []

    def make(clock: Callable[[], float], **settings: object) -> FastAPI:
        pool = make_pool(store.dsn, max_size=2, name="ioc-auth-test")
        pool.open(wait=True)
        pools.append(pool)
        return create_app(load_settings(database_url=store.dsn, **settings), pool=pool, registry=CollectorRegistry(),
                          readiness={"store": lambda: True}, clock=clock)  # fmt: skip

    yield make
    for pool in pools:
        pool.close()


def _key(store: Store, role: str = "viewer", expires_at: datetime | None = None) -> dict[str, str]:
    with psycopg.connect(store.dsn) as conn:
        return {"Authorization": f"Bearer {create_key(conn, role, None, f'test-{role}', expires_at)}"}


def _audit(store: Store) -> list[tuple[str, str, str, dict[str, object]]]:
    with psycopg.connect(store.dsn) as conn:
        sql = "SELECT actor, action, target, detail FROM audit_log WHERE action LIKE 'auth.%' ORDER BY id"
        rows = conn.execute(sql)
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def api_processes(store: Store) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Two `ioc run --role api` processes on the same store, as two API machines behind a balancer."""
    env = {**os.environ, "IOC_DATABASE_URL": store.dsn, "IOC_TIMESCALEDB": "off", "IOC_MQTT_URL": "mqtt://127.0.0.1:9"}
    procs, bases = [], []
    for _ in range(2):
        port = free_port()
        procs.append(subprocess.Popen([*IOC, "run", "--role", "api"], env={**env, "IOC_HTTP_PORT": str(port)},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        bases.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    for base in bases:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API processes never answered"
            time.sleep(0.1)
    yield env, bases
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def test_revocation_is_seen_within_a_second_by_two_api_processes(
    store: Store, api_processes: tuple[dict[str, str], list[str]]
) -> None:
    env, bases = api_processes
    created = ioc(env, "keys", "create", "--role", "viewer", "--name", "grafana")
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    assert [httpx.get(f"{b}/api/v1/entities", headers=headers).status_code for b in bases] == [200, 200]
    revoked = ioc(env, "keys", "revoke", "1")
    assert revoked.returncode == 0 and "key 1 (viewer, grafana) revoked" in revoked.stdout
    done = time.monotonic()
    answers = [httpx.get(f"{b}/api/v1/entities", headers=headers) for b in bases]  # the first request after
    elapsed = time.monotonic() - done
    assert [a.status_code for a in answers] == [401, 401] and elapsed < 1.0
    assert all(a.json()["detail"].startswith("API key revoked at 20") for a in answers)
    listed = ioc(env, "keys", "list").stdout.splitlines()[1].split("\t")
    assert listed[6].startswith("revoked 20") and listed[7].startswith("20")  # and its last use is shown


def test_expired_key_is_refused_saying_so(store: Store, make_app: Callable[..., FastAPI]) -> None:
    store.load_inventory()
    clock = Clock()
    client = TestClient(make_app(clock))
    headers = _key(store, expires_at=datetime.fromtimestamp(T0 + 3600, UTC))
    assert client.get("/api/v1/entities", headers=headers).status_code == 200
    clock.now = T0 + 3600
    refused = client.get("/api/v1/entities", headers=headers)
    assert (refused.status_code, refused.json()) == (401, {"detail": "API key expired at 2027-01-15T09:00:00Z"})
    assert refused.headers["www-authenticate"] == "Bearer"
    assert _audit(store) == [
        ("api", "auth.key_failed", "key/1", {"source": "testclient", "reason": "expired", "subject": "key/1"})
    ]


def test_last_use_is_written_at_most_once_a_minute(store: Store, make_app: Callable[..., FastAPI]) -> None:
    clock = Clock()
    client = TestClient(make_app(clock))
    headers = _key(store)

    def last_used() -> datetime | None:
        with psycopg.connect(store.dsn) as conn:
            return conn.execute("SELECT last_used_at FROM api_keys").fetchone()[0]  # type: ignore[index]

    assert last_used() is None
    client.get("/api/v1/entities", headers=headers)
    assert last_used() == datetime.fromtimestamp(T0, UTC)
    clock.now = T0 + 59
    client.get("/api/v1/entities", headers=headers)
    assert last_used() == datetime.fromtimestamp(T0, UTC)
    clock.now = T0 + 60
    client.get("/api/v1/entities", headers=headers)
    assert last_used() == datetime.fromtimestamp(T0 + 60, UTC)


def test_failed_keys_from_one_address_get_429_across_processes(
    store: Store, make_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ioc.auth_limits")
    clock = Clock()
    settings = {"auth_fail_limit": 3, "auth_fail_window_s": 60}
    # Two apps with their own pools, as two API processes: the failures of both count together.
    one = TestClient(make_app(clock, **settings), client=("203.0.113.7", 40000))
    two = TestClient(make_app(clock, **settings), client=("203.0.113.7", 40001))
    elsewhere = TestClient(make_app(clock, **settings), client=("198.51.100.2", 40000))
    good = _key(store)
    wrong = {"Authorization": "Bearer ioc_guessed-key-1"}
    for i, client in enumerate([one, two, one]):
        clock.now = T0 + 10 * i
        answer = client.get("/api/v1/entities", headers=wrong)
        assert (answer.status_code, answer.json()) == (401, {"detail": "unknown API key"})
    clock.now = T0 + 25
    for client in (one, two):  # now even the right key is refused from this address, before it is looked at
        limited = client.get("/api/v1/entities", headers=good)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "35"  # the first failure + 60 s
        assert limited.json() == {"detail": "too many failed API keys from 203.0.113.7: try again in 35 s"}
    assert elsewhere.get("/api/v1/entities", headers=good).status_code == 200  # another address is not held up
    clock.now = T0 + 60  # the first failure has left the window
    assert one.get("/api/v1/entities", headers=good).status_code == 200
    failed = {"source": "203.0.113.7", "reason": "unknown", "subject": "ioc_gues"}
    assert _audit(store) == [("api", "auth.key_failed", "ioc_gues", failed)] * 3 + [
        ("api", "auth.blocked", "ioc_gues", {**failed, "scope": "source", "retry_after_s": 40})
    ]
    assert caplog.text.count("auth_failure kind=key source=203.0.113.7 subject='ioc_gues' reason=unknown") == 3
    assert caplog.text.count("auth_refused kind=key scope=source source=203.0.113.7") == 2
    # The audit records are those of GET /api/v1/audit, for an admin key.
    admin = _key(store, "admin")
    shown = elsewhere.get("/api/v1/audit?action=auth.key_failed", headers=admin).json()
    assert [(a["actor"], a["target"], a["detail"]["source"]) for a in shown] == [("api", "ioc_gues", "203.0.113.7")] * 3


def test_a_missing_key_is_not_a_failure(store: Store, make_app: Callable[..., FastAPI]) -> None:
    client = TestClient(make_app(Clock(), auth_fail_limit=1))
    for _ in range(3):
        assert client.get("/api/v1/entities").status_code == 401
    assert client.get("/api/v1/entities", headers=_key(store)).status_code == 200
    assert _audit(store) == []
