"""Alert and message texts: Vietnamese by default, English as an option; diacritics kept as they are."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.rules import TEMPLATE_FIELDS

WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "firing": "CẢNH BÁO",
        "resolved": "ĐÃ KHẮC PHỤC",
        "severity.critical": "nghiêm trọng",
        "severity.warning": "cảnh báo",
        "severity.info": "thông tin",
        "since": "từ",
        "until": "đến",
        "unreachable": "Không liên lạc được do sự cố này ({n}): {items}",
        "alerts": "{n} cảnh báo",
        "group": "Nhóm",
        "value": "giá trị",
        "link": "Xem",
    },
    "en": {
        "firing": "FIRING",
        "resolved": "RESOLVED",
        "severity.critical": "critical",
        "severity.warning": "warning",
        "severity.info": "info",
        "since": "since",
        "until": "until",
        "unreachable": "Unreachable because of this ({n}): {items}",
        "alerts": "{n} alerts",
        "group": "Group",
        "value": "value",
        "link": "See",
    },
}


def word(language: str, key: str, **fields: object) -> str:
    return WORDS.get(language, WORDS["vi"])[key].format(**fields)


def render(templates: dict[str, str], language: str, fields: dict[str, object]) -> str:
    """A rule's summary or description in the language wanted (falling back to the other one)."""
    template = templates.get(language) or templates.get("vi") or templates.get("en") or ""
    values = {**TEMPLATE_FIELDS, **{k: v for k, v in fields.items() if v is not None}}
    if not isinstance(values.get("value"), int | float):
        values["value"] = float("nan")
    try:
        return template.format(**values)
    except (KeyError, ValueError, IndexError):
        return template  # rules are checked at load; a value of an odd type still must not lose the alert


def local_time(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%H:%M:%S %d/%m/%Y")
