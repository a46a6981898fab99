"""The last stage: each integration of a receiver (one webhook, one Zalo OA, ...) sends in a thread of
its own with retries, so a slow channel delays no other; `send_resolved: false` drops resolved alerts.
With several alerts processes, a fence (alerts/leadership.py) is asked before each message and each
attempt, so only the leader sends."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from alerts.grouping import Notification
from alerts.notifiers.base import Notifier, PermanentError, TemporaryError, send_with_retries
from ioc.metrics import AlertMetrics

log = logging.getLogger("ioc.alerts")


class SendFence(Protocol):
    def claim(self, outbox_id: int | None) -> bool:
        """Before a message: True when this process may send it (and it is now taken)."""
        ...

    def holds(self) -> bool:
        """Before each attempt: True while this process may still send."""
        ...


class Fenced(Exception):
    """This process stopped leading while it was sending: the message is the new leader's to send."""


@dataclass
class Integration:
    notifier: Notifier
    send_resolved: bool = True
    digest: bool = False  # a person reads it (e-mail, Telegram, Zalo, SMS): a round's groups as one message

    @property
    def channel(self) -> str:
        return self.notifier.name.split(":", 1)[0]


def digest(notifications: list[Notification]) -> Notification:
    """The messages of one round to one receiver as one: a province-wide storm is one SMS, not one a site."""
    if len(notifications) == 1:
        return notifications[0]
    alerts = tuple(a for n in notifications for a in n.alerts)
    keys = ";".join(n.group_key for n in notifications)
    return Notification(f"digest:{{{keys}}}", {}, alerts, receiver=notifications[0].receiver)


class IntegrationWorker:
    def __init__(
        self,
        receiver: str,
        index: int,
        integration: Integration,
        metrics: AlertMetrics,
        stopping: threading.Event,
        retry_base_s: float,
        on_done: Callable[[int], None] | None = None,
        fence: SendFence | None = None,
    ):
        self.receiver, self.index, self.integration = receiver, index, integration
        self.metrics, self.stopping, self.retry_base_s = metrics, stopping, retry_base_s
        self.on_done = on_done
        self.fence = fence
        # (outbox id, message): the id is that of its row in the store, None for one not kept there.
        self.queue: queue.Queue[tuple[int | None, Notification] | None] = queue.Queue()
        name = f"ioc-notify-{receiver}-{integration.notifier.name}"
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        channel = self.integration.channel
        while True:
            item = self.queue.get()
            if item is None:
                return
            outbox_id, notification = item
            if self.fence is not None and not self.fence.claim(outbox_id):
                log.info("not sending a %s message to %s (%s): this process does not lead",
                         channel, self.receiver, notification.group_key)  # fmt: skip
                continue
            delivered = False
            try:
                send_with_retries(
                    lambda n=notification: self._attempt(n),  # type: ignore[misc]
                    base_s=self.retry_base_s,
                    sleep=self.stopping.wait,
                    on_retry=lambda exc: self.metrics.notification_retries.labels(channel).inc(),
                )
                self.metrics.notifications.labels(channel).inc()
                delivered = True
            except Fenced:
                log.warning("stopped sending a %s message to %s (%s): this process no longer leads",
                            channel, self.receiver, notification.group_key)  # fmt: skip
                continue  # still in the outbox, for the leader
            except (TemporaryError, PermanentError) as exc:
                self.metrics.notification_failures.labels(channel).inc()
                log.error(
                    "giving up on a %s message to %s (%s): %s", channel, self.receiver, notification.group_key, exc
                )
            except Exception:
                self.metrics.notification_failures.labels(channel).inc()
                log.exception("a %s message to %s failed", channel, self.receiver)
            # Sent, or given up on: either way not to be sent again after a restart. A message sent while
            # the process stops is done too (else the next process sends it again); one whose retries
            # the stop cut short stays in the outbox for the next process.
            if outbox_id is not None and self.on_done is not None and (delivered or not self.stopping.is_set()):
                self.on_done(outbox_id)

    def _attempt(self, notification: Notification) -> None:
        if self.fence is not None and not self.fence.holds():
            raise Fenced()
        self.integration.notifier.send(notification)

    def drain(self) -> None:
        """Forget the messages waiting here (they stay in the outbox)."""
        try:
            while True:
                item = self.queue.get_nowait()
                if item is None:  # stop() was asked meanwhile
                    self.queue.put(None)
                    return
        except queue.Empty:
            pass


class Deliverer:
    """Hands each message to the integrations of its receiver."""

    def __init__(
        self,
        receivers: Mapping[str, list[Integration]],
        metrics: AlertMetrics,
        stopping: threading.Event,
        retry_base_s: float = 0.5,
        on_done: Callable[[int], None] | None = None,
        fence: SendFence | None = None,
    ):
        self.workers = {
            name: [
                IntegrationWorker(name, index, i, metrics, stopping, retry_base_s, on_done, fence)
                for index, i in enumerate(integrations)
            ]
            for name, integrations in receivers.items()
        }

    def all(self) -> list[IntegrationWorker]:
        return [w for workers in self.workers.values() for w in workers]

    def start(self) -> None:
        for worker in self.all():
            worker.thread.start()

    def drain(self) -> None:
        for worker in self.all():
            worker.drain()

    def deliver(self, notifications: list[Notification]) -> None:
        for worker, message in self.plan(notifications):
            worker.queue.put((None, message))

    def plan(self, notifications: list[Notification]) -> list[tuple[IntegrationWorker, Notification]]:
        """One round's messages: each to the integrations of its receiver, as a digest where one is read."""
        out: list[tuple[IntegrationWorker, Notification]] = []
        by_receiver: dict[str, list[Notification]] = {}
        for notification in notifications:
            by_receiver.setdefault(notification.receiver, []).append(notification)
        for receiver, mine in by_receiver.items():
            for worker in self.workers.get(receiver, ()):
                wanted = [m for n in mine if (m := n if worker.integration.send_resolved else n.without_resolved())]
                if wanted and worker.integration.digest:
                    out.append((worker, digest(wanted)))
                else:
                    out.extend((worker, message) for message in wanted)
        return out

    def stop(self) -> None:
        for worker in self.all():
            worker.queue.put(None)
        for worker in self.all():
            worker.thread.join(timeout=10)
            worker.integration.notifier.close()
