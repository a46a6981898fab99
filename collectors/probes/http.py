"""HTTP(S) prober for service systems: `up`, `response_ms`, `http_status`, `tls_days_left`.

Configured from a `service` entity of the inventory (keys beside the core ones):

- `url` (required): what to fetch, http:// or https://
- `expect_text`: text the body must contain, else `up` = 0 (a portal that answers 200 with an error page is down)
- `expect_status`: list of acceptable status codes (default: any below 400)
- `timeout_s`: request timeout (default 10)
- `ca_file`: a CA bundle to verify the server with (default: the system's)
- `tls_verify`: false to accept any certificate (internal systems with self-signed ones);
  `tls_days_left` is measured either way
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from ioc.inventory import Entity


class ProbeConfigError(ValueError):
    pass


@dataclass(frozen=True)
class HttpTarget:
    url: str
    expect_text: str | None = None
    expect_status: tuple[int, ...] = ()
    timeout_s: float = 10.0
    ca_file: str | None = None
    tls_verify: bool = True

    @classmethod
    def from_entity(cls, entity: Entity) -> HttpTarget:
        attrs: dict[str, Any] = entity.attrs
        where = f"{entity.ref}"
        url = attrs.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ProbeConfigError(f"{where}: url must be an http:// or https:// URL, not {url!r}")
        expect_text = attrs.get("expect_text")
        if expect_text is not None and not isinstance(expect_text, str):
            raise ProbeConfigError(f"{where}: expect_text must be a string")
        statuses = attrs.get("expect_status", [])
        if isinstance(statuses, int):
            statuses = [statuses]
        if not isinstance(statuses, list) or not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
            raise ProbeConfigError(f"{where}: expect_status must be a list of HTTP status codes")
        timeout = attrs.get("timeout_s", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
            raise ProbeConfigError(f"{where}: timeout_s must be a number of seconds in (0, 120]")
        ca_file = attrs.get("ca_file")
        if ca_file is not None and not isinstance(ca_file, str):
            raise ProbeConfigError(f"{where}: ca_file must be a path")
        verify = attrs.get("tls_verify", True)
        if not isinstance(verify, bool):
            raise ProbeConfigError(f"{where}: tls_verify must be true or false")
        return cls(url, expect_text, tuple(statuses), float(timeout), ca_file, verify)


def _ssl_context(target: HttpTarget) -> ssl.SSLContext:
    if not target.tls_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=target.ca_file)


def tls_days_left(host: str, port: int, timeout_s: float, now: float) -> float:
    """Days until the server's certificate expires (negative once expired), whether or not it verifies."""
    ctx = ssl.create_default_context()
    # We only read the certificate here; whether it is trusted is the request's business.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout_s) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return round((not_after - datetime.fromtimestamp(now, UTC)).total_seconds() / 86400, 2)


def probe_http(target: HttpTarget, *, clock: Callable[[], float] = time.time) -> dict[str, float]:
    """Fetch the URL once; the metrics to publish. Never raises for what the server does."""
    metrics: dict[str, float] = {}
    parts = urlsplit(target.url)
    started = time.perf_counter()
    try:
        with httpx.Client(verify=_ssl_context(target), timeout=target.timeout_s, follow_redirects=True) as client:
            response = client.get(target.url, headers={"User-Agent": "ioc-probe/1"})
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics["response_ms"] = round(elapsed_ms, 2)
        metrics["http_status"] = response.status_code
        ok = response.status_code in target.expect_status if target.expect_status else response.status_code < 400
        if ok and target.expect_text is not None:
            ok = target.expect_text in response.text
        metrics["up"] = 1 if ok else 0
    except httpx.HTTPError:
        metrics["up"] = 0
    if parts.scheme == "https":
        # Unreachable or no TLS: `up` already says so.
        with contextlib.suppress(OSError, ValueError):
            metrics["tls_days_left"] = tls_days_left(parts.hostname or "", parts.port or 443, target.timeout_s, clock())
    return metrics
