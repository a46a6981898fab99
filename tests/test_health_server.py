"""The health endpoints of a process without the API (ingest, alerting), over real HTTP."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter

from ioc.health_server import HealthServer


def test_health_readiness_with_problems_and_metrics():
    registry = CollectorRegistry()
    Counter("ioc_test_things_total", "things", registry=registry).inc(3)
    state = {"broker": True}
    server = HealthServer(
        "127.0.0.1", 0, registry=registry, checks={"store": lambda: True, "broker": lambda: state["broker"]},
        problems=[lambda: ["the MQTT broker is dropping messages"]],
    )  # fmt: skip
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "ready": True, "checks": {"store": True, "broker": True},
            "problems": ["the MQTT broker is dropping messages"],
        }  # fmt: skip
        state["broker"] = False
        not_ready = httpx.get(f"{base}/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["checks"]["broker"] is False
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "ioc_test_things_total 3.0" in metrics.text
        missing = httpx.get(f"{base}/api/v1/entities")
        assert missing.status_code == 404 and "/readyz" in missing.json()["detail"]
    finally:
        server.stop()
