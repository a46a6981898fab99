"""What `ioc simulate` does: bring an inventory's province to life over MQTT and record the ground truth."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from collectors.simulator.engine import Message, Simulator
from collectors.simulator.runner import MqttSink, PerDeviceSink, RunResult, run
from collectors.simulator.scenario import Scenario, read_scenario
from collectors.simulator.truth import ground_truth, write_truth
from ioc.inventory import Inventory
from ioc.settings import Settings


class SimulateError(Exception):
    pass


def _mqtt_sink(settings: Settings, inventory: Inventory, client_id: str) -> MqttSink | PerDeviceSink:
    """One connection for all; or, with IOC_MQTT_CREDENTIALS_FILE, one per entity with its own account."""
    from ioc.devices.credentials_file import CredentialsFileError, read_credentials

    path = settings.mqtt_credentials_file
    if path is None:
        return MqttSink(settings.mqtt, client_id=client_id)
    try:
        accounts = read_credentials(path)
    except CredentialsFileError as exc:
        raise SimulateError(f"IOC_MQTT_CREDENTIALS_FILE: {exc}") from None
    refs = [e.ref for e in inventory.entities]
    missing = [ref for ref in refs if ref not in accounts]
    if missing:
        raise SimulateError(f"IOC_MQTT_CREDENTIALS_FILE ({path}): no account for {', '.join(missing)}")
    return PerDeviceSink(settings.mqtt, settings.mqtt_topic_prefix, accounts, refs, client_id=client_id)


def choose_start(
    scenario: Scenario, start: datetime | None, duration_s: float | None, speed: float, now: float
) -> float:
    """The simulated start: as asked, else far enough back that a fast run ends about now."""
    chosen = start or scenario.start
    if chosen is not None:
        if chosen.tzinfo is None:
            raise SimulateError("--start needs a UTC offset, e.g. 2026-11-23T08:00:00+07:00")
        ts = chosen.timestamp()
        if ts > now + 60:
            raise SimulateError("the start is in the future: the service rejects samples from the future")
        return ts
    if speed > 1 and duration_s is not None:
        return now - duration_s
    return now


def simulate(
    settings: Settings,
    inventory: Inventory,
    *,
    scenario_file: Path | None = None,
    speed: float = 1.0,
    duration_s: float | None = None,
    start: datetime | None = None,
    truth_out: Path | None = None,
    seed: int = 1,
    stop: threading.Event | None = None,
    sink: Callable[[Message], None] | None = None,
    echo: Callable[[str], None] = print,
    client_id: str | None = None,
) -> RunResult:
    if speed <= 0:
        raise SimulateError("--speed must be above 0")
    scenario = read_scenario(scenario_file, inventory) if scenario_file else Scenario()
    duration = duration_s if duration_s is not None else scenario.duration_s
    t0 = choose_start(scenario, start, duration, speed, time.time())
    sim = Simulator(inventory, scenario, t0, prefix=settings.mqtt_topic_prefix, seed=seed)
    own_signals = stop is None
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread() and own_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    planned_end = t0 + duration if duration is not None else float("inf")
    if truth_out is not None:
        horizon = planned_end if duration is not None else t0 + max((i.at_s + i.duration_s for i in
                                                                      scenario.incidents), default=0.0)  # fmt: skip
        write_truth(truth_out, ground_truth(scenario, sim.dependents, t0, horizon, complete=False))
    mqtt_sink: MqttSink | PerDeviceSink | None = None
    if sink is None:
        mqtt_sink = _mqtt_sink(settings, inventory, client_id or f"ioc-simulator-{seed}")
        mqtt_sink.start()
        sink = mqtt_sink
    echo(
        f"simulating {len(inventory.entities)} entities from {datetime.fromtimestamp(t0).astimezone().isoformat()} "
        f"at {speed:g}x, {len(scenario.incidents)} incidents ({scenario.name})"
    )
    try:
        result = run(sim, sink, duration_s=duration, speed=speed, stop=stop)
    finally:
        if mqtt_sink is not None:
            mqtt_sink.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if truth_out is not None:
        write_truth(truth_out, ground_truth(scenario, sim.dependents, t0, result.end, complete=True))
        echo(f"ground truth written to {truth_out}")
    echo(f"published {result.messages} messages")
    return result
