"""The province simulator on a fake clock: seasonality, counters, fault injection and ground truth."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from collectors.simulator.engine import WILL_DELAY_S, Message, Simulator
from collectors.simulator.scenario import Scenario, ScenarioError, parse_scenario
from collectors.simulator.seasonality import TZ, activity
from collectors.simulator.truth import ground_truth, write_truth
from ioc.inventory import Inventory, parse_inventory, read_inventory

INVENTORY = """
agencies: [{id: so-tttt, name: "Sở Thông tin và Truyền thông"}]
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: hcc-tinh, name: "Trung tâm Phục vụ hành chính công tỉnh", parent: dc-tinh}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, interval_s: 15}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, device: queue-ticket,
     depends_on: [link/wan-xa-phu-vang]}
  - {kind: kiosk, id: kiosk-pv-02, name: "Kiosk tra cứu", site: xa-phu-vang, device: lookup,
     depends_on: [link/wan-xa-phu-vang]}
  - {kind: kiosk, id: kiosk-pv-03, name: "Máy đánh giá", site: xa-phu-vang, device: feedback,
     depends_on: [link/wan-xa-phu-vang]}
  - {kind: kiosk, id: kiosk-hcc-01, name: "Kiosk lấy số HCC", site: hcc-tinh, device: queue-ticket}
  - {kind: service, id: lgsp, name: "LGSP", system: lgsp, url: "https://lgsp.example.gov.vn/"}
  - {kind: service, id: mot-cua, name: "Một cửa điện tử", system: one_stop_shop, depends_on: [service/lgsp],
     url: "https://motcua.example.gov.vn/"}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", system: dvc_portal,
     url: "https://dichvucong.example.gov.vn/"}
