"""GET /api/v1/entities/{kind}/{id}/series/{metric}: the same answers on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

T0 = 1_795_000_000.0  # 2026-11-18T07:46:40Z; not minute-aligned on purpose
HOUR = 3600.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def data(any_store):
    """Two label sets of one metric, two hours of samples every 10 s, plus a decoy metric and entity."""
    any_store.load_inventory()
    a = [(T0 + i * 10, float(i % 7)) for i in range(720) if not 300 <= i < 400]  # cpu0 has a gap
    b = [(T0 + 5 + i * 10, 100.0 + i % 5) for i in range(720)]
    # TimescaleDB: the first part materialized as its refresh policy would, the rest answered in real time.
    cut = (T0 // HOUR + 1) * HOUR
    for name, samples in (("cpu0", a), ("cpu1", b)):
        any_store.samples("kiosk", "kiosk-pv-01", "cpu_pct", [s for s in samples if s[0] < cut], {"cpu": name})
    any_store.refresh_rollups(until=cut)
    for name, samples in (("cpu0", a), ("cpu1", b)):
        any_store.samples("kiosk", "kiosk-pv-01", "cpu_pct", [s for s in samples if s[0] >= cut], {"cpu": name})
    any_store.samples("kiosk", "kiosk-pv-01", "mem_pct", [(T0, 50.0)])
    any_store.samples("kiosk", "kiosk-pd-01", "cpu_pct", [(T0, 99.0)])
    return {"cpu0": a, "cpu1": b}


@pytest.fixture
def api(any_store, make_client):
    client = make_client(any_store.dsn)
    headers = any_store.key("viewer")

    def get(path: str, **params):
        return client.get(f"/api/v1/entities/{path}", params=params, headers=headers)

    return get


def averages(samples, step, start, end):
    """Reference: average per epoch-aligned bucket, range widened to whole buckets."""
    first = (start // step) * step
    last = (end // step) * step
    buckets: dict[float, list[float]] = {}
    for ts, value in samples:
        b = (ts // step) * step
        if first <= b <= last:
            buckets.setdefault(b, []).append(value)
    return [[iso(b), sum(v) / len(v)] for b, v in sorted(buckets.items())]


def test_raw_points_in_time_order_split_by_labels(api, data):
    start, end = T0 + 100, T0 + 200
    body = api("kiosk/kiosk-pv-01/series/cpu_pct", **{"from": iso(start), "to": str(end)}).json()
    merged = sorted([(ts, v, "cpu0") for ts, v in data["cpu0"]] + [(ts, v, "cpu1") for ts, v in data["cpu1"]])
    expected = [[iso(ts), v] for ts, v, _ in merged if start <= ts <= end]
    assert body["points"] == expected
    assert len(expected) == 21
    assert body["series"] == [
        {"labels": {"cpu": "cpu0"}, "points": [[iso(ts), v] for ts, v in data["cpu0"] if start <= ts <= end]},
        {"labels": {"cpu": "cpu1"}, "points": [[iso(ts), v] for ts, v in data["cpu1"] if start <= ts <= end]},
    ]


def test_label_filter(api, data):
    body = api("kiosk/kiosk-pv-01/series/cpu_pct", **{"from": str(T0), "to": str(T0 + 60), "label.cpu": "cpu1"}).json()
    assert [s["labels"] for s in body["series"]] == [{"cpu": "cpu1"}]
    assert body["points"] == [[iso(ts), v] for ts, v in data["cpu1"] if ts <= T0 + 60]
    none = api("kiosk/kiosk-pv-01/series/cpu_pct", **{"from": str(T0), "label.cpu": "cpu9"}).json()
    assert none == {"points": [], "series": []}


@pytest.mark.parametrize("step", ["30", "60", "5m", "1h", "7200s"])
def test_step_averages_equal_raw_averages(api, data, step):
    seconds = {"30": 30, "60": 60, "5m": 300, "1h": 3600, "7200s": 7200}[step]
    start, end = T0 + 17, T0 + 2 * HOUR - 1
    body = api("kiosk/kiosk-pv-01/series/cpu_pct", **{"from": str(start), "to": iso(end), "step": step}).json()
    everything = data["cpu0"] + data["cpu1"]
    expected = averages(everything, seconds, start, end)
    assert len(body["points"]) == len(expected)
    for (ts, value), (want_ts, want) in zip(body["points"], expected, strict=True):
        assert ts == want_ts
        assert value == pytest.approx(want, rel=1e-12)
    by_labels = {s["labels"]["cpu"]: s["points"] for s in body["series"]}
    for name in ("cpu0", "cpu1"):
        want = averages(data[name], seconds, start, end)
        assert [p[0] for p in by_labels[name]] == [w[0] for w in want]
        assert [p[1] for p in by_labels[name]] == pytest.approx([w[1] for w in want], rel=1e-12)


def test_default_range_is_the_last_hour(any_store, make_client):
    import time

    now = time.time()
    any_store.load_inventory()
    any_store.samples("link", "wan-xa-phu-vang", "rtt_ms", [(now - 4000, 1.0), (now - 1800, 2.0), (now - 1, 3.0)])
    client = make_client(any_store.dsn, clock=lambda: now)
    body = client.get("/api/v1/entities/link/wan-xa-phu-vang/series/rtt_ms", headers=any_store.key("viewer")).json()
    assert [v for _, v in body["points"]] == [2.0, 3.0]


def test_unknown_entity_is_404(api, data):
    response = api("kiosk/kiosk-xx-01/series/cpu_pct")
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown entity kiosk/kiosk-xx-01"}


def test_unassigned_entity_with_series_is_served(api, any_store):
    any_store.samples("kiosk", "kiosk-la-99", "cpu_pct", [(T0, 1.5)])
    body = api("kiosk/kiosk-la-99/series/cpu_pct", **{"from": str(T0 - 1), "to": str(T0 + 1)}).json()
    assert body["points"] == [[iso(T0), 1.5]]


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"from": "yesterday"}, 422,
         "query parameter 'from': 'yesterday' is neither an RFC 3339 time nor Unix seconds"),
        ({"to": "2026-11-22T08:00:00"}, 422,
         "query parameter 'to': '2026-11-22T08:00:00' has no time zone offset (add Z or +07:00)"),
        ({"step": "5 minutes"}, 422, "query parameter 'step': '5 minutes' is not a duration such as 60, 60s, 5m or 1h"),
        ({"step": "0"}, 422, "query parameter 'step': must be greater than zero"),
        ({"from": "200", "to": "100"}, 422, "query parameter 'from': must not be after 'to'"),
        ({"from": "0", "to": "1000000", "step": "1"}, 422,
         "query parameter 'step': more than 20000 steps: widen the step or narrow the range"),
        ({"label.": "x"}, 422, "query parameter 'label.': needs a label name after 'label.'"),
    ],
)  # fmt: skip
def test_bad_parameters(api, data, params, status, detail):
    response = api("kiosk/kiosk-pv-01/series/cpu_pct", **params)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_bad_path_parameters(api, data):
    response = api("printer/kiosk-pv-01/series/cpu_pct")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("path parameter 'kind': ")
    response = api("kiosk/kiosk-pv-01/series/CPU")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("path parameter 'metric': String should match pattern")


def test_steps_of_whole_minutes_read_rollups_beyond_raw_retention(api, any_store, data):
    """Once raw samples are gone (retention), minute and hour steps still answer from the rollups."""
    cut = (T0 // HOUR + 1) * HOUR
    with any_store.connect() as conn:
        conn.execute("DELETE FROM samples WHERE ts < to_timestamp(%s)", (cut,))
    window = {"from": str(T0), "to": str(cut - 1)}
    assert api("kiosk/kiosk-pv-01/series/cpu_pct", **window).json()["points"] == []
    assert api("kiosk/kiosk-pv-01/series/cpu_pct", step="30", **window).json()["points"] == []
    everything = data["cpu0"] + data["cpu1"]
    for step, seconds in (("1m", 60), ("1h", 3600)):
        body = api("kiosk/kiosk-pv-01/series/cpu_pct", step=step, **window).json()
        want = averages(everything, seconds, T0, cut - 1)
        assert [p[0] for p in body["points"]] == [w[0] for w in want]
        assert [p[1] for p in body["points"]] == pytest.approx([w[1] for w in want], rel=1e-12)
