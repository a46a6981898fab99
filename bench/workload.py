"""What the ingest bench publishes: the inventory's entities, their standard metrics and each phase's messages.

Shared by the bench (inventory, expected counts) and the publisher process (payloads), so both agree on
every sample. Values are whole numbers in healthy ranges: the default rules evaluate them without firing,
and the sum of the stored values can be checked exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import yaml

PREFIX = "ioc/v1"
STEP_S = 0.001  # between two samples of one series: distinct timestamps at the store's microsecond precision

# Standard metrics (contract section 2) with healthy values; per kind a number that divides 100.
METRICS: dict[str, dict[str, float]] = {
    "kiosk": {
        "cpu_pct": 20, "mem_pct": 40, "disk_free_pct": 60, "temp_c": 45, "printer_ok": 1,
        "printer_paper_pct": 80, "card_reader_ok": 1, "touch_ok": 1, "queue_waiting": 3, "wait_time_s": 120,
    },
    "link": {"rtt_ms": 20, "jitter_ms": 2, "loss_pct": 0, "rx_bps": 1_000_000, "up": 1},
    "service": {
        "up": 1, "response_ms": 300, "http_status": 200, "tls_days_left": 90, "error_rate_pct": 0,
        "dossiers_received_total": 1000, "dossiers_online_total": 600, "dossiers_done_total": 900,
        "dossiers_done_ontime_total": 850, "dossiers_overdue": 5,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Entity:
    kind: str
    id: str

    @property
    def topic(self) -> str:
        return f"{PREFIX}/metrics/{self.kind}/{self.id}"


def entities(count: int) -> list[Entity]:
    """`count` entities: 60 % kiosks, 30 % links, 10 % services (at least one of each)."""
    links = max(1, count * 3 // 10)
    services = max(1, count // 10)
    kiosks = max(1, count - links - services)
    return (
        [Entity("kiosk", f"bench-kiosk-{i:05d}") for i in range(kiosks)]
        + [Entity("link", f"bench-link-{i:05d}") for i in range(links)]
        + [Entity("service", f"bench-svc-{i:05d}") for i in range(services)]
    )


def inventory_yaml(count: int, sites: int = 10) -> str:
    """An inventory (contract section 3) of the bench's entities; each kiosk depends on a link."""
    ents = entities(count)
    links = [e for e in ents if e.kind == "link"]
    rows = []
    for i, e in enumerate(ents):
        row: dict[str, object] = {"kind": e.kind, "id": e.id, "name": e.id, "site": f"bench-site-{i % sites:02d}",
                                  "agency": "bench-agency", "interval_s": 120}  # fmt: skip
        if e.kind == "kiosk":
            row["depends_on"] = [f"link/{links[i % len(links)].id}"]
        if e.kind == "service":
            row["url"] = f"https://{e.id}.example.gov.vn/"
        rows.append(row)
    doc = {
        "agencies": [{"id": "bench-agency", "name": "Bench agency"}],
        "sites": [{"id": f"bench-site-{i:02d}", "name": f"Bench site {i}"} for i in range(sites)],
        "entities": rows,
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Phase:
    """One phase's messages: `shape` is batched (100 samples of known series), single (1 sample) or
    new_series (100 samples, each of a series never seen before); `t0` the first sample's ts."""

    shape: str
    messages: int
    entities: int
    t0: float

    def samples(self) -> int:
        return self.messages * (1 if self.shape == "single" else 100)

    def span_s(self) -> float:
        """Every sample's ts lies in [t0, t0 + span_s]."""
        rounds = -(-self.messages // self.entities)
        return (rounds * 100 + 100) * STEP_S

    def ts_range(self) -> tuple[float, float]:
        """The phase's ts range with half a step either side, so the store's rounding to microseconds
        cannot put its first or last sample outside; phases are 1 s apart."""
        return self.t0 - STEP_S / 2, self.t0 + self.span_s() + STEP_S / 2

    def expected_value_sum(self) -> float:
        return _value_sum(self)

    def expected_series(self) -> int | None:
        """Distinct series the phase stores, where that is its point (new_series)."""
        return self.samples() if self.shape == "new_series" else None


def _value_sum(phase: Phase) -> float:
    ents = entities(phase.entities)
    total = 0.0
    for i in range(phase.messages):
        kind_metrics = METRICS[ents[i % len(ents)].kind]
        if phase.shape == "single":
            total += list(kind_metrics.values())[(i // len(ents)) % len(kind_metrics)]
        else:
            total += sum(kind_metrics.values()) * (100 // len(kind_metrics))
    return total


def messages(phase: Phase) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of every message of the phase, in publishing order (entities round robin)."""
    ents = entities(phase.entities)
    for i in range(phase.messages):
        entity = ents[i % len(ents)]
        rnd = i // len(ents)
        metrics = METRICS[entity.kind]
        if phase.shape == "single":
            # Round `rnd` of an entity: one of its metrics, at its own ts (unique per entity and round).
            name = list(metrics)[rnd % len(metrics)]
            body: object = {"ts": phase.t0 + rnd * STEP_S, "metrics": {name: metrics[name]}}
        else:
            objects = 100 // len(metrics)
            base = phase.t0 + rnd * objects * STEP_S
            if phase.shape == "batched":  # a device sending its last `objects` readings at once
                body = [{"ts": base + k * STEP_S, "metrics": metrics} for k in range(objects)]
            else:  # new_series: every object a label set never used before, so 100 new series
                body = [
                    {"ts": phase.t0 + k * STEP_S, "metrics": metrics, "labels": {"instance": f"m{i}-{k}"}}
                    for k in range(objects)
                ]
        yield entity.topic, orjson.dumps(body)
