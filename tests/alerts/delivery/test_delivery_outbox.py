"""The notify stage and the outbox: what was sent is off the outbox even when the process stops meanwhile;
what a stop cut short stays for the next process."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from alerts.delivery.notify import Integration, IntegrationWorker
from alerts.grouping import Notification
from alerts.notifiers.base import TemporaryError
from ioc.metrics import AlertMetrics


class StoppingNotifier:
    """Stands for a receiver that takes the message (or refuses it) just as the process is told to stop."""

    name = "webhook:test"

    def __init__(self, stopping: threading.Event, refuse: bool):
        self.stopping, self.refuse = stopping, refuse
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.stopping.set()
        if self.refuse:
            raise TemporaryError("answered 503")
        self.sent.append(notification)

    def close(self) -> None:
        pass


def _run_one(refuse: bool) -> tuple[list[int], StoppingNotifier]:
    stopping = threading.Event()
    notifier = StoppingNotifier(stopping, refuse)
    done: list[int] = []
    worker = IntegrationWorker(
        "on-call", 0, Integration(notifier), AlertMetrics(CollectorRegistry()), stopping, 0.01, done.append
    )
    worker.thread.start()
    worker.queue.put((7, Notification("g", {}, ())))
    worker.queue.put(None)
    worker.thread.join(10)
    return done, notifier


def test_a_message_sent_while_the_process_stops_is_off_the_outbox():
    done, notifier = _run_one(refuse=False)
    assert len(notifier.sent) == 1 and done == [7]  # else the next process would page again


def test_a_message_whose_retries_a_stop_cut_short_stays_in_the_outbox():
    done, notifier = _run_one(refuse=True)
    assert notifier.sent == [] and done == []  # the next process sends it
