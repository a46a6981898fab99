"""What a new leader takes over (alerts/service.py, alerts/leadership.py), two alert services in this
process against a real PostgreSQL: the windows of the old leader's alerts, primed from the store, so a
handover does not resolve what still fires; and the messages the old leader had taken out to send when
it lost the lead, which the new one waits for before sending again (never one the old one finished),
while one nobody had taken goes at once."""

from __future__ import annotations

import time

import psycopg
from alert_helpers import Batches, Receiver, load_inventory, wait_until, write_rules
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb

from alerts.delivery.persist import DeliveryState, message_to_json
from alerts.grouping import AlertSnapshot, Notification
from alerts.service import AlertService
from ioc.settings import load_settings
from ioc.store.connect import make_pool

GRACE_S = 1.5


def test_a_standby_takes_over_the_leaders_windows_and_does_not_resolve_what_still_fires(
    dsn, pool, receiver: Receiver, tmp_path
):
    load_inventory(dsn, kiosks=1)
    settings = load_settings(
        database_url=dsn, alert_webhook_urls=receiver.url + "/hook", rules_dir=write_rules(tmp_path / "rules"),
        alert_lease_s=1, alert_tick_s=0.05, alert_group_wait_s=0.2,
    )  # fmt: skip
    other_pool = make_pool(dsn, max_size=4, name="ioc-alerts-standby")
    other_pool.open(wait=True)
    batches = Batches(dsn)
    leader = AlertService(settings, pool=pool, registry=CollectorRegistry(), leadership=True)
    standby = AlertService(settings, pool=other_pool, registry=CollectorRegistry(), leadership=True)
    try:
        leader.start()
        standby.start()
        assert leader.leads() and not standby.leads()
        # Four minutes of a slow portal (p95 over 5 minutes), committed and evaluated by the leader.
        now = time.time()
        slow = batches.samples(
            [("service", "dvc-portal", "response_ms", now - 240 + 12 * i, 5000.0) for i in range(20)]
        )
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "INSERT INTO samples (series_id, ts, value) "
                "SELECT s, to_timestamp(t), v FROM unnest(%s, %s, %s) u(s, t, v)",
                (slow.series_ids.tolist(), slow.ts.tolist(), slow.values.tolist()),
            )
        leader.on_committed(slow)
        (fired,) = receiver.wait_for(1)
        assert [a["labels"]["alertname"] for a in fired["alerts"]] == ["service_slow"]

        leader.stop()  # hands the lead back: the standby builds its engine from the store
        wait_until(standby.leads, timeout=3, what="the standby leads")
        assert standby.leadership is not None and standby.leadership.epoch == 2
        assert standby.metrics.leader._value.get() == 1  # type: ignore[attr-defined]
        # Windows are read back for the kinds whose rules keep one: the links' `up` is judged sample by sample.
        assert standby.engine is not None
        assert standby.engine.window_kinds() == {"response_ms": ["service"], "up": ["service"],
                                                 "dossiers_overdue": ["service"]}  # fmt: skip
        # One fast answer: the p95 of the primed window is still far above the clear threshold.
        standby.on_committed(batches.samples([("service", "dvc-portal", "response_ms", time.time(), 100.0)]))
        time.sleep(1.0)
        assert len(receiver.bodies()) == 1, receiver.bodies()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT rule, state FROM alerts").fetchall() == [("service_slow", "firing")]
    finally:
        leader.stop()
        standby.stop()
        other_pool.close()


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
