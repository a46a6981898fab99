"""The human-readable subject and body of a message, for e-mail and Telegram."""

from __future__ import annotations

from alerts.grouping import Notification
from alerts.texts import local_time, word


def compose(notification: Notification, language: str, timezone: str, external_url: str) -> tuple[str, str]:
    firing = [a for a in notification.alerts if a.status == "firing"]
    resolved = [a for a in notification.alerts if a.status == "resolved"]
    head = word(language, "firing" if firing else "resolved")
    shown = firing or resolved
    if len(notification.alerts) == 1:
        subject = f"[{head}] {shown[0].summary}"
    else:
        where = next(iter(notification.group_labels.values()), "")
        where = shown[0].annotations.get("site_name", where) if "site" in notification.group_labels else where
        subject = f"[{head}] {word(language, 'alerts', n=len(notification.alerts))}" + (f" – {where}" if where else "")
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
    lines.append("")
    lines.append(f"{word(language, 'link')}: {external_url.rstrip('/')}/api/v1/alerts")
    return subject, "\n".join(lines)
