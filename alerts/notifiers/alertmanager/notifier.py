"""Forwarding to a real Alertmanager through its API v2 (`POST /api/v2/alerts`)."""

from __future__ import annotations

import httpx
import orjson

from alerts.grouping import AlertSnapshot, Notification
from alerts.notifiers.base import answer_of, post_json
from alerts.notifiers.message import console_url


def am_alert(alert: AlertSnapshot, external_url: str) -> dict[str, object]:
    body: dict[str, object] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": alert.starts_at_iso,
        "generatorURL": console_url(external_url, alert.id),
    }
    if alert.status == "resolved":
        body["endsAt"] = alert.ends_at_iso
    return body


class AlertmanagerNotifier:
    """Firing alerts are sent again every minute by the service, as Prometheus does, so Alertmanager
    does not time them out; a resolved one is sent with its `endsAt`."""

    def __init__(self, base_url: str, *, external_url: str, timeout_s: float = 5.0, client: httpx.Client | None = None):
        self.name = "alertmanager"
        self.last_answer = ""  # what the receiver said to the last message (`ioc notify test`)
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.external_url = external_url
        self.client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def send(self, notification: Notification) -> None:
        body = orjson.dumps([am_alert(a, self.external_url) for a in notification.alerts])
        self.last_answer = answer_of(post_json(self.client, self.url, body, f"alertmanager {self.url}"))
