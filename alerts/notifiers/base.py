"""What every notifier shares: the interface, and retries with capped backoff on temporary failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import httpx

from alerts.grouping import Notification


class TemporaryError(Exception):
    """Worth another try: a timeout, a refused connection, a 5xx or 429 answer."""


class PermanentError(Exception):
    """Trying again will not help: a 4xx answer, a bad address."""


class Notifier(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...

    def close(self) -> None: ...


def check_http(response: httpx.Response, what: str) -> None:
    """Sort an HTTP answer into success, temporary or permanent failure."""
    if response.status_code >= 500 or response.status_code == 429:
        raise TemporaryError(f"{what} answered {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise PermanentError(f"{what} answered {response.status_code}: {response.text[:200]}")


def answer_of(response: httpx.Response) -> str:
    """What a receiver answered, for `ioc notify test`: the status and the start of the body."""
    text = " ".join(response.text.split())
    return f"{response.status_code} {text[:200]}".rstrip()


def post_json(client: httpx.Client, url: str, body: bytes, what: str) -> httpx.Response:
    try:
        response = client.post(url, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    except httpx.TransportError as exc:  # timeouts, refused and reset connections
        raise TemporaryError(f"{what}: {type(exc).__name__}: {exc}") from exc
    check_http(response, what)
    return response


def send_with_retries(
    send: Callable[[], None],
    *,
    attempts: int = 5,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    sleep: Callable[[float], object] = time.sleep,
    on_retry: Callable[[Exception], None] | None = None,
) -> None:
    """Call `send` until it succeeds, retrying TemporaryError with doubling backoff; re-raises the last error."""
    for attempt in range(attempts):
        try:
            send()
            return
        except TemporaryError as exc:
            if attempt == attempts - 1:
                raise
            if on_retry is not None:
                on_retry(exc)
            sleep(min(cap_s, base_s * 2**attempt))
