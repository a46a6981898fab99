"""Fixtures for the alert tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from alert_helpers import Receiver, wait_until

from ioc.store.connect import make_pool
from tests.conftest import free_port


@pytest.fixture
def pool(dsn: str) -> Iterator[object]:
    p = make_pool(dsn, max_size=4, name="ioc-alerts-test")
    p.open(wait=True)
    yield p
    p.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[str]:
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 50ms\n  group_interval: 200ms\n"
        "  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: {receiver.url}/from-am\n        send_resolved: true\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [
            ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=0.5).status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            return False

    wait_until(ready, timeout=15, what="alertmanager ready")
    yield url
    proc.terminate()
    proc.wait(10)
    proc.stderr.close()  # type: ignore[union-attr]
