"""Telegram Bot API `sendMessage`."""

from alerts.notifiers.telegram.notifier import MAX_TEXT, TelegramNotifier

__all__ = ["MAX_TEXT", "TelegramNotifier"]
