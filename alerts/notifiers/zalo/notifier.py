"""Zalo Official Account API v3: a customer-service text message to each follower
(`POST {api_url}/v3.0/oa/message/cs`, header `access_token`), with the access token refreshed through
the OA refresh-token endpoint (`POST {oauth_url}/v4/oa/access_token`, header `secret_key`) when refused.
A refresh token is good once: the new pair is written back to the two files."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import orjson

from alerts.grouping import Notification
from alerts.notifiers.base import PermanentError, TemporaryError, check_http
from alerts.notifiers.message import compose
from alerts.notifiers.secrets import read_secret, write_secret

MAX_TEXT = 2000  # Zalo's limit on a text message
# Zalo's error codes for an access token it will not take (invalid, expired).
TOKEN_REFUSED = {-216, -124, -220}
RATE_LIMITED = {-32}


class ZaloNotifier:
    def __init__(
        self,
        *,
        access_token_file: str,
        refresh_token_file: str,
        secret_key_file: str,
        app_id: str,
        user_ids: list[str],
        language: str,
        timezone: str,
        external_url: str,
        api_url: str = "https://openapi.zalo.me",
        oauth_url: str = "https://oauth.zaloapp.com",
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ):
        self.name = "zalo"
        self.last_answer = ""  # what the receiver said to the last message (`ioc notify test`)
        self.url = f"{api_url.rstrip('/')}/v3.0/oa/message/cs"
        self.refresh_url = f"{oauth_url.rstrip('/')}/v4/oa/access_token"
        self.access_token_file, self.refresh_token_file = access_token_file, refresh_token_file
        self.secret_key_file, self.app_id, self.user_ids = secret_key_file, app_id, user_ids
        self.language, self.timezone, self.external_url = language, timezone, external_url
        self.client = client or httpx.Client(timeout=timeout_s)
        self._lock = threading.Lock()
        self._delivered: dict[int, set[str]] = {}  # per message: followers already reached, not sent twice on retry

    def close(self) -> None:
        self.client.close()

    def text(self, notification: Notification) -> str:
        subject, body = compose(notification, self.language, self.timezone, self.external_url)
        text = f"{subject}\n\n{body}"
        if len(text) > MAX_TEXT:
            link = body.rsplit("\n", 1)[-1]
            text = text[: MAX_TEXT - len(link) - 2] + "…\n" + link
        return text

    def send(self, notification: Notification) -> None:
        text = self.text(notification)
        done = self._delivered.setdefault(id(notification), set())
        for user_id in self.user_ids:
            if user_id not in done:
                self._send_one(user_id, text)
                done.add(user_id)
        del self._delivered[id(notification)]

    def _post_message(self, token: str, user_id: str, text: str) -> dict[str, Any]:
        payload = {"recipient": {"user_id": user_id}, "message": {"text": text}}
        try:
            response = self.client.post(
                self.url,
                content=orjson.dumps(payload),
                headers={"access_token": token, "Content-Type": "application/json"},
            )
        except httpx.TransportError as exc:
            raise TemporaryError(f"zalo message/cs: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 401:
            return {"error": -216, "message": "HTTP 401"}
        check_http(response, "zalo message/cs")
        try:
            answer = response.json()
        except ValueError:
            raise TemporaryError(f"zalo message/cs answered with no JSON: {response.text[:200]}") from None
        return answer if isinstance(answer, dict) else {"error": None, "message": str(answer)[:200]}

    def _send_one(self, user_id: str, text: str) -> None:
        token = read_secret(self.access_token_file, "zalo access token")
        answer = self._post_message(token, user_id, text)
        if answer.get("error") in TOKEN_REFUSED:
            token = self.refresh(token)
            answer = self._post_message(token, user_id, text)
        error = answer.get("error")
        if error == 0:
            self.last_answer = orjson.dumps(answer).decode()[:200]
            return
        what = f"zalo message/cs to {user_id} answered error {error}: {answer.get('message', '')}"
        if error in RATE_LIMITED:
            raise TemporaryError(what)
        raise PermanentError(what)

    def refresh(self, refused: str) -> str:
        """A new access token (and refresh token) from the OA refresh-token endpoint, saved to their files."""
        with self._lock:
            current = read_secret(self.access_token_file, "zalo access token")
            if current != refused:
                return current  # another thread (or `ioc notify test`) refreshed it meanwhile
            form = {
                "refresh_token": read_secret(self.refresh_token_file, "zalo refresh token"),
                "app_id": self.app_id,
                "grant_type": "refresh_token",
            }
            headers = {"secret_key": read_secret(self.secret_key_file, "zalo secret key")}
            try:
                response = self.client.post(self.refresh_url, data=form, headers=headers)
            except httpx.TransportError as exc:
                raise TemporaryError(f"zalo token refresh: {type(exc).__name__}: {exc}") from exc
            check_http(response, "zalo token refresh")
            try:
                answer = response.json()
            except ValueError:
                raise TemporaryError(f"zalo token refresh answered with no JSON: {response.text[:200]}") from None
            token, renewed = answer.get("access_token"), answer.get("refresh_token")
            if not token or not renewed:
                detail = answer.get("error_description") or answer.get("message") or answer.get("error")
                raise PermanentError(f"zalo token refresh refused: {detail}")
            write_secret(self.access_token_file, token)
            write_secret(self.refresh_token_file, renewed)
            return str(token)
