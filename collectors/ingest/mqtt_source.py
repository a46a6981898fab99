"""The MQTT side of ingest: an MQTT v5 persistent session on the prefix, acknowledged by hand.

The prefix is read through the shared subscription, or through a plain one (`mode="plain"`) while a
single ingest member runs: Mosquitto keeps a persistent session's plain subscriptions over its own
restart but not its shared ones. `switch_to()` and a connect whose session holds the other kind move
between them without loss or doubles (`collectors.ingest.switching`): the new subscription is made with
the identifier SWITCH_SUBSCRIPTION_ID, the old one left once the broker confirmed the new one, and a
copy that came by both routes is stored once; a few seconds after, the new subscription is made again
without identifier.

Besides the shared subscription, each process holds a plain subscription to `{prefix}/status/+/+`: MQTT 5
sends no retained message to a shared subscription, so a device's retained `offline` (its Last Will,
published while no ingest process ran) would never be seen. Of that subscription only the copies the
broker marks retained (sent on subscribe; `retainAsPublished=False` makes live copies arrive unmarked)
are taken; its live copies are acknowledged and dropped, the shared subscription has them. The broker
sends a separate copy per subscription; the plain one's copies carry its MQTT 5 subscription identifier.
Every message delivered with the retain flag (mosquitto 2.0.11 also sends retained messages to a new
shared subscriber, against the MQTT 5 rule) is marked `Delivery.retained`: its status is stored
idempotently, as the state it is, not as a change that just happened.

Callbacks stay thin: the message goes to `on_message` (which decodes and enqueues) and is acknowledged
later, with `ack()`, once the batch holding it is committed or spooled. Each connection has a
generation number; an ack from an older connection is not sent, because after a reconnect the broker
redelivers what was unacknowledged, and a packet id of a dead connection may name another message.

Leaving for good (contract section 11, measured against mosquitto 2.0.11): after UNSUBSCRIBE the broker
routes no new message of the shared subscription to this session, but still delivers what it had queued
for it; a DISCONNECT carrying SessionExpiryInterval 0 deletes the session at once, together with any
message still unacknowledged in it (so everything must be acknowledged first), and the broker routes
the share to the remaining members only. `unsubscribe()` and `stop(end_session=True)` do these steps;
`pending` counts the messages received on this connection and not yet acknowledged. With `drain=True`
the source subscribes to nothing: it takes over another member's session (same client id) and
unsubscribes what that session held, to receive only what was queued for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from collectors.ingest.switching import Route, RouteDedupe
from ioc.settings import Settings

log = logging.getLogger(__name__)

_RECEIVE_MAXIMUM = 65535  # with MQTT v5, lifts mosquitto's default of 20 unacknowledged messages in flight
_SESSION_TAKEN_OVER = 142
STATUS_SUBSCRIPTION_ID = 2
SWITCH_SUBSCRIPTION_ID = 3  # the new subscription while a switch holds both

SubscriptionMode = Literal["shared", "plain"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What is needed to acknowledge one received message."""

    mid: int
    qos: int
    generation: int
    retained: bool = False  # a retained status sent on subscribe (the plain status subscription)


MessageHandler = Callable[[str, bytes, Delivery], None]
BrokerFigureHandler = Callable[[str, float], None]

# The broker's own figures (contract section 11). Mosquitto publishes them every `sys_interval` (10 s by
# default); a broker that publishes none (EMQX, ...) is simply not watched.
BROKER_DROPPED_TOPIC = "$SYS/broker/load/publish/dropped/1min"
BROKER_FIGURES = (BROKER_DROPPED_TOPIC,)


def subscription(settings: Settings, mode: SubscriptionMode = "shared") -> str:
    """One subscription over the whole prefix, so bad topics are dead-lettered too: shared, or plain while
    a single member runs."""
    if mode == "plain":
        return f"{settings.mqtt_topic_prefix}/#"
    return f"$share/{settings.mqtt_shared_group}/{settings.mqtt_topic_prefix}/#"


def _subscription_options(mode: SubscriptionMode) -> SubscribeOptions:
    # The plain one would be sent every retained status on subscribe: the status subscription takes those.
    retain = SubscribeOptions.RETAIN_DO_NOT_SEND if mode == "plain" else SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
    return SubscribeOptions(qos=1, retainHandling=retain)


def status_subscription(settings: Settings) -> str:
    """The plain (per-process) subscription that receives the retained statuses on subscribe."""
    return f"{settings.mqtt_topic_prefix}/status/+/+"


def _subscribe_properties(identifier: int) -> Properties:
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = identifier
    return props


