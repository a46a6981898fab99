"""The human-readable subject and body of a message (e-mail, Telegram, Zalo), and the console link."""

from __future__ import annotations

from alerts.grouping import AlertSnapshot, Notification
from alerts.texts import local_time, word


def console_url(external_url: str, alert_id: int | None) -> str:
    """The console page of one alert (contract section 10); the alert list when it has no id yet."""
    base = external_url.rstrip("/")
    return f"{base}/ui/alerts/{alert_id}" if alert_id is not None else f"{base}/ui/alerts"


def lead_alert(notification: Notification) -> AlertSnapshot:
    """The alert a message's closing link leads to: its first firing one, else its first."""
    return next((a for a in notification.alerts if a.status == "firing"), notification.alerts[0])


def subject_of(notification: Notification, language: str) -> str:
    firing = [a for a in notification.alerts if a.status == "firing"]
    head = word(language, "firing" if firing else "resolved")
    shown = firing or list(notification.alerts)
    if len(notification.alerts) == 1:
        return f"[{head}] {shown[0].summary}"
    where = next(iter(notification.group_labels.values()), "")
    where = shown[0].annotations.get("site_name", where) if "site" in notification.group_labels else where
    return f"[{head}] {word(language, 'alerts', n=len(notification.alerts))}" + (f" – {where}" if where else "")


def compose(notification: Notification, language: str, timezone: str, external_url: str) -> tuple[str, str]:
    firing = [a for a in notification.alerts if a.status == "firing"]
    resolved = [a for a in notification.alerts if a.status == "resolved"]
    subject = subject_of(notification, language)
    several = len(notification.alerts) > 1
    lines = []
    for group_name, members in (("firing", firing), ("resolved", resolved)):
        if not members:
            continue
        if firing and resolved:
            lines.append(f"{word(language, group_name)}:")
        for a in members:
            severity = word(language, f"severity.{a.severity}")
            when = local_time(a.starts_at, timezone) if a.starts_at else ""
            line = f"• {a.summary} [{severity}] – {word(language, 'since')} {when}"
            if a.status == "resolved" and a.ends_at:
                line += f" {word(language, 'until')} {local_time(a.ends_at, timezone)}"
            lines.append(line)
            if a.annotations.get("description"):
                lines.append(f"  {a.annotations['description']}")
            if a.status == "firing" and a.annotations.get("unreachable"):
                count = a.annotations.get("unreachable_count", "")
                lines.append("  " + word(language, "unreachable", n=count, items=a.annotations["unreachable"]))
            if several:
                lines.append(f"  {console_url(external_url, a.id)}")
    lines.append("")
    lines.append(f"{word(language, 'link')}: {console_url(external_url, lead_alert(notification).id)}")
    return subject, "\n".join(lines)
