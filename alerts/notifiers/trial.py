"""`ioc notify test RECEIVER`: one made-up firing alert through every integration of one receiver, once."""

from __future__ import annotations

import time

from alerts.alert import FIRING, Alert, alert_labels, fingerprint
from alerts.grouping import AlertSnapshot, Notification
from alerts.notifiers.base import PermanentError, TemporaryError
from alerts.receivers import load_delivery
from ioc.settings import Settings

SUMMARY = {"vi": "Thử kênh cảnh báo: tin nhắn này đến được là kênh hoạt động", "en": "Alert channel test"}


def trial_notification(receiver: str, language: str, now: float) -> Notification:
    labels = alert_labels(rule="ioc_notify_test", severity="info", kind="service", entity="ioc", site=None, agency=None)
    summary = SUMMARY.get(language, SUMMARY["vi"])
    alert = Alert(
        fingerprint(labels), "ioc_notify_test", "info", "service", "ioc", labels, state=FIRING,
        summary=summary, annotations={"summary": summary}, pending_since=now, starts_at=now,
    )  # fmt: skip
    return Notification("{}:{}", {}, (AlertSnapshot.of(alert, "firing"),), receiver=receiver)


def send_trial(settings: Settings, receiver: str, now: float | None = None) -> tuple[list[str], bool]:
    """A line per integration saying what came back, and whether all succeeded."""
    delivery = load_delivery(settings)
    integrations = delivery.receivers.get(receiver)
    if integrations is None:
        known = ", ".join(sorted(delivery.receivers)) or "none"
        return [f"no receiver named {receiver!r} (receivers: {known})"], False
    if not integrations:
        return [f"receiver {receiver!r} has no integrations: nothing to send"], False
    notification = trial_notification(receiver, settings.language, time.time() if now is None else now)
    lines, ok = [], True
    for integration in integrations:
        name = integration.notifier.name
        try:
            integration.notifier.send(notification)
            answer = getattr(integration.notifier, "last_answer", "")
            lines.append(f"{receiver}/{name}: sent" + (f", answered {answer}" if answer else ""))
        except (TemporaryError, PermanentError) as exc:
            kind = "temporary" if isinstance(exc, TemporaryError) else "permanent"
            lines.append(f"{receiver}/{name}: failed ({kind}): {exc}")
            ok = False
        finally:
            integration.notifier.close()
    return lines, ok
