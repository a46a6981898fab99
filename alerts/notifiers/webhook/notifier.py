"""Webhook receivers get Alertmanager's webhook payload, version 4 (contract section 5)."""

from __future__ import annotations

import httpx
import orjson

from alerts.grouping import Notification
from alerts.notifiers.base import answer_of, post_json
from alerts.notifiers.message import console_url

RECEIVER = "ioc"


def payload(
    notification: Notification, *, external_url: str, receiver: str | None = None, max_alerts: int = 0
) -> dict[str, object]:
    """`max_alerts` (0: all) keeps the first alerts and counts the rest in `truncatedAlerts`, as Alertmanager."""
    alerts = notification.alerts[:max_alerts] if max_alerts else notification.alerts
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(notification.alerts) - len(alerts),
        "status": notification.status,
        "receiver": receiver or notification.receiver or RECEIVER,
        "groupLabels": notification.group_labels,
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at_iso,
                "endsAt": a.ends_at_iso,
                "generatorURL": console_url(external_url, a.id),
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        external_url: str,
        max_alerts: int = 0,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
    ):
        self.name = f"webhook:{url}"
        self.max_alerts = max_alerts
        self.last_answer = ""  # what the receiver said to the last message (`ioc notify test`)
        self.url = url
        self.external_url = external_url
        self.client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def send(self, notification: Notification) -> None:
        body = orjson.dumps(payload(notification, external_url=self.external_url, max_alerts=self.max_alerts))
        self.last_answer = answer_of(post_json(self.client, self.url, body, f"webhook {self.url}"))
