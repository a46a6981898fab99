"""Zalo Official Account API v3: customer-service text messages, the access token refreshed when refused."""

from alerts.notifiers.zalo.notifier import MAX_TEXT, ZaloNotifier

__all__ = ["MAX_TEXT", "ZaloNotifier"]
