"""Publishing per the wire contract: one MQTT connection per entity, each with its own Last Will.

A probe speaks for the entities it measures. The broker sends each entity's Last Will (`offline`,
retained, on `{prefix}/status/{kind}/{id}`) when the probe dies, so every entity needs its own
connection: MQTT allows one will per connection.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ioc.settings import MqttTarget

log = logging.getLogger("ioc.probes")

ClientFactory = Callable[[str], mqtt.Client]


def default_client_factory(client_id: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)


def sample_payload(metrics: Mapping[str, float], ts: float | None, labels: Mapping[str, str] | None = None) -> bytes:
    """A contract JSON sample object (section 2)."""
    doc: dict[str, object] = {"metrics": dict(metrics)}
    if ts is not None:
        doc["ts"] = round(ts, 3)
    if labels:
        doc["labels"] = dict(labels)
    return orjson.dumps(doc)


def client_id_for(kind: str, entity: str, role: str) -> str:
    return f"ioc-{role}-{kind}-{entity}-{socket.gethostname()}-{os.getpid()}"[:128]


class PublishError(RuntimeError):
    pass


class EntityPublisher:
    """One entity's connection: retained `online` on connect, Last Will `offline`, samples at QoS 1."""

    def __init__(
        self,
        target: MqttTarget,
        prefix: str,
        kind: str,
        entity: str,
        *,
        role: str = "probe",
        client_factory: ClientFactory = default_client_factory,
    ):
        self.kind, self.entity, self.prefix = kind, entity, prefix
        self.status_topic = f"{prefix}/status/{kind}/{entity}"
        self.metrics_topic = f"{prefix}/metrics/{kind}/{entity}"
        self._connected = threading.Event()
        self.client = client_factory(client_id_for(kind, entity, role))
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self.client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(1, 30)
        self._target = target

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("%s/%s: broker refused the connection: %s", self.kind, self.entity, reason)
            return
        # Retained, so a service that starts later still learns the entity is online.
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self.client.connect_async(self._target.host, self._target.port, keepalive=30)
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, metrics: Mapping[str, float], ts: float | None, labels: Mapping[str, str] | None = None) -> None:
        if not metrics:
            return
        info = self.client.publish(self.metrics_topic, sample_payload(metrics, ts, labels), qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN: paho keeps QoS 1 messages queued and sends them once reconnected.
            raise PublishError(f"{self.metrics_topic}: publish failed: {mqtt.error_string(info.rc)}")

    def say_offline(self) -> mqtt.MQTTMessageInfo | None:
        """Say `offline` ourselves on a clean shutdown (the broker only sends the will on a lost connection)."""
        if not self.connected:
            return None
        return self.client.publish(self.status_topic, b"offline", qos=1, retain=True)

    def stop(self, *, timeout: float = 5.0) -> None:
        info = self.say_offline()
        _wait_published([info] if info else [], timeout)
        self.client.disconnect()
        self.client.loop_stop()


def _wait_published(infos: list[mqtt.MQTTMessageInfo], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(i.is_published() for i in infos) and time.monotonic() < deadline:
        time.sleep(0.01)


class PublisherSet:
    """The publishers of every entity one probe process speaks for."""

    def __init__(
        self,
        target: MqttTarget,
        prefix: str,
        refs: Iterable[tuple[str, str]],
        *,
        role: str = "probe",
        client_factory: ClientFactory = default_client_factory,
        accounts: Mapping[str, tuple[str, str]] | None = None,
    ):
        # `accounts`: kind/id -> (username, password), each entity's own broker account (contract section 11).
        def target_for(kind: str, entity: str) -> MqttTarget:
            if accounts is None:
                return target
            username, password = accounts[f"{kind}/{entity}"]
            return MqttTarget(target.host, target.port, target.tls, username, password)

        self.publishers = {
            (kind, entity): EntityPublisher(
                target_for(kind, entity), prefix, kind, entity, role=role, client_factory=client_factory
            )
            for kind, entity in refs
        }

    def start(self, wait_s: float = 10.0) -> None:
        for pub in self.publishers.values():
            pub.start()
        deadline = time.monotonic() + wait_s
        for pub in self.publishers.values():
            if not pub.wait_connected(max(0.0, deadline - time.monotonic())):
                log.warning("%s/%s: not connected to the broker yet; samples are queued", pub.kind, pub.entity)

    def publish(self, kind: str, entity: str, metrics: Mapping[str, float], ts: float | None) -> None:
        self.publishers[(kind, entity)].publish(metrics, ts)

    def stop(self, timeout: float = 5.0) -> None:
        infos = [info for pub in self.publishers.values() if (info := pub.say_offline()) is not None]
        _wait_published(infos, timeout)
        for pub in self.publishers.values():
            pub.client.disconnect()
        for pub in self.publishers.values():
            pub.client.loop_stop()
