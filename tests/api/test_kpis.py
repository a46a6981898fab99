"""GET /api/v1/agencies/{id}/kpis from counters published over MQTT with their own timestamps, across a
counter reset, against figures worked out by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest
from mqtt_backfill import publish, wait_for_samples
from seed import INVENTORY

from collectors.ingest import IngestService
from ioc.kpis import deltas, increase

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
P = "ioc/v1"

# Every 10 minutes from 08:00 to 09:00 local. The one-stop-shop restarted between 08:20 and 08:30 and
# its counters began again from 0.
SERVICE = {
    "dossiers_received_total": [1000, 1005, 1010, 2, 7, 12, 17],  # 5 + 5 + 2 | 5 + 5 + 5 = 27
    "dossiers_online_total": [400, 403, 406, 1, 4, 7, 10],  # 3 + 3 + 1 + 3 + 3 | 3 = 16
    "dossiers_done_total": [900, 904, 908, 912, 916, 920, 924],  # 24
    "dossiers_done_ontime_total": [850, 853, 856, 859, 862, 865, 868],  # 18
    "payments_online_total": [100, 101, 102, 103, 104, 105, 106],  # 6
    "dossiers_overdue": [3, 3, 4, 4, 5, 5, 2],  # last: 2
}
KIOSK = {
    "satisfaction_votes_total": [50, 52, 54, 56, 58, 60, 62],  # 12
    "satisfaction_good_total": [45, 47, 48, 50, 51, 53, 54],  # 9
}
HAND = {
    "dossiers_received": 27.0,
    "online_share_pct": round(100 * 16 / 27, 2),
    "ontime_share_pct": 75.0,
    "dossiers_overdue": 2.0,
    "online_payment_share_pct": 25.0,
    "satisfaction_pct": 75.0,
}


def batch(start: float, metrics: dict[str, list[int]]) -> bytes:
    return orjson.dumps(
        [
            {
                "ts": datetime.fromtimestamp(start + k * 600, UTC).isoformat(),
                "metrics": {name: values[k] for name, values in metrics.items()},
            }
            for k in range(7)
        ]
    )


@pytest.fixture
def published(settings, store, make_client):
    store.load_inventory(INVENTORY)
    now = time.time()
    day = datetime.fromtimestamp(now, HCM).date() - timedelta(days=2)
    start = datetime(day.year, day.month, day.day, 8, 0, tzinfo=HCM).timestamp()
    service = IngestService(settings)
    service.start()
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.3)
        publish(
            settings.mqtt_url,
            [
                (f"{P}/metrics/service/mot-cua", batch(start, SERVICE)),
                (f"{P}/metrics/kiosk/kiosk-pv-01", batch(start, KIOSK)),
                # Another agency's kiosk: not counted.
                (
                    f"{P}/metrics/kiosk/kiosk-pd-01",
                    batch(start, {"satisfaction_votes_total": [0, 9, 18, 27, 36, 45, 54]}),
                ),
            ],
        )
        wait_for_samples(settings.database_url, 7 * (len(SERVICE) + len(KIOSK) + 1))
    finally:
        service.stop()
    return make_client(store.dsn, clock=lambda: now), start


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, HCM).isoformat()


def get(client, store, start, end, step, agency="so-tttt"):
    return client.get(
        f"/api/v1/agencies/{agency}/kpis",
        params={"from": iso(start), "to": iso(end), "step": step},
        headers=store.key("viewer"),
    )


def test_kpis_equal_the_hand_computed_figures_across_a_reset(store, published):
    client, start = published
    response = get(client, store, start, start + 7200, "1h")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agency"] == "so-tttt"
    assert body["from"] == datetime.fromtimestamp(start, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert body["kpis"] == HAND
    first, second = body["series"]
    assert first["dossiers_received"] == 22.0  # 08:10 to 08:50
    assert first["online_share_pct"] == round(100 * 13 / 22, 2)
    assert first["dossiers_overdue"] == 5.0
    assert second["dossiers_received"] == 5.0  # 09:00, after 08:50's 12
    assert second["satisfaction_pct"] == 50.0  # 54 - 53 of 62 - 60


def test_raw_and_hourly_readings_agree(store, published):
    client, start = published
    hourly = get(client, store, start, start + 7200, "2h").json()
    raw = get(client, store, start - 30, start + 7200, "2h").json()  # not on whole hours: raw samples
    assert raw["kpis"] == hourly["kpis"] == HAND
    halves = get(client, store, start, start + 3600, "30m").json()["series"]
    assert [h["dossiers_received"] for h in halves] == [10.0, 12.0]  # 08:10, 08:20 | the reset (2), 08:40, 08:50


def test_a_share_without_denominator_is_null(store, published):
    client, start = published
    body = get(client, store, start + 3 * 3600, start + 4 * 3600, "1h").json()
    assert body["kpis"]["dossiers_received"] == 0.0
    assert body["kpis"]["online_share_pct"] is None and body["kpis"]["satisfaction_pct"] is None


def test_bad_parameters_are_named(store, published):
    client, start = published
    headers = store.key("viewer")
    r = client.get("/api/v1/agencies/so-tttt/kpis", params={"step": "fast"}, headers=headers)
    assert (r.status_code, r.json()["detail"]) == (
        422,
        "query parameter 'step': 'fast' is not a duration such as 60, 60s, 5m or 1h",
    )
    r = get(client, store, start, start - 10, "1h")
    assert (r.status_code, r.json()["detail"]) == (422, "query parameter 'to': must be after from")
    r = client.get("/api/v1/agencies/so-tttt/kpis", params={"from": "2026-11-01T00:00:00"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"].startswith("query parameter 'from'")
    r = get(client, store, start, start + 86400 * 30, "1s")
    assert r.status_code == 422 and r.json()["detail"].startswith("query parameter 'step': more than")
    other = client.get("/api/v1/agencies/so-tttt/kpis", headers=store.key("viewer", agency="vp-ubnd"))
    assert other.status_code == 404


def test_increase_reads_a_drop_as_a_reset():
    values = np.array([10.0, 12.0, 3.0, 4.0])
    assert deltas(values).tolist() == [0.0, 2.0, 3.0, 1.0]
    assert deltas(values, previous=8.0).tolist() == [2.0, 2.0, 3.0, 1.0]
    edges = np.array([0.0, 20.0, 40.0])
    assert increase(np.array([0.0, 10.0, 20.0, 30.0]), values, edges).tolist() == [2.0, 4.0]


def stored_refresh(store, now: float):
    import psycopg

    from ioc.store.uptime_daily import refresh_uptime_daily

    with psycopg.connect(store.dsn, autocommit=True) as conn:
        return refresh_uptime_daily(conn, "Asia/Ho_Chi_Minh", now, settle_s=0)


def test_stored_daily_increases_give_the_same_kpis(store, published):
    client, start = published
    live = [get(client, store, start - 86400, start + 2 * 86400, step).json() for step in ("1d", "1h")]
    result = stored_refresh(store, time.time())
    assert result.kpi_days > 0
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM uptime_dirty").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM kpi_daily").fetchone()[0] > 0
    stored = [get(client, store, start - 86400, start + 2 * 86400, step).json() for step in ("1d", "1h")]
    assert stored == live
    assert stored[0]["kpis"] == HAND
    assert get(client, store, start, start + 7200, "1h").json()["kpis"] == HAND


def test_a_late_counter_sample_is_counted_after_the_days_were_stored(settings, store, published):
    client, start = published
    stored_refresh(store, time.time())
    # One more reading at 09:10 of the same day, published late: 17 -> 20 received.
    late = [{"ts": datetime.fromtimestamp(start + 4200, UTC).isoformat(), "metrics": {"dossiers_received_total": 20}}]
    service = IngestService(settings)
    service.start()
    try:
        assert service.source.wait_connected(10)
        time.sleep(0.3)
        publish(settings.mqtt_url, [(f"{P}/metrics/service/mot-cua", orjson.dumps(late))])
        wait_for_samples(settings.database_url, 7 * (len(SERVICE) + len(KIOSK) + 1) + 1)
    finally:
        service.stop()
    want = {**HAND, "dossiers_received": 30.0, "online_share_pct": round(100 * 16 / 30, 2)}
    assert get(client, store, start, start + 7200, "2h").json()["kpis"] == want  # marked: counted live
    stored_refresh(store, time.time())
    assert get(client, store, start, start + 7200, "2h").json()["kpis"] == want
    assert get(client, store, start - 86400, start + 86400, "1d").json()["kpis"] == want
