"""A real Alertmanager through its API v2 (`POST /api/v2/alerts`)."""

from alerts.notifiers.alertmanager.notifier import AlertmanagerNotifier, am_alert

__all__ = ["AlertmanagerNotifier", "am_alert"]
