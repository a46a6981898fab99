"""Local stand-ins for the providers that have no package here (Zalo OA, eSMS, SpeedSMS, Telegram):
HTTP servers that check each request as the provider documents it and answer as it does.

Zalo OA API v3 (developers.zalo.me): `POST /v3.0/oa/message/cs`, header `access_token`, JSON
`{"recipient": {"user_id"}, "message": {"text"}}` (text at most 2000 characters), answer
`{"error": 0, "message": "Success", "data": {"message_id", "user_id"}}`, or error -216 for a token it
will not take; `POST /v4/oa/access_token` (oauth.zaloapp.com), header `secret_key`, form
`refresh_token`, `app_id`, `grant_type=refresh_token`, answer `{"access_token", "refresh_token",
"expires_in"}`; a refresh token is good once.
eSMS (developers.esms.vn): `POST /MainService.svc/json/SendMultipleMessage_V4_post_json/`, JSON with
ApiKey, SecretKey, Content, Phone, Brandname, SmsType and the optional IsUnicode, Sandbox, campaignid,
RequestId, CallbackUrl, SendDate; answer `{"CodeResult": "100", "SMSID": ...}` or another CodeResult
with an ErrorMessage.
SpeedSMS (speedsms.vn/sms-api-service): `POST /index.php/sms/send`, HTTP Basic with the access token as
user and `x` as password, JSON `{"to": [phones], "content", "sms_type", "sender"}`, answer
`{"status": "success", "code": "00", "data": {"tranId", "totalSMS", "totalPrice", "invalidPhone"}}`.
Telegram Bot API: `POST /bot<token>/sendMessage`, JSON with chat_id and text (at most 4096)."""

from __future__ import annotations

import base64
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body.decode(), strict_parsing=True)


class Problem(Exception):
    """A request the provider would refuse: answered 400 and recorded, so a test sees what was wrong."""


@dataclass
class StandIn:
    handle: Callable[[Request], tuple[int, Any]]
    accepted: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        stand_in = self
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with stand_in.lock:
                    try:
                        code, answer = stand_in.handle(request)
                        stand_in.accepted.append(request)
                    except Problem as exc:
                        stand_in.problems.append(str(exc))
                        code, answer = 400, {"error": str(exc)}
                reply = orjson.dumps(answer)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = do_GET = do_PUT = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def need(condition: bool, problem: str) -> None:
    if not condition:
        raise Problem(problem)


def _json_body(request: Request) -> Any:
    need(request.headers.get("content-type", "").startswith("application/json"), "Content-Type is not JSON")
    try:
        return request.json()
    except orjson.JSONDecodeError:
        raise Problem("body is not JSON") from None


class Zalo:
    """The OA API and its OAuth refresh endpoint on one server (their hosts differ in production)."""

    def __init__(self, *, access_token: str, refresh_token: str, secret_key: str, app_id: str):
        self.access_token, self.refresh_token = access_token, refresh_token
        self.secret_key, self.app_id = secret_key, app_id
        self.refreshes = 0
        self.delivered: list[tuple[str, str]] = []
        self.server = StandIn(self._handle)
        self.url = self.server.url

    def messages(self) -> list[tuple[str, str]]:
        """(user_id, text) of every message taken."""
        return list(self.delivered)

    def _handle(self, request: Request) -> tuple[int, Any]:
        need(request.method == "POST", f"{request.method} {request.path}: only POST is documented")
        if request.path == "/v4/oa/access_token":
            need(request.headers.get("content-type") == "application/x-www-form-urlencoded", "refresh: not a form")
            need(request.headers.get("secret_key") == self.secret_key, "refresh: wrong or missing secret_key header")
            form = request.form()
            need(set(form) == {"refresh_token", "app_id", "grant_type"}, f"refresh: form fields {sorted(form)}")
            need(form["grant_type"] == ["refresh_token"] and form["app_id"] == [self.app_id], "refresh: bad fields")
            if form["refresh_token"] != [self.refresh_token]:
                return 200, {"error": -14014, "error_name": "Invalid refresh token", "error_description": "expired"}
            self.refreshes += 1
            self.access_token = f"access-{self.refreshes}"
            self.refresh_token = f"refresh-{self.refreshes}"  # the old one is spent
            return 200, {"access_token": self.access_token, "refresh_token": self.refresh_token, "expires_in": "90000"}
        need(request.path == "/v3.0/oa/message/cs", f"unknown path {request.path}")
        body = _json_body(request)
        need(isinstance(body, dict) and set(body) == {"recipient", "message"}, f"message: keys {sorted(body)}")
        need(set(body["recipient"]) == {"user_id"}, "message: recipient must be {user_id}")
        need(set(body["message"]) == {"text"}, "message: a text message is {text}")
        text = body["message"]["text"]
        need(isinstance(text, str) and 0 < len(text) <= 2000, f"message: text of {len(text)} characters")
        if request.headers.get("access_token") != self.access_token:
            return 200, {"error": -216, "message": "Access token is invalid"}
        self.delivered.append((body["recipient"]["user_id"], text))
        return 200, {"data": {"message_id": f"m{len(self.server.accepted)}", "user_id": body["recipient"]["user_id"]},
                     "error": 0, "message": "Success"}  # fmt: skip

    def close(self) -> None:
        self.server.close()


