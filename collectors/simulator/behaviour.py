"""What each kind of entity reports when nothing is wrong, following office activity.

Kiosks say what device they are with the inventory key `device`: `queue-ticket` (prints numbers),
`lookup` (self-service dossier lookup) or `feedback` (satisfaction tablet; `good_vote_pct`, default 97, of
its votes are good, as the province portals report). Service systems with
`system: one_stop_shop` or `dvc_portal` also report dossier figures (received, online, done, on time,
online payments, and a few overdue), busiest on Monday mornings. Counters only ever grow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from collectors.simulator.seasonality import activity, background
from ioc.inventory import Entity

DEFAULT_INTERVAL_S = {"kiosk": 30.0, "link": 15.0, "service": 30.0}
DOSSIER_SYSTEMS = ("one_stop_shop", "dvc_portal")
GOOD_VOTE_PCT = 97.0  # a healthy office: well above the usual 90 % satisfaction target


@dataclass
class EntityState:
    entity: Entity
    interval_s: float
    counters: dict[str, float] = field(default_factory=dict)
    paper_pct: float = 100.0
    overdue: float = 0.0
    last_t: float | None = None
    born: float | None = None
    next_due: float = 0.0


def _clip(value: float, low: float, high: float) -> float:
    """np.clip of one float, without numpy's overhead per call (the simulator clips every sample)."""
    return float(min(max(value, low), high))


def interval_of(entity: Entity) -> float:
    return entity.interval_s or DEFAULT_INTERVAL_S[entity.kind]


def new_state(entity: Entity, rng: np.random.Generator) -> EntityState:
    state = EntityState(entity, interval_of(entity))
    state.paper_pct = float(rng.uniform(35, 100))
    state.overdue = float(rng.integers(1, 8))
    # Spread first reports over one interval so the broker does not see a burst every tick.
    state.next_due = float(rng.uniform(0, state.interval_s))
    return state


def _is_hcc(entity: Entity) -> bool:
    return bool(entity.site and entity.site.startswith("hcc"))


def _count(state: EntityState, name: str, rng: np.random.Generator, rate_per_h: float, dt: float) -> float:
    value = state.counters.get(name, 0.0) + float(rng.poisson(max(0.0, rate_per_h) * dt / 3600))
    state.counters[name] = value
    return value


def kiosk_metrics(state: EntityState, t: float, dt: float, rng: np.random.Generator) -> dict[str, float]:
    a = activity(t)
    device = state.entity.attrs.get("device", "queue-ticket")
    metrics = {
        "cpu_pct": round(_clip(6 + 30 * a + rng.normal(0, 3), 1, 100), 1),
        "mem_pct": round(_clip(38 + 12 * a + rng.normal(0, 1.5), 5, 99), 1),
        "disk_free_pct": round(_clip(62 - (t % 86400) / 86400 + rng.normal(0, 0.05), 0, 100), 2),
        "temp_c": round(float(42 + 9 * a + rng.normal(0, 0.8)), 1),
        "touch_ok": 1.0,
    }
    crowd = 3.0 if _is_hcc(state.entity) else 1.0
    if device == "queue-ticket":
        tickets_before = state.counters.get("tickets_issued_total", 0.0)
        tickets = _count(state, "tickets_issued_total", rng, 30 * crowd * a, dt)
        state.paper_pct = max(0.0, state.paper_pct - 0.12 * (tickets - tickets_before))
        if a == 0 and state.paper_pct < 30:
            state.paper_pct = 100.0  # staff reload paper before opening
        waiting = float(rng.poisson(5 * crowd * a))
        metrics |= {
            "tickets_issued_total": tickets,
            "queue_waiting": waiting,
            "wait_time_s": round(waiting * 140 * float(rng.lognormal(0, 0.2)), 0),
            "printer_ok": 1.0,
            "printer_paper_pct": round(state.paper_pct, 1),
        }
    elif device == "lookup":
        metrics["card_reader_ok"] = 1.0
    elif device == "feedback":
        votes_before = state.counters.get("satisfaction_votes_total", 0.0)
        votes = _count(state, "satisfaction_votes_total", rng, 12 * crowd * a, dt)
        good_share = float(state.entity.attrs.get("good_vote_pct", GOOD_VOTE_PCT)) / 100
        good = state.counters.get("satisfaction_good_total", 0.0) + float(
            rng.binomial(int(votes - votes_before), good_share)
        )
        state.counters["satisfaction_good_total"] = good
        metrics |= {"satisfaction_votes_total": votes, "satisfaction_good_total": good}
    return metrics


