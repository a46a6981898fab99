"""kpi_below_target against the province simulator on a fake clock: a healthy province never pages, whatever
the time of day or week it starts at (a fresh store just after opening, a Monday peak, a weekend without
votes), and an agency genuinely below target pages once and stays open until it recovers.

The simulator's reports are read as the store reads counters (`ioc.kpis.increase` over the last 24 h),
and handed to the check every 5 simulated minutes, as the alert service does.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest

from alerts.alert import FIRING, RESOLVED
from alerts.kpi_check import CHECK_INTERVAL_S, WINDOW_S, KpiCheck
from collectors.simulator.engine import Simulator
from collectors.simulator.scenario import Scenario
from ioc.inventory import Inventory, read_inventory
from ioc.kpis import COUNTERS, GAUGES, bases_of, increase, kpis_of
from ioc.settings import Settings

PROVINCE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "province.yaml"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STEP_S = 30.0  # the kiosks' and services' report interval
TARGETS = Settings.model_fields["kpi_targets"].default
MIN_COUNT = Settings.model_fields["kpi_min_count"].default
HOUR = 3600.0


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


def kpi_reporters(inventory: Inventory, **attrs_by_agency: dict[str, object]) -> Inventory:
    """The entities that report KPI counters (feedback tablets, dossier systems), others left out to keep the
    run short; `attrs_by_agency` adds attributes to an agency's entities."""
    entities = []
    for e in inventory.entities:
        if e.attrs.get("device") == "feedback" or e.system in ("one_stop_shop", "dvc_portal"):
            extra = attrs_by_agency.get((e.agency or "").replace("-", "_"), {})
            entities.append(dataclasses.replace(e, depends_on=(), attrs={**e.attrs, **extra}))
    return dataclasses.replace(inventory, entities=tuple(entities))


