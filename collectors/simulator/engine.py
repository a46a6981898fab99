"""The province simulator: every entity's reports at simulated time t, with the scenario's faults applied.

Pure with respect to time: the caller advances t (a fake clock in tests, the wall clock times `--speed`
in `ioc simulate`), and gets back the MQTT messages to publish. Nothing here touches the network.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import orjson

from collectors.simulator.behaviour import NORMAL, new_state
from collectors.simulator.scenario import Incident, Scenario
from ioc.inventory import Inventory

# A device behind a broken link loses its broker connection; the broker publishes its Last Will once
# the keepalive (30 s) times out, 1.5 x keepalive by the MQTT spec.
WILL_DELAY_S = 45.0


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False


def dependents_of(inventory: Inventory) -> dict[str, set[str]]:
    """For each entity, every entity that depends on it, directly or not."""
    direct: dict[str, set[str]] = defaultdict(set)
    for entity in inventory.entities:
        for dep in entity.depends_on:
            direct[dep].add(entity.ref)
    result: dict[str, set[str]] = {}
    for ref in {e.ref for e in inventory.entities}:
        seen: set[str] = set()
        todo = list(direct.get(ref, ()))
        while todo:
            nxt = todo.pop()
            if nxt not in seen:
                seen.add(nxt)
                todo.extend(direct.get(nxt, ()))
        result[ref] = seen
    return result


def link_is_down(incident: Incident, offset_s: float) -> bool:
    if not incident.active(offset_s):
        return False
    if incident.type == "link_down":
        return True
    if incident.type == "link_flapping":
        period = incident.params["period_s"]
        return ((offset_s - incident.at_s) % period) < period / 2
    return False


class Simulator:
    def __init__(
        self, inventory: Inventory, scenario: Scenario, start: float, *, prefix: str = "ioc/v1", seed: int = 1
    ):
        self.inventory = inventory
        self.scenario = scenario
        self.start = start
        self.prefix = prefix
        self.rng = np.random.default_rng(seed)
        self.states = {e.ref: new_state(e, self.rng) for e in inventory.entities}
        for state in self.states.values():
            state.next_due += start
        self.dependents = dependents_of(inventory)
        self.offline: set[str] = set()  # refs whose retained status is `offline`
        self._silent_since: dict[str, float] = {}

    def initial_messages(self) -> list[Message]:
        """Every device says `online` (retained) when it connects."""
        return [self._status(ref, "online") for ref in self.states]

    def _status(self, ref: str, word: str) -> Message:
        return Message(f"{self.prefix}/status/{ref}", word.encode(), retain=True)

    def _active(self, offset_s: float) -> list[Incident]:
        return [i for i in self.scenario.incidents if i.active(offset_s)]

    def silenced(self, offset_s: float) -> dict[str, str]:
        """Entities that cannot report now, and why: crashed, or behind a link that is down."""
        silent: dict[str, str] = {}
        for incident in self._active(offset_s):
            if incident.type == "kiosk_crash":
                silent[incident.target] = "crash"
            elif link_is_down(incident, offset_s):
                for ref in self.dependents[incident.target]:
                    silent.setdefault(ref, "behind_link")
        return silent

    def _apply_faults(self, ref: str, metrics: dict[str, float], offset_s: float) -> dict[str, float]:
        for incident in self._active(offset_s):
            p = incident.params
            if incident.target == ref:
                if link_is_down(incident, offset_s):
                    metrics = {"up": 0.0, "loss_pct": 100.0, "rx_bps": 0.0, "tx_bps": 0.0}
                elif incident.type == "link_degraded":
                    metrics["loss_pct"] = round(p["loss_pct"] * float(self.rng.uniform(0.7, 1.3)), 2)
                    metrics["rtt_ms"] = round(metrics["rtt_ms"] + p["rtt_ms"] * float(self.rng.uniform(0.8, 1.2)), 2)
                    metrics["jitter_ms"] = round(metrics["jitter_ms"] * 6, 2)
                elif incident.type == "paper_out" and "printer_paper_pct" in metrics:
                    metrics["printer_paper_pct"] = 0.0
                    self.states[ref].paper_pct = 0.0
                elif incident.type == "portal_slow":
                    metrics["response_ms"] = round(metrics["response_ms"] * p["factor"], 1)
                elif incident.type == "lgsp_outage":
                    metrics = {"up": 0.0, "http_status": 503.0, "error_rate_pct": 100.0}
                elif incident.type == "tls_expiry":
                    metrics["tls_days_left"] = round(p["days"] - (offset_s - incident.at_s) / 86400, 2)
            elif incident.type == "lgsp_outage" and ref in self.dependents[incident.target]:
                # Systems that exchange data through the LGSP keep answering, but their calls fail.
                metrics["error_rate_pct"] = round(15 + float(self.rng.uniform(0, 10)), 2)
        return metrics

    def messages_at(self, t: float) -> list[Message]:
        """Advance to simulated time t (never backwards) and return what the province publishes."""
        offset = t - self.start
        out: list[Message] = []
        silent = self.silenced(offset)
        for ref, state in self.states.items():
            if ref in silent:
                since = self._silent_since.setdefault(ref, t)
                crashed = silent[ref] == "crash"
                if ref not in self.offline and (crashed or t - since >= WILL_DELAY_S):
                    self.offline.add(ref)
                    out.append(self._status(ref, "offline"))  # what the broker sends as the Last Will
                continue
            self._silent_since.pop(ref, None)
            if ref in self.offline:
                self.offline.discard(ref)
                out.append(self._status(ref, "online"))
            if t < state.next_due:
                continue
            dt = t - state.last_t if state.last_t is not None else state.interval_s
            state.last_t = t
            state.next_due = t + state.interval_s
            metrics = NORMAL[state.entity.kind](state, t, dt, self.rng)
            metrics = self._apply_faults(ref, metrics, offset)
            payload = orjson.dumps({"ts": round(t, 3), "metrics": metrics})
            out.append(Message(f"{self.prefix}/metrics/{ref}", payload))
        return out
