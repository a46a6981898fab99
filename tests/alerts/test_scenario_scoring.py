"""Alert quality end to end: the province simulator publishes a scenario with several fault types over
a real Mosquitto, the real ingest service stores it in PostgreSQL and hands each committed batch to
the real alert service (wired as `ioc.runtime.build_services` wires them, default rules), and
`ioc.scoring` holds the alerts against the scenario's ground truth.

Simulated time runs SPEED times faster than the wall clock, and never ahead of it (the simulator starts
the run that far in the past). Ingest and alerts share the simulator's clock, so `for` durations,
heartbeats, holds and group waits are all in simulated seconds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psycopg
from alert_helpers import Receiver
from prometheus_client import CollectorRegistry

from alerts.service import AlertService
from collectors.ingest import IngestService
from collectors.simulator.engine import Simulator
from collectors.simulator.runner import MqttSink, run
from collectors.simulator.scenario import parse_scenario
from collectors.simulator.truth import ground_truth
from ioc.inventory import read_inventory, store_inventory
from ioc.scoring import parse_truth, render, score_store
from ioc.settings import load_settings
from ioc.store.connect import make_pool

PROVINCE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "province.yaml"
SPEED = 60.0
SCENARIO = """
name: "Chấm điểm cảnh báo: đường truyền, kiosk, máy in, Cổng DVC, LGSP, đường truyền chập chờn và suy giảm"
duration: 14m
incidents:
  - {id: mat-ket-noi-phu-vang, type: link_down, target: link/wan-xa-phu-vang, at: 1m, duration: 4m}
  - {id: kiosk-hcc-treo, type: kiosk_crash, target: kiosk/kiosk-hcc-04, at: 2m, duration: 4m}
  - {id: het-giay-an-cuu, type: paper_out, target: kiosk/kiosk-an-cuu-01, at: 1m, duration: 8m}
  - {id: cong-dvc-cham, type: portal_slow, target: service/dvc-portal, at: 2m, duration: 6m, factor: 15}
  - {id: chap-chon-phong-son, type: link_flapping, target: link/wan-xa-phong-son, at: 3m, duration: 7m,
     period_s: 120}
  - {id: suy-giam-vinh-thanh, type: link_degraded, target: link/wan-xa-vinh-thanh, at: 4m, duration: 7m,
     loss_pct: 12, rtt_ms: 250}
  - {id: lgsp-gian-doan, type: lgsp_outage, target: service/lgsp, at: 9m, duration: 4m}
"""
# The longest each fault may take to page, in simulated seconds: the rule's `for`, a report interval,
# the topology hold (20 s) for dependents, the group wait and a few batches.
MAX_DELAY_S = {"link_down": 75, "kiosk_crash": 45, "paper_out": 400, "portal_slow": 300, "link_flapping": 75,
               "link_degraded": 180, "lgsp_outage": 120}  # fmt: skip


class SimClock:
    """Simulated now: where the simulator has got to (it only moves forward)."""

    def __init__(self, start: float):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, t: float) -> None:
        self.t = max(self.t, t)


def test_a_scenario_pages_once_per_incident_and_nothing_else(dsn, broker, tmp_path: Path):
    inventory = read_inventory(PROVINCE)
    with psycopg.connect(dsn) as conn:
        store_inventory(conn, inventory)
    scenario = parse_scenario(SCENARIO, inventory, "scoring.yaml")
    assert scenario.duration_s is not None
    start = time.time() - scenario.duration_s  # never ahead of the wall clock
    clock = SimClock(start)
    receiver = Receiver()
    settings = load_settings(
        database_url=dsn,
        mqtt_url=broker.url,
        spool_dir=tmp_path / "spool",
        mqtt_client_id=f"ioc-scoring-{os.getpid()}-{time.monotonic_ns()}",
        timescaledb="off",
        alert_webhook_urls=receiver.url + "/hook",
        alert_group_wait_s=2.0,
        alert_tick_s=1.0,
        batch_max_age_ms=30,
    )
    pool = make_pool(dsn, max_size=4, name="ioc-scoring")
    pool.open(wait=True)
    registry = CollectorRegistry()
    # As build_services wires them for `ioc run`, with the simulated clock injected.
    alerts = AlertService(settings, pool=pool, registry=registry, in_process=True, clock=clock)
    ingest = IngestService(settings, registry=registry, listeners=[alerts.on_committed], clock=clock)
    services = [ingest, alerts]
    started = []
    sink = MqttSink(settings.mqtt, client_id="ioc-simulator-scoring")
    try:
        for service in services:
            service.start()
            started.append(service)
        deadline = time.monotonic() + 10
        while not ingest.connected:
            assert time.monotonic() < deadline, "ingest did not connect to the broker"
            time.sleep(0.02)
        time.sleep(0.3)  # the SUBACK
        sim = Simulator(inventory, scenario, start, prefix=settings.mqtt_topic_prefix, seed=7)
        sink.start()
        result = run(sim, sink, duration_s=scenario.duration_s, speed=SPEED, stop=threading.Event(),
                     on_tick=clock.advance)  # fmt: skip
        sink.stop()
        truth = parse_truth(ground_truth(scenario, sim.dependents, start, result.end, complete=True))

        def store_pages() -> list[tuple[str, str]]:
            with psycopg.connect(dsn) as conn:
                rows = conn.execute(
                    "SELECT rule, entity FROM alerts WHERE starts_at IS NOT NULL AND suppressed_by IS NULL "
                    "ORDER BY starts_at, id"
                ).fetchall()
            return [(r[0], r[1]) for r in rows]

        def webhook_pages() -> list[tuple[str, str]]:
            # A group's message lists all its firing alerts, as Alertmanager's do: an incident pages once,
            # at its first appearance (fingerprint and startsAt); later messages of the group repeat it.
            pages = {(a["fingerprint"], a["startsAt"]): (a["labels"]["alertname"], a["labels"]["entity"])
                     for body in receiver.bodies() for a in body["alerts"] if a["status"] == "firing"}  # fmt: skip
            return list(pages.values())

        # The tail of the run drains through ingest, the engine and the group wait.
        deadline = time.monotonic() + 10
        while sorted(webhook_pages()) != sorted(store_pages()) and time.monotonic() < deadline:
            time.sleep(0.1)
        with psycopg.connect(dsn) as conn:
            scored = score_store(conn, truth)
    finally:
        for service in reversed(started):
            service.stop()
        pool.close()
        receiver.close()
    print("\n" + render(scored, truth))
    assert scored.recall == 1.0, render(scored, truth)
    assert [i["pages"] for i in scored.per_incident] == [1] * len(truth.incidents), render(scored, truth)
    assert scored.precision == 1.0 and scored.false_pages == [], render(scored, truth)
    for incident in scored.per_incident:
        assert incident["delay_s"] <= MAX_DELAY_S[incident["type"]], incident
    # What was stored as a page is what people received, each once.
    assert sorted(webhook_pages()) == sorted(store_pages())
    assert len(webhook_pages()) == len(truth.incidents)
