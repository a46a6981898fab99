"""SMS over an HTTP gateway: a request built from a body template (`{text}`, `{phone}`, `{phones}` and
the secrets), with presets for eSMS and SpeedSMS as they document their APIs."""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from alerts.grouping import Notification
from alerts.notifiers.base import PermanentError, TemporaryError, answer_of, check_http
from alerts.notifiers.secrets import read_secret
from alerts.notifiers.sms.text import sms_text

ESMS_URL = "https://rest.esms.vn/MainService.svc/json/SendMultipleMessage_V4_post_json/"
SPEEDSMS_URL = "https://api.speedsms.vn/index.php/sms/send"


@dataclass(frozen=True)
class Gateway:
    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body_template: dict[str, Any] | str = ""  # a mapping is sent as JSON, a string as a form
    preset: str | None = None


def preset_gateway(preset: str, *, url: str | None = None) -> Gateway:
    if preset == "esms":
        # eSMS: customer-care SMS (SmsType 2) with a registered brand name, one phone per request.
        body: dict[str, object] = {
            "ApiKey": "{api_key}", "Content": "{text}", "Phone": "{phone}", "SecretKey": "{secret_key}",
            "Brandname": "{brandname}", "SmsType": "2", "IsUnicode": "{is_unicode}", "Sandbox": "0",
        }  # fmt: skip
        return Gateway(url or ESMS_URL, "POST", {"Content-Type": "application/json"}, body, "esms")
    if preset == "speedsms":
        # SpeedSMS: HTTP Basic with the access token as user and `x` as password; all phones in one request.
        body = {"to": "{phones}", "content": "{text}", "sms_type": 2, "sender": "{brandname}"}
        headers = {"Content-Type": "application/json", "Authorization": "Basic {basic_token}"}
        return Gateway(url or SPEEDSMS_URL, "POST", headers, body, "speedsms")
    raise ValueError(f"unknown SMS preset {preset!r}")


def _fill(template: Any, values: dict[str, str], phones: list[str]) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, values, phones) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values, phones) for v in template]
    if template == "{phones}":
        return list(phones)
    if isinstance(template, str):
        return template.format_map(values)
    return template


class SmsNotifier:
    def __init__(
        self,
        gateway: Gateway,
        *,
        phones: list[str],
        language: str,
        external_url: str,
        max_chars: int = 160,
        unicode: bool = False,
        brandname: str = "",
        api_key_file: str | None = None,
        secret_key_file: str | None = None,
        access_token_file: str | None = None,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ):
        self.name = f"sms:{gateway.preset or gateway.url}"
        self.last_answer = ""  # what the receiver said to the last message (`ioc notify test`)
        self.gateway, self.phones = gateway, phones
        self.language, self.external_url, self.max_chars, self.unicode = language, external_url, max_chars, unicode
        self.brandname = brandname
        self.files = {"api_key": api_key_file, "secret_key": secret_key_file, "access_token": access_token_file}
        self.client = client or httpx.Client(timeout=timeout_s)
        self._delivered: dict[int, set[str]] = {}

    def close(self) -> None:
        self.client.close()

    def text(self, notification: Notification) -> str:
        return sms_text(
            notification, language=self.language, external_url=self.external_url, max_chars=self.max_chars,
            unicode=self.unicode,
        )  # fmt: skip

    def _values(self, text: str) -> dict[str, str]:
        values = {"text": text, "brandname": self.brandname, "is_unicode": "1" if self.unicode else "0"}
        for name, path in self.files.items():
            values[name] = read_secret(path, f"SMS {name}") if path else ""
        if values["access_token"]:
            values["basic_token"] = base64.b64encode(f"{values['access_token']}:x".encode()).decode()
        return values

    def _uses_phone(self) -> bool:
        return "{phone}" in orjson.dumps(self.gateway.body_template).decode() or "{phone}" in self.gateway.url

    def send(self, notification: Notification) -> None:
        """One SMS per phone for the whole group (never one per alert)."""
        values = self._values(self.text(notification))
        done = self._delivered.setdefault(id(notification), set())
        batches = [[p] for p in self.phones] if self._uses_phone() else [list(self.phones)]
        for phones in batches:
            key = ",".join(phones)
            if key not in done:
                self._request({**values, "phone": phones[0]}, phones)
                done.add(key)
        del self._delivered[id(notification)]

    def _request(self, values: dict[str, str], phones: list[str]) -> None:
        gateway = self.gateway
        headers = {k: v.format_map(values) for k, v in gateway.headers.items()}
        url = gateway.url.format_map({k: urllib.parse.quote(v, safe="") for k, v in values.items()})
        what = f"SMS gateway {gateway.preset or urllib.parse.urlsplit(gateway.url).netloc}"
        content: bytes | None = None
        if isinstance(gateway.body_template, dict):
            content = orjson.dumps(_fill(gateway.body_template, values, phones))
            headers.setdefault("Content-Type", "application/json")
        elif gateway.body_template:
            form = {k: urllib.parse.quote_plus(v) for k, v in values.items()}
            content = gateway.body_template.format_map(form).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            response = self.client.request(gateway.method, url, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise TemporaryError(f"{what}: {type(exc).__name__}: {exc}") from exc
        check_http(response, what)
        self._check_answer(response, what)
        self.last_answer = answer_of(response)

    def _check_answer(self, response: httpx.Response, what: str) -> None:
        """The presets' gateways answer 200 with their own verdict in the body."""
        if self.gateway.preset is None:
            return
        try:
            answer = response.json()
        except ValueError:
            raise TemporaryError(f"{what} answered with no JSON: {response.text[:200]}") from None
        if self.gateway.preset == "esms":
            code = str(answer.get("CodeResult"))
            if code == "100":
                return
            message = f"{what} answered CodeResult {code}: {answer.get('ErrorMessage', '')}"
            raise TemporaryError(message) if code == "99" else PermanentError(message)
        if answer.get("status") != "success":
            raise PermanentError(f"{what} answered {answer.get('code')}: {answer.get('message', '')}")
