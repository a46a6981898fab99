"""Telegram Bot API `sendMessage`, with a configurable base URL (a local server in tests)."""

from __future__ import annotations

import httpx
import orjson

from alerts.grouping import Notification
from alerts.notifiers.base import answer_of, post_json
from alerts.notifiers.message import compose

MAX_TEXT = 4096  # Telegram's limit on one message


class TelegramNotifier:
    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        chat_ids: list[str],
        language: str,
        timezone: str,
        external_url: str,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ):
        self.name = "telegram"
        self.last_answer = ""  # what the receiver said to the last message (`ioc notify test`)
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_ids = chat_ids
        self.language, self.timezone, self.external_url = language, timezone, external_url
        self.client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def send(self, notification: Notification) -> None:
        subject, body = compose(notification, self.language, self.timezone, self.external_url)
        text = f"{subject}\n\n{body}"
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1] + "…"
        for chat_id in self.chat_ids:
            payload = {"chat_id": chat_id, "text": text, "disable_web_page_preview": True}
            # The token is part of the URL: never let it into an error message.
            response = post_json(self.client, self.url, orjson.dumps(payload), "telegram sendMessage")
            self.last_answer = answer_of(response)