"""

MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=TZ).timestamp()  # a Monday
HOUR = 3600.0


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return parse_inventory(INVENTORY)


def local(day_offset: int, hh: int, mm: int = 0) -> float:
    return MONDAY + day_offset * 86400 + hh * HOUR + mm * 60


def test_office_hours_lunch_dip_and_monday_peak() -> None:
    assert activity(local(1, 3)) == 0  # Tuesday night
    assert activity(local(1, 7, 29)) == 0
    assert activity(local(1, 7, 30)) > 0
    assert activity(local(1, 17)) == 0
    assert activity(local(5, 10)) == 0  # Saturday
    assert activity(local(6, 10)) == 0  # Sunday
    assert activity(local(1, 12)) < 0.5 * activity(local(1, 10))  # lunch dip
    assert activity(local(1, 12)) < 0.5 * activity(local(1, 14))
    assert activity(local(0, 9, 30)) > 1.2 * activity(local(1, 9, 30))  # Monday-morning peak
    assert activity(local(0, 14)) == activity(local(1, 14))


def run(sim: Simulator, start: float, end: float, step: float = 15.0) -> list[tuple[float, Message]]:
    out = [(start, m) for m in sim.initial_messages()]
    t = start
    while t <= end:
        out.extend((t, m) for m in sim.messages_at(t))
        t += step
    return out


def samples(messages: list[tuple[float, Message]], ref: str) -> list[tuple[float, dict[str, float]]]:
    topic = f"ioc/v1/metrics/{ref}"
    return [(t, orjson.loads(m.payload)["metrics"]) for t, m in messages if m.topic == topic]


def test_a_weekday_follows_the_office(inventory: Inventory) -> None:
    sim = Simulator(inventory, Scenario(), MONDAY)
    msgs = run(sim, MONDAY, MONDAY + 86400, step=60)
    hcc = samples(msgs, "kiosk/kiosk-hcc-01")

    def mean_queue(h0: float, h1: float) -> float:
        vals = [m["queue_waiting"] for t, m in hcc if local(0, 0) + h0 * HOUR <= t < local(0, 0) + h1 * HOUR]
        return sum(vals) / len(vals)

    assert mean_queue(0, 7) == 0 and mean_queue(18, 24) == 0
    assert mean_queue(9, 11) > 10
    assert mean_queue(12, 13) < 0.5 * mean_queue(9, 11)
    tickets = [m["tickets_issued_total"] for _, m in hcc]
    assert tickets == sorted(tickets), "counters never go down"
    night = [m["tickets_issued_total"] for t, m in hcc if t < local(0, 7, 30)]
    assert night[-1] == night[0] == 0
    assert tickets[-1] > 500  # a busy provincial centre
    portal = samples(msgs, "service/dvc-portal")
    for name in ("dossiers_received_total", "dossiers_online_total", "dossiers_done_total", "payments_online_total"):
        values = [m[name] for _, m in portal]
        assert values == sorted(values) and values[-1] > 0, name
    received = {t: m["dossiers_received_total"] for t, m in portal}
    day = [t for t in received if local(0, 8) <= t <= local(0, 16)]
    night_ts = [t for t in received if local(0, 18) <= t]
    assert received[max(day)] - received[min(day)] > 10 * (received[max(night_ts)] - received[min(night_ts)] + 1)
    feedback = samples(msgs, "kiosk/kiosk-pv-03")[-1][1]
    assert 0 < feedback["satisfaction_good_total"] <= feedback["satisfaction_votes_total"]
    overdue = [m["dossiers_overdue"] for _, m in portal]
    assert min(overdue) >= 0 and max(overdue) <= 20 and len(set(overdue)) > 1  # a few, moving
    last = portal[-1][1]
    assert 0.9 < last["dossiers_done_ontime_total"] / last["dossiers_done_total"] <= 1.0
    assert 0.5 < last["dossiers_online_total"] / last["dossiers_received_total"] < 0.8


def scenario(inventory: Inventory, incidents: str) -> Scenario:
    return parse_scenario(f"name: test\nincidents:\n{incidents}", inventory)


def test_link_down_silences_its_kiosks_and_their_wills_say_offline(inventory: Inventory) -> None:
    sc = scenario(inventory, "  - {id: inc-1, type: link_down, target: link/wan-xa-phu-vang, at: 10m, duration: 5m}")
    t0 = local(1, 9)
    sim = Simulator(inventory, sc, t0)
    msgs = run(sim, t0, t0 + 30 * 60, step=5)
    down_from, down_to = t0 + 600, t0 + 900
    link = samples(msgs, "link/wan-xa-phu-vang")
    assert all(m["up"] == 0 and m["loss_pct"] == 100 for t, m in link if down_from <= t < down_to)
    assert all(m["up"] == 1 for t, m in link if t < down_from or t >= down_to + 15)
    kiosk = samples(msgs, "kiosk/kiosk-pv-01")
    assert not [t for t, _ in kiosk if down_from <= t < down_to]
    assert [t for t, _ in kiosk if t >= down_to]  # it reports again once the link is back
    status = [(t, m.payload, m.retain) for t, m in msgs if m.topic == "ioc/v1/status/kiosk/kiosk-pv-01"]
    assert status[0][1:] == (b"online", True)
    offline = [t for t, word, _ in status if word == b"offline"]
    assert offline == [pytest.approx(down_from + WILL_DELAY_S, abs=5)]
    assert [t for t, word, _ in status if word == b"online"][1] == down_to
    assert samples(msgs, "kiosk/kiosk-hcc-01")  # a kiosk elsewhere is untouched
    assert not [t for t, m in msgs if m.topic == "ioc/v1/status/kiosk/kiosk-hcc-01" and m.payload == b"offline"]


def test_each_fault_type_shows_in_the_metrics(inventory: Inventory) -> None:
    sc = scenario(
        inventory,
        """
  - {id: crash, type: kiosk_crash, target: kiosk/kiosk-pv-02, at: 60, duration: 600}
  - {id: paper, type: paper_out, target: kiosk/kiosk-hcc-01, at: 60, duration: 600}
  - {id: slow, type: portal_slow, target: service/dvc-portal, at: 60, duration: 600, factor: 10}
  - {id: lgsp, type: lgsp_outage, target: service/lgsp, at: 60, duration: 600}
  - {id: tls, type: tls_expiry, target: service/mot-cua, at: 60, duration: 600, days: 4}
  - {id: flap, type: link_flapping, target: link/wan-xa-phu-vang, at: 60, duration: 600, period_s: 120}
""",
    )
    t0 = local(1, 9)
    baseline = run(Simulator(inventory, Scenario(), t0), t0, t0 + 700, step=5)
    msgs = run(Simulator(inventory, sc, t0), t0, t0 + 700, step=5)
    during = lambda ref, ms=msgs: [m for t, m in samples(ms, ref) if t0 + 60 <= t < t0 + 660]  # noqa: E731
    assert during("kiosk/kiosk-pv-02") == []
    assert (b"offline", True) in [(m.payload, m.retain) for _, m in msgs if m.topic.endswith("kiosk/kiosk-pv-02")]
    assert {m["printer_paper_pct"] for m in during("kiosk/kiosk-hcc-01")} == {0.0}
    slow = sorted(m["response_ms"] for m in during("service/dvc-portal"))
    normal = sorted(m["response_ms"] for m in during("service/dvc-portal", baseline))
    assert slow[len(slow) // 2] > 5 * normal[len(normal) // 2]
    assert {(m["up"], m["http_status"]) for m in during("service/lgsp")} == {(0, 503)}
    assert min(m["error_rate_pct"] for m in during("service/mot-cua")) >= 15
    assert all(3.9 < m["tls_days_left"] <= 4 for m in during("service/mot-cua"))
    ups = [m["up"] for m in during("link/wan-xa-phu-vang")]
    flips = sum(1 for a, b in itertools.pairwise(ups) if a != b)
    assert 0 in ups and 1 in ups and flips >= 6


def test_degraded_link_loses_packets_and_slows(inventory: Inventory) -> None:
    sc = scenario(
        inventory,
        "  - {type: link_degraded, target: link/wan-xa-phu-vang, at: 0, duration: 1h, loss_pct: 10, rtt_ms: 200}",
    )
    msgs = samples(run(Simulator(inventory, sc, local(1, 9)), local(1, 9), local(1, 9, 10)), "link/wan-xa-phu-vang")
    assert all(6 < m["loss_pct"] < 14 and m["rtt_ms"] > 150 and m["up"] == 1 for _, m in msgs)


def test_ground_truth_names_the_dependents(inventory: Inventory, tmp_path: Path) -> None:
    sc = scenario(
        inventory,
        """
  - {id: inc-link, type: link_down, target: link/wan-xa-phu-vang, at: 10m, duration: 15m}
  - {id: inc-lgsp, type: lgsp_outage, target: service/lgsp, at: 20m, duration: 1h}
  - {id: inc-late, type: kiosk_crash, target: kiosk/kiosk-hcc-01, at: 2h, duration: 5m}
