"""Running the simulator against a broker: simulated time advances `speed` times faster than real time.

Simulated time never runs ahead of the wall clock: the service rejects samples more than 5 minutes in
the future, so a fast run starts in the past (by default `duration` before now), catches up, and then
goes on in real time.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collectors.simulator.engine import Message, Simulator
from ioc.settings import MqttTarget

log = logging.getLogger("ioc.simulator")

TICK_S = 1.0  # simulated seconds between two looks at the province


@dataclass
class RunResult:
    messages: int
    end: float  # simulated time reached


class MqttSink:
    """One connection for the whole simulated province; QoS 1 so nothing is lost under load."""

    def __init__(self, target: MqttTarget, client_id: str = "ioc-simulator"):
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self._connected = threading.Event()
        self.client.on_connect = lambda c, u, f, reason, p: None if reason.is_failure else self._connected.set()
        self._target = target
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def start(self, timeout: float = 10.0) -> None:
        self.client.connect_async(self._target.host, self._target.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.client.loop_stop()
            raise ConnectionError(f"cannot reach the MQTT broker at {self._target.host}:{self._target.port}")

    def __call__(self, message: Message) -> None:
        info = self.client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        self._pending.append(info)
        if len(self._pending) > 5000:
            self._pending = [i for i in self._pending if not i.is_published()]

    def stop(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while any(not i.is_published() for i in self._pending) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.client.disconnect()
        self.client.loop_stop()


class PerDeviceSink:
    """One connection per entity, each logged in with the entity's own account, for a broker whose ACL lets
    a device publish only its own topics (contract section 11, `IOC_MQTT_CREDENTIALS_FILE`)."""

    def __init__(
        self,
        target: MqttTarget,
        prefix: str,
        accounts: Mapping[str, tuple[str, str]],
        refs: Iterable[str],
        client_id: str = "ioc-simulator",
    ):
        self._depth = len(prefix.split("/"))  # topics are {prefix}/{family}/{kind}/{id}
        self.sinks = {
            ref: MqttSink(
                MqttTarget(target.host, target.port, target.tls, *accounts[ref]),
                client_id=f"{client_id}-{ref.replace('/', '-')}"[:128],
            )
            for ref in refs
        }

    def start(self, timeout: float = 10.0) -> None:
        started = []
        try:
            for ref, sink in self.sinks.items():
                try:
                    sink.start(timeout)
                except ConnectionError as exc:
                    raise ConnectionError(f"{ref}: {exc} (or it refused the account)") from None
                started.append(sink)
        except BaseException:
            for sink in started:
                sink.stop(timeout=1.0)
            raise

    def __call__(self, message: Message) -> None:
        parts = message.topic.split("/")
        self.sinks[f"{parts[self._depth + 1]}/{parts[self._depth + 2]}"](message)

    def stop(self, timeout: float = 10.0) -> None:
        for sink in self.sinks.values():
            sink.stop(timeout)


def run(
    sim: Simulator,
    sink: Callable[[Message], None],
    *,
    duration_s: float | None,
    speed: float,
    stop: threading.Event,
    wall: Callable[[], float] = time.time,
    on_tick: Callable[[float], None] | None = None,
) -> RunResult:
    """Publish the province until the simulated duration is over or `stop` is set."""
    count = 0
    for message in sim.initial_messages():
        sink(message)
        count += 1
    end = sim.start + duration_s if duration_s is not None else float("inf")
    t = sim.start
    wall0 = wall()
    while not stop.is_set() and t < end:
        now = wall()
        target = min(sim.start + (now - wall0) * speed, now, end)
        while t + TICK_S <= target + 1e-9 and not stop.is_set():
            t += TICK_S
            for message in sim.messages_at(t):
                sink(message)
                count += 1
        if on_tick is not None:
            on_tick(t)
        if t < end:
            # Sleep until the next simulated tick is due in wall time.
            stop.wait(max(0.005, min(0.2, TICK_S / speed)))
    return RunResult(count, t)
