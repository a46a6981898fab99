"""Webhook receivers: Alertmanager's webhook payload, version 4 (contract section 5)."""

from alerts.notifiers.webhook.notifier import RECEIVER, WebhookNotifier, payload

__all__ = ["RECEIVER", "WebhookNotifier", "payload"]