ESMS_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
ESMS_KEYS = {"ApiKey", "Content", "Phone", "SecretKey", "Brandname", "SmsType"}
ESMS_OPTIONAL = {"IsUnicode", "Sandbox", "campaignid", "RequestId", "CallbackUrl", "SendDate"}


class ESms:
    def __init__(self, *, api_key: str, secret_key: str):
        self.api_key, self.secret_key = api_key, secret_key
        self.server = StandIn(self._handle)
        self.url = self.server.url + ESMS_PATH

    def messages(self) -> list[tuple[str, str]]:
        return [(r.json()["Phone"], r.json()["Content"]) for r in self.server.accepted]

    def _handle(self, request: Request) -> tuple[int, Any]:
        need(request.method == "POST" and request.path == ESMS_PATH, f"{request.method} {request.path}")
        body = _json_body(request)
        need(ESMS_KEYS <= set(body) <= ESMS_KEYS | ESMS_OPTIONAL, f"keys {sorted(body)}")
        need(all(isinstance(body[k], str) for k in ESMS_KEYS), "every field is a string")
        if (body["ApiKey"], body["SecretKey"]) != (self.api_key, self.secret_key):
            return 200, {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
        content, unicode = body["Content"], body.get("IsUnicode", "0") == "1"
        if not unicode:
            need(content.isascii(), f"IsUnicode 0 but the content is not ASCII: {content!r}")
        need(len(content) <= (70 if unicode else 160), f"content of {len(content)} characters in one SMS")
        return 200, {"CodeResult": "100", "CountRegenerate": 0, "SMSID": f"sms-{len(self.server.accepted)}"}

    def close(self) -> None:
        self.server.close()


class SpeedSms:
    def __init__(self, *, access_token: str):
        self.access_token = access_token
        self.server = StandIn(self._handle)
        self.url = self.server.url + "/index.php/sms/send"

    def messages(self) -> list[tuple[tuple[str, ...], str]]:
        return [(tuple(r.json()["to"]), r.json()["content"]) for r in self.server.accepted]

    def _handle(self, request: Request) -> tuple[int, Any]:
        need(request.method == "POST" and request.path == "/index.php/sms/send", f"{request.method} {request.path}")
        auth = request.headers.get("authorization", "")
        need(auth.startswith("Basic "), "no HTTP Basic authorization")
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if (user, password) != (self.access_token, "x"):
            return 200, {"status": "error", "code": "007", "message": "invalid access token"}
        body = _json_body(request)
        need(set(body) == {"to", "content", "sms_type", "sender"}, f"keys {sorted(body)}")
        need(isinstance(body["to"], list) and all(isinstance(p, str) for p in body["to"]), "to is a list of phones")
        need(body["sms_type"] in (2, 3, 4, 5), f"sms_type {body['sms_type']!r}")
        need(isinstance(body["content"], str) and body["content"].isascii(), "content must be plain text")
        return 200, {"status": "success", "code": "00",
                     "data": {"tranId": len(self.server.accepted), "totalSMS": len(body["to"]), "totalPrice": 250,
                              "invalidPhone": []}}  # fmt: skip

    def close(self) -> None:
        self.server.close()


class Telegram:
    def __init__(self, *, token: str):
        self.token = token
        self.server = StandIn(self._handle)
        self.url = self.server.url

    def messages(self) -> list[tuple[str, str]]:
        return [(str(r.json()["chat_id"]), r.json()["text"]) for r in self.server.accepted]

    def _handle(self, request: Request) -> tuple[int, Any]:
        if request.path != f"/bot{self.token}/sendMessage":
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        body = _json_body(request)
        need({"chat_id", "text"} <= set(body), "sendMessage needs chat_id and text")
        need(0 < len(body["text"]) <= 4096, "text of 1 to 4096 characters")
        return 200, {"ok": True, "result": {"message_id": len(self.server.accepted), "text": body["text"]}}

    def close(self) -> None:
        self.server.close()