class Province:
    """The simulator's counter samples by agency, and their KPIs over a window, as the store computes them."""

    def __init__(self, inventory: Inventory, start: float, seed: int):
        self.sim = Simulator(inventory, Scenario(), start, seed=seed)
        self.agency_of = {e.ref: e.agency for e in inventory.entities}
        self.agencies = sorted({a for a in self.agency_of.values() if a})
        self.samples: dict[tuple[str, str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        self.t = start

    def advance(self, until: float) -> None:
        while self.t < until:
            for message in self.sim.messages_at(self.t):
                if "/metrics/" not in message.topic:
                    continue
                ref = message.topic.split("/metrics/", 1)[1]
                body = orjson.loads(message.payload)
                for metric, value in body["metrics"].items():
                    if metric in COUNTERS or metric in GAUGES:
                        ts, values = self.samples[(self.agency_of[ref] or "", ref, metric)]
                        ts.append(body["ts"])
                        values.append(value)
            self.t += STEP_S

    def readings(self, now: float, *, exact: bool = False) -> tuple[dict, dict, list[str]]:
        """Per agency the KPIs and share bases over [now - 24 h, now), and the agencies whose counters do not
        reach back before the window (`partial`). The simulator's counters never drop, so a counter's increase
        is its last value before `now` less its last before the window (or its first inside, which adds
        nothing); `exact` counts with `ioc.kpis.increase` instead, as the store does."""
        start = now - WINDOW_S
        totals: dict[str, dict[str, float]] = {a: dict.fromkeys(COUNTERS, 0.0) for a in self.agencies}
        overdue: dict[str, float | None] = dict.fromkeys(self.agencies)
        covered: set[str] = set()
        for (agency, _, metric), (ts, values) in self.samples.items():
            lo, hi = bisect_left(ts, start), bisect_left(ts, now)
            if metric in GAUGES:
                if hi > 0:
                    overdue[agency] = (overdue[agency] or 0.0) + values[hi - 1]
                continue
            if lo > 0 and ts[lo - 1] >= start - WINDOW_S:
                covered.add(agency)
            if hi == 0 or hi == lo == len(ts):
                continue
            if exact:
                previous = values[lo - 1] if lo > 0 else None
                edges = np.array([start, now])
                got = float(increase(np.array(ts[lo:hi]), np.array(values[lo:hi]), edges, previous)[0])
            else:
                got = values[hi - 1] - values[lo - 1 if lo > 0 else lo] if hi > lo else 0.0
            totals[agency][metric] += got
        kpis = {a: kpis_of(totals[a], overdue[a]) for a in self.agencies}
        bases = {a: bases_of(totals[a]) for a in self.agencies}
        return kpis, bases, [a for a in self.agencies if a not in covered]


def run_check(province: Province, check: KpiCheck, end: float) -> list[tuple]:
    """Every alert change (time, state, agency, kpi, bases, starts_at) from where the province is to `end`."""
    changes = []
    now = province.t + CHECK_INTERVAL_S
    while now <= end:
        province.advance(now)
        kpis, bases, partial = province.readings(now)
        for alert in check.evaluate(kpis, {}, now, bases=bases, partial=partial):
            changes.append((now, alert.state, alert.agency, alert.labels["kpi"], bases[alert.agency], alert.starts_at))
        now += CHECK_INTERVAL_S
    return changes


def test_the_defaults_ask_for_a_hundred_votes_and_a_satisfaction_of_90():
    assert TARGETS == {"satisfaction_pct": 90.0} and MIN_COUNT == 100


@pytest.mark.parametrize(
    ("start", "hours"),
    [
        ("2026-11-30T07:00", 6),  # Monday: a fresh store before opening, through the Monday peak
        ("2026-11-30T09:30", 3),  # Monday: started in the middle of the peak
        ("2026-12-01T07:35", 4),  # Tuesday: just after opening, the first votes of the day
        ("2026-12-03T14:00", 4),  # Thursday afternoon, just after start (when the scenario test paged)
        ("2026-12-04T14:00", 70),  # Friday afternoon, the weekend without votes, into Monday's peak
    ],
)
def test_a_healthy_simulated_province_never_pages(start, hours):
    inventory = kpi_reporters(read_inventory(PROVINCE))
    province = Province(inventory, local(start), seed=7)
    check = KpiCheck(TARGETS, min_count=MIN_COUNT)
    changes = run_check(province, check, local(start) + hours * HOUR)
    assert changes == []
    # The check did judge: the busiest agencies had their votes by the end of any office-hours run.
    kpis, bases, partial = province.readings(local(start) + hours * HOUR)
    assert (kpis, bases, partial) == province.readings(local(start) + hours * HOUR, exact=True)
    judged = [a for a in province.agencies if bases[a]["satisfaction_pct"] >= MIN_COUNT]
    assert judged, bases
    assert all(kpis[a]["satisfaction_pct"] >= TARGETS["satisfaction_pct"] for a in judged), kpis


def test_an_agency_genuinely_below_target_pages_once_and_stays_open_over_the_weekend():
    inventory = kpi_reporters(read_inventory(PROVINCE), ubnd_cap_xa={"good_vote_pct": 80})
    start = local("2026-12-03T14:00")  # Thursday afternoon, a fresh store
    province = Province(inventory, start, seed=7)
    check = KpiCheck(TARGETS, min_count=MIN_COUNT)
    changes = run_check(province, check, local("2026-12-07T11:00"))  # to Monday's peak
    fired = [c for c in changes if c[1] == FIRING]
    assert {c[2:4] for c in fired} == {("ubnd-cap-xa", "satisfaction_pct")}
    assert not [c for c in changes if c[1] == RESOLVED]
    # One page: later changes only update the figure of the same alert (one start).
    assert len({c[5] for c in fired}) == 1
    first = fired[0]
    assert first[4]["satisfaction_pct"] >= MIN_COUNT  # not before it had enough votes
    assert first[0] < local("2026-12-04T12:00")  # but within the first office day
    (alert,) = check.alerts.values()
    assert alert.starts_at == first[0] and alert.value is not None and alert.value < 90


def test_it_resolves_once_the_agency_is_measured_at_target_again():
    inventory = kpi_reporters(read_inventory(PROVINCE), ubnd_cap_xa={"good_vote_pct": 80})
    start = local("2026-12-03T08:00")
    province = Province(inventory, start, seed=11)
    check = KpiCheck(TARGETS, min_count=MIN_COUNT)
    changes = run_check(province, check, local("2026-12-03T17:00"))
    assert [c[1] for c in changes][:1] == [FIRING]
    for state in province.sim.states.values():  # the office improves
        state.entity.attrs["good_vote_pct"] = 99
    changes = run_check(province, check, local("2026-12-05T12:00"))
    assert [c[1] for c in changes][-1:] == [RESOLVED] and check.alerts == {}
    assert changes[-1][0] > local("2026-12-03T17:00") + 12 * HOUR  # once the bad day has left the window