""",
    )
    sim = Simulator(inventory, sc, local(1, 9))
    truth = ground_truth(sc, sim.dependents, local(1, 9), local(1, 10), complete=True)
    incidents = {i["id"]: i for i in truth["incidents"]}  # type: ignore[attr-defined]
    assert set(incidents) == {"inc-link", "inc-lgsp"}  # the late one never happened in this run
    assert incidents["inc-link"]["affected"] == [
        "kiosk/kiosk-pv-01", "kiosk/kiosk-pv-02", "kiosk/kiosk-pv-03", "link/wan-xa-phu-vang",
    ]  # fmt: skip
    assert incidents["inc-link"]["start"] == "2026-11-24T09:10:00+07:00"
    assert incidents["inc-lgsp"]["end"] == "2026-11-24T10:00:00+07:00"  # clipped to the run
    assert incidents["inc-lgsp"]["affected"] == ["service/lgsp", "service/mot-cua"]
    write_truth(tmp_path / "truth.json", truth)
    assert orjson.loads((tmp_path / "truth.json").read_bytes()) == orjson.loads(orjson.dumps(truth))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("incidents: [{type: meteor, target: link/wan-xa-phu-vang, at: 0, duration: 1}]",
         "<scenario>: incidents[0].type: 'meteor' is not one of link_down, link_degraded, link_flapping, "
         "kiosk_crash, paper_out, portal_slow, lgsp_outage, tls_expiry"),
        ("incidents: [{type: link_down, target: kiosk/kiosk-pv-01, at: 0, duration: 1}]",
         "<scenario>: incidents[0].target: a link_down fault needs a link, not kiosk/kiosk-pv-01"),
        ("incidents: [{type: link_down, target: link/wan-nowhere, at: 0, duration: 1}]",
         "<scenario>: incidents[0].target: unknown entity 'link/wan-nowhere'"),
        ("incidents: [{type: link_down, target: link/wan-xa-phu-vang, at: soon, duration: 1}]",
         "<scenario>: incidents[0].at: 'soon' is not a duration (seconds, or like 90s, 10m, 1h)"),
        ("incidents: [{type: portal_slow, target: service/dvc-portal, at: 0, duration: 1, speed: 2}]",
         "<scenario>: incidents[0].speed: unknown parameter of portal_slow (allowed: factor)"),
        ("incidents: [{type: kiosk_crash, target: kiosk/kiosk-pv-01, at: 0, duration: 1, factor: 2}]",
         "<scenario>: incidents[0].factor: unknown parameter of kiosk_crash (allowed: none)"),
        ("start: tomorrow",
         "<scenario>: start: must be an ISO 8601 time with an offset, e.g. 2026-11-23T08:00:00+07:00"),
        ("when: now", "<scenario>: when: unknown key (expected name, start, duration, incidents)"),
    ],
)  # fmt: skip
def test_scenario_errors(inventory: Inventory, text: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, inventory)
    assert err.value.problems == [problem]


def test_the_sample_scenarios_fit_the_sample_province() -> None:
    province = read_inventory(Path("deploy/examples/province.yaml"))
    from collectors.simulator.scenario import read_scenario

    kinds = set()
    for path in sorted(Path("deploy/examples/scenarios").glob("*.yaml")):
        kinds |= {i.type for i in read_scenario(path, province).incidents}
    assert kinds == {"link_down", "link_degraded", "link_flapping", "kiosk_crash", "paper_out", "portal_slow",
                     "lgsp_outage", "tls_expiry"}  # fmt: skip
