"""A message the old leader had taken out to send when it lost the lead (alerts/leadership.py): the new
leader waits for it to finish before sending it again, and never sends one it finished; one nobody had
taken goes at once."""

from __future__ import annotations

import time

import psycopg
from alert_helpers import Receiver, load_inventory, write_rules
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb

from alerts.delivery.persist import DeliveryState, message_to_json
from alerts.grouping import AlertSnapshot, Notification
from alerts.service import AlertService
from ioc.settings import load_settings

GRACE_S = 1.5


def message(entity: str) -> Notification:
    labels = {"alertname": "kiosk_down", "entity": entity, "site": "xa-phu-vang"}
    alert = AlertSnapshot(None, entity, "firing", "critical", f"{entity} is down", labels, {}, time.time(), None)
    return Notification(f'{{}}:{{site="xa-phu-vang"}}:{entity}', {"site": "xa-phu-vang"}, (alert,))


def test_the_new_leader_waits_for_the_messages_the_old_one_was_sending(dsn, pool, receiver: Receiver, tmp_path):
    load_inventory(dsn, kiosks=3)
    with psycopg.connect(dsn) as conn:
        # The old leader (epoch 1, its lease run out) was sending 01 and 02; 03 it had not come to.
        conn.execute("INSERT INTO alerts_leader (epoch, holder, expires_at) VALUES (1, 'old:1:dead', now())")
        for entity, epoch in (("kiosk-pv-01", 1), ("kiosk-pv-02", 1), ("kiosk-pv-03", None)):
            conn.execute(
                "INSERT INTO alert_outbox (receiver, integration, message, sending_epoch) VALUES ('ioc', 0, %s, %s)",
                (Jsonb(message_to_json(message(entity))), epoch),
            )
    settings = load_settings(
        database_url=dsn, alert_webhook_urls=receiver.url + "/hook", rules_dir=write_rules(tmp_path / "rules"),
        alert_lease_s=2, alert_tick_s=0.05,
    )  # fmt: skip
    service = AlertService(settings, pool=pool, registry=CollectorRegistry(), rules=[], leadership=True)
    service.in_flight_grace_s = GRACE_S
    started = time.monotonic()
    service.start()
    try:
        assert service.leadership is not None and service.leadership.epoch == 2
        (first,) = receiver.wait_for(1, timeout=5)
        assert first["alerts"][0]["labels"]["entity"] == "kiosk-pv-03"
        with psycopg.connect(dsn) as conn:  # the old leader finishes 01: it takes it off the outbox
            DeliveryState.sent(conn, 1)
        time.sleep(GRACE_S / 2)
        assert len(receiver.bodies()) == 1  # 02 waits out the grace
        bodies = receiver.wait_for(2, timeout=GRACE_S + 2)
        assert time.monotonic() - started >= GRACE_S
        time.sleep(0.5)
        assert [b["alerts"][0]["labels"]["entity"] for b in receiver.bodies()] == ["kiosk-pv-03", "kiosk-pv-02"]
        assert bodies[1]["status"] == "firing"
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM alert_outbox").fetchone() == (0,)
    finally:
        service.stop()
