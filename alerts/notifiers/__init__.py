"""Notifiers: one module per channel, each sending firing and resolved messages with retries."""

from alerts.notifiers.base import Notifier, PermanentError, TemporaryError, send_with_retries

__all__ = ["Notifier", "PermanentError", "TemporaryError", "send_with_retries"]