def link_metrics(state: EntityState, t: float, dt: float, rng: np.random.Generator) -> dict[str, float]:
    load = min(1.0, background(t))
    capacity = float(state.entity.attrs.get("capacity_bps", 100_000_000))
    base_rtt = float(state.entity.attrs.get("base_rtt_ms", 4.0 if state.entity.id.startswith("dc") else 12.0))
    return {
        "rtt_ms": round(base_rtt * (1 + 0.5 * load) + abs(float(rng.normal(0, 0.6))), 2),
        "jitter_ms": round(0.4 + 1.2 * load * float(rng.uniform(0.5, 1.5)), 2),
        "loss_pct": round(_clip(rng.exponential(0.05), 0, 0.5), 2),
        "rx_bps": round(capacity * _clip(0.03 + 0.45 * load + rng.normal(0, 0.03), 0, 1)),
        "tx_bps": round(capacity * _clip(0.02 + 0.2 * load + rng.normal(0, 0.02), 0, 1)),
        "up": 1.0,
    }


def service_metrics(state: EntityState, t: float, dt: float, rng: np.random.Generator) -> dict[str, float]:
    load = background(t)
    base = float(state.entity.attrs.get("base_response_ms", 250.0))
    metrics = {
        "up": 1.0,
        "http_status": 200.0,
        "response_ms": round(base * (1 + 0.7 * load) * float(rng.lognormal(0, 0.15)), 1),
        "error_rate_pct": round(_clip(rng.exponential(0.3), 0, 2), 2),
    }
    if str(state.entity.attrs.get("url", "")).startswith("https://"):
        if state.born is None:
            state.born = t
        expires = float(state.entity.attrs.get("tls_expires_days", 75.0))
        metrics["tls_days_left"] = round(expires - (t - state.born) / 86400, 2)
    if state.entity.system in DOSSIER_SYSTEMS:
        a = activity(t)
        online_share = 0.65 if state.entity.system == "dvc_portal" else 0.45
        received = _count(state, "dossiers_received_total", rng, 90 * a + 4 * load, dt)
        online_before = state.counters.get("dossiers_online_total", 0.0)
        grown = received - state.counters.get("_received_seen", 0.0)
        state.counters["_received_seen"] = received
        online = online_before + float(rng.binomial(int(grown), online_share))
        state.counters["dossiers_online_total"] = online
        done = _count(state, "dossiers_done_total", rng, 80 * a, dt)
        ontime_before = state.counters.get("dossiers_done_ontime_total", 0.0)
        done_grown = done - state.counters.get("_done_seen", 0.0)
        state.counters["_done_seen"] = done
        ontime = ontime_before + float(rng.binomial(int(done_grown), 0.96))
        state.counters["dossiers_done_ontime_total"] = ontime
        # A few overdue: some dossiers miss their deadline during office hours, and staff clear about a tenth
        # of the backlog an hour, so it hovers around five.
        late = float(rng.poisson(0.5 * a * dt / 3600))
        cleared = float(rng.binomial(int(state.overdue), min(1.0, 0.1 * dt / 3600)))
        state.overdue = max(0.0, state.overdue + late - cleared)
        payments = _count(state, "payments_online_total", rng, 25 * a, dt)
        metrics |= {
            "dossiers_received_total": received,
            "dossiers_online_total": online,
            "dossiers_done_total": done,
            "dossiers_done_ontime_total": ontime,
            "dossiers_overdue": round(state.overdue),
            "payments_online_total": payments,
        }
    return metrics


NORMAL = {"kiosk": kiosk_metrics, "link": link_metrics, "service": service_metrics}
