"""The HTTP(S) prober against real local servers, one with a short-lived self-signed certificate."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors.probes.http import HttpTarget, ProbeConfigError, probe_http
from ioc.inventory import Entity


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = {
            "/ok": (200, "Cổng Dịch vụ công tỉnh: hoạt động bình thường"),
            "/error-page": (200, "Lỗi hệ thống"),
            "/fail": (503, "bảo trì"),
        }.get(self.path, (404, "không có"))
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def serve(ctx: ssl.SSLContext | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if ctx is not None:
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"{'https' if ctx else 'http'}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_url() -> Iterator[str]:
    yield from serve()


def make_cert(tmp_path: Path, days: float) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert_file, key_file = make_cert(tmp_path, days=10)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    for url in serve(ctx):
        yield url, cert_file


def target(**attrs: object) -> HttpTarget:
    return HttpTarget.from_entity(Entity("service", "dvc-portal", "Cổng Dịch vụ công tỉnh", attrs=attrs))


def test_up_with_status_time_and_content(http_url: str) -> None:
    metrics = probe_http(target(url=f"{http_url}/ok", expect_text="hoạt động bình thường"))
    assert metrics["up"] == 1
    assert metrics["http_status"] == 200
    assert 0 < metrics["response_ms"] < 5000
    assert "tls_days_left" not in metrics


def test_content_check_fails_on_error_page(http_url: str) -> None:
    metrics = probe_http(target(url=f"{http_url}/error-page", expect_text="hoạt động bình thường"))
    assert (metrics["up"], metrics["http_status"]) == (0, 200)


def test_server_error_is_down_unless_expected(http_url: str) -> None:
    assert probe_http(target(url=f"{http_url}/fail"))["up"] == 0
    assert probe_http(target(url=f"{http_url}/fail", expect_status=[503]))["up"] == 1


def test_unreachable_is_down_without_timing(http_url: str) -> None:
    closed = http_url.rsplit(":", 1)[0] + ":1"
    metrics = probe_http(target(url=f"{closed}/ok", timeout_s=1))
    assert metrics == {"up": 0}


def test_https_reports_days_left_of_a_short_lived_certificate(https_server: tuple[str, Path]) -> None:
    url, cert_file = https_server
    metrics = probe_http(target(url=f"{url}/ok", ca_file=str(cert_file)))
    assert metrics["up"] == 1
    assert 9.9 < metrics["tls_days_left"] <= 10.0


def test_untrusted_certificate_is_down_but_expiry_still_measured(https_server: tuple[str, Path]) -> None:
    url, _ = https_server
    metrics = probe_http(target(url=f"{url}/ok"))
    assert metrics["up"] == 0
    assert 9.9 < metrics["tls_days_left"] <= 10.0
    relaxed = probe_http(target(url=f"{url}/ok", tls_verify=False))
    assert relaxed["up"] == 1


def test_expired_certificate_counts_negative(tmp_path: Path) -> None:
    cert_file, key_file = make_cert(tmp_path, days=-2)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    for url in serve(ctx):
        metrics = probe_http(target(url=f"{url}/ok", ca_file=str(cert_file)))
        assert metrics["up"] == 0
        assert -2.01 < metrics["tls_days_left"] < -1.99


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({}, "service/dvc-portal: url must be an http:// or https:// URL, not None"),
        ({"url": "ftp://x/"}, "service/dvc-portal: url must be an http:// or https:// URL, not 'ftp://x/'"),
        ({"url": "http://x/", "expect_text": 5}, "service/dvc-portal: expect_text must be a string"),
        (
            {"url": "http://x/", "expect_status": ["200"]},
            "service/dvc-portal: expect_status must be a list of HTTP status codes",
        ),
        ({"url": "http://x/", "timeout_s": 0}, "service/dvc-portal: timeout_s must be a number of seconds in (0, 120]"),
        ({"url": "http://x/", "tls_verify": "no"}, "service/dvc-portal: tls_verify must be true or false"),
    ],
)
def test_config_errors(attrs: dict[str, object], message: str) -> None:
    with pytest.raises(ProbeConfigError) as err:
        target(**attrs)
    assert str(err.value) == message