class MqttSource:
    def __init__(
        self,
        settings: Settings,
        on_message: MessageHandler,
        *,
        on_broker_figure: BrokerFigureHandler | None = None,
        client_factory: Callable[..., mqtt.Client] = mqtt.Client,
        drain: bool = False,
        mode: SubscriptionMode = "shared",
        session_mode: SubscriptionMode | None = None,
    ):
        """`session_mode`: the subscription the session held when last seen (None: unknown); a connect
        that finds the session with another one (or an unknown one) switches to `mode`."""
        self._settings = settings
        self._drain = drain
        self.mode: SubscriptionMode = mode
        self.session_mode: SubscriptionMode | None = session_mode  # what the broker's session holds
        self._switch: RouteDedupe | None = None
        self._switch_mids: dict[int, str] = {}  # packet id -> "subscribed" / "left" / "drained"
        self.left_all = threading.Event()  # drain: the broker confirmed leaving the session's subscriptions
        self._pending = 0  # received on the current connection, not yet acknowledged
        self.acked = 0  # messages acknowledged, over the source's life
        self.last_received = time.monotonic()
        self.last_acked = 0.0  # monotonic time of the last ack sent
        self.session_present: bool | None = None
        self._unsubscribed = threading.Event()
        self._unsubacks: set[int] = set()  # packet ids of the UNSUBSCRIBEs the broker confirmed
        self._handler = on_message
        self._on_figure = on_broker_figure
        self._generation = 0
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.client = client_factory(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        target = settings.mqtt
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()
        # Back within a second of a broker restart: what devices flush before a shared subscription is
        # made again finds no subscriber (devices' own libraries back off longer).
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=1)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def pending(self) -> int:
        """Messages received on the current connection and not acknowledged yet."""
        return self._pending

    def start(self) -> None:
        target = self._settings.mqtt
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._settings.mqtt_session_expiry_s
        props.ReceiveMaximum = _RECEIVE_MAXIMUM
        self.client.connect_async(
            target.host,
            target.port,
            keepalive=self._settings.mqtt_keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a message of the current connection; False when its connection is gone."""
        with self._lock:
            if delivery.generation != self._generation or not self._connected.is_set():
                return False
            if delivery.qos > 0:
                self.client.ack(delivery.mid, delivery.qos)
                self._pending -= 1
                self.acked += 1
                self.last_acked = time.monotonic()
        return True

    def _topics(self) -> list[str]:
        """Everything a session of ours may hold: both kinds of the prefix subscription, statuses, figures."""
        s = self._settings
        return [subscription(s, "shared"), subscription(s, "plain"), status_subscription(s), *BROKER_FIGURES]

    def switch_to(self, mode: SubscriptionMode) -> None:
        """Move to the other subscription (now, or at the next connect) without loss or doubles."""
        with self._lock:
            if mode == self.mode:
                return
            self.mode = mode
            if self._connected.is_set() and not self._drain:
                self._begin_switch(self.client)

    def _begin_switch(self, client: mqtt.Client) -> None:
        """Subscribe the new way (with an identifier); `_on_subscribe` leaves the old one. Under _lock."""
        log.info("moving to the %s subscription %s", self.mode, subscription(self._settings, self.mode))
        self._switch = RouteDedupe()
        _, mid = client.subscribe(
            subscription(self._settings, self.mode),
            options=_subscription_options(self.mode),
            properties=_subscribe_properties(SWITCH_SUBSCRIPTION_ID),
        )
        if mid is not None:
            self._switch_mids[mid] = "subscribed"

    def _leave_old(self, client: mqtt.Client) -> None:
        old: SubscriptionMode = "shared" if self.mode == "plain" else "plain"
        _, mid = client.unsubscribe(subscription(self._settings, old))
        if mid is not None:
            self._switch_mids[mid] = "left"

    def _settle(self, generation: int) -> None:
        """The switch's window is over: the new subscription again without identifier (cheaper to parse)."""
        with self._lock:
            if generation != self._generation or not self._connected.is_set() or self._switch is None:
                return
            twins, self._switch = self._switch.twins, None
            self.client.subscribe(subscription(self._settings, self.mode), options=_subscription_options(self.mode))
        log.info("now on the %s subscription (%d messages came twice during the move)", self.mode, twins)

    def unsubscribe(self, timeout: float) -> bool:
        """Leave the shared subscription (and the others); True once the broker confirmed it."""
        if not self._connected.is_set():
            return False
        _, mid = self.client.unsubscribe(self._topics())
        end = time.monotonic() + timeout
        # The UNSUBACK may come (in paho's thread) before unsubscribe() even returns: look the id up.
        while mid not in self._unsubacks:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._unsubscribed.wait(min(left, 0.05))
            self._unsubscribed.clear()
        return True

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect; with end_session the broker deletes the session (SessionExpiryInterval 0)."""
        if end_session:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
            self.client.disconnect(properties=props)
        else:
            self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object):
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            return
        with self._lock:
            self._generation += 1
            self._pending = 0  # the broker delivers the unacknowledged ones again
            self._switch_mids.clear()  # packet ids of a dead connection name nothing on this one
        self.session_present = bool(getattr(flags, "session_present", False))
        if self._drain:
            # Another member's session: leave what it subscribed to, receive only what was queued for it.
            _, mid = client.unsubscribe(self._topics())
            with self._lock:
                if mid is not None:
                    self._switch_mids[mid] = "drained"
            self._connected.set()
            log.info(
                "took over the session of %r (present: %s) to drain it",
                self._settings.mqtt_client_id, self.session_present,
            )  # fmt: skip
            return
        with self._lock:
            topic = subscription(self._settings, self.mode)
            if not self.session_present:
                self.session_mode = self.mode
            if self.session_mode == self.mode:
                # No identifier on the prefix subscription: its messages then carry no properties for paho to
                # parse (measured: 7 % of the GIL time with 100-sample messages).
                self._switch = None
                client.subscribe(topic, options=_subscription_options(self.mode))
            else:
                self._begin_switch(client)  # the session holds the other kind, or we do not know which
        statuses = status_subscription(self._settings)
        send_retained = SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
        options = SubscribeOptions(qos=1, retainAsPublished=False, retainHandling=send_retained)
        client.subscribe(statuses, options=options, properties=_subscribe_properties(STATUS_SUBSCRIPTION_ID))
        if self._on_figure is not None:
            client.subscribe([(figure, SubscribeOptions(qos=0)) for figure in BROKER_FIGURES])
        self._connected.set()
        log.info(
            "connected to the MQTT broker as %r, subscribing to %s and (retained statuses) %s",
            self._settings.mqtt_client_id, topic, statuses,
        )  # fmt: skip

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: list, props: object) -> None:
        for reason in reasons:
            if reason.is_failure:
                log.error("the broker refused the subscription: %s", reason)
        with self._lock:
            if self._switch_mids.pop(mid, None) == "subscribed" and not any(r.is_failure for r in reasons):
                self._leave_old(client)

    def _on_unsubscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: list, props: object) -> None:
        with self._lock:
            step = self._switch_mids.pop(mid, None)
            if step == "left":
                self.session_mode = self.mode
                switch = self._switch
                if switch is not None:
                    timer = threading.Timer(switch.window_s, self._settle, args=(self._generation,))
                    timer.daemon = True
                    timer.start()
            elif step == "drained":
                self.left_all.set()
        self._unsubacks.add(mid)
        self._unsubscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object
    ) -> None:
        self._connected.clear()
        if reason.value == _SESSION_TAKEN_OVER:
            log.error(
                "another client connected with our client id %r and took the session over: every ingest "
                "process needs its own IOC_MQTT_CLIENT_ID",
                self._settings.mqtt_client_id,
            )
        elif reason.is_failure:
            log.warning("lost the MQTT broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", errors="replace")
        if topic.startswith("$SYS/"):
            self._broker_figure(topic, message.payload)
            return
        self.last_received = time.monotonic()
        if message.qos > 0:
            with self._lock:
                self._pending += 1
        props = message.properties
        ids = getattr(props, "SubscriptionIdentifier", None) if props is not None else None
        if ids and STATUS_SUBSCRIPTION_ID in ids and not message.retain:
            # A live copy for the plain status subscription: the prefix subscription has it.
            self.ack(Delivery(message.mid, message.qos, self._generation))
            return
        switch = self._switch
        if switch is not None and not message.retain:
            route: Route = "new" if ids and SWITCH_SUBSCRIPTION_ID in ids else "old"
            if switch.is_twin(route, topic, cast(bytes, message.payload)):
                self.ack(Delivery(message.mid, message.qos, self._generation))
                return
        retained = bool(message.retain)
        try:
            self._handler(
                topic, cast(bytes, message.payload), Delivery(message.mid, message.qos, self._generation, retained)
            )
        except Exception:
            # Never let an exception reach paho: it would stop the network loop. Unacknowledged,
            # the message comes back after the next reconnect.
            log.exception("handling a message on %r failed", topic)

    def _broker_figure(self, topic: str, payload: bytes | bytearray) -> None:
        try:
            value = float(payload)
        except ValueError:
            log.warning("the broker published %r on %s, not a number", payload[:40], topic)
            return
        if self._on_figure is not None:
            self._on_figure(topic, value)
