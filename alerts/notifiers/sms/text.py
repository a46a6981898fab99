"""The text of an SMS: one per incident group, folded to the gateway's length, diacritics stripped
for gateways without Unicode (`Mất kết nối` becomes `Mat ket noi`, `đ` becomes `d`)."""

from __future__ import annotations

import unicodedata

from alerts.grouping import Notification
from alerts.notifiers.message import console_url, lead_alert, subject_of

_PLAIN = str.maketrans({"đ": "d", "Đ": "D", "–": "-", "—": "-", "…": "...", "•": "-", "°": "o", "‘": "'", "’": "'",
                        "“": '"', "”": '"'})  # fmt: skip


def strip_diacritics(text: str) -> str:
    """ASCII for a GSM 7-bit gateway: Vietnamese letters lose their marks, the rest that has no ASCII goes."""
    decomposed = unicodedata.normalize("NFD", text.translate(_PLAIN))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.encode("ascii", "ignore").decode("ascii")


def sms_text(notification: Notification, *, language: str, external_url: str, max_chars: int, unicode: bool) -> str:
    """`[CẢNH BÁO] <what>; <what>; ... <link>`, the link always kept whole at the end."""
    subject = subject_of(notification, language)
    if len(notification.alerts) > 1:
        subject += ": " + "; ".join(a.summary for a in notification.alerts)
    link = console_url(external_url, lead_alert(notification).id)
    if not unicode:
        subject = strip_diacritics(subject)
    room = max_chars - len(link) - 1
    ellipsis = "…" if unicode else "..."
    if len(subject) > room:
        subject = subject[: max(0, room - len(ellipsis))].rstrip() + ellipsis
    return f"{subject} {link}"[:max_chars]
