"""E-mail over SMTP, UTF-8 subject and body."""

from alerts.notifiers.email.notifier import EmailNotifier

__all__ = ["EmailNotifier"]
