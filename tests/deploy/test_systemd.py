"""The systemd units load cleanly with `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path("deploy/systemd")


def test_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    ioc = str(Path(sys.executable).parent / "ioc")
    for unit in UNITS.iterdir():
        # The units name the installed path; point them at this checkout's `ioc` so verify can check it.
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/ioc/venv/bin/ioc", ioc))
    (tmp_path / "ioc-ingest@1.service").write_text((tmp_path / "ioc-ingest@.service").read_text())
    names = sorted(p.name for p in tmp_path.iterdir() if "@." not in p.name)
    assert {"ioc-api.service", "ioc-alerts.service", "ioc-migrate.service", "ioc.target"} <= set(names)
    result = subprocess.run([analyze, "verify", "--man=no", *names], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def _environment(unit: str) -> dict[str, str]:
    text = (UNITS / unit).read_text()
    return dict(
        line.removeprefix("Environment=").split("=", 1) for line in text.splitlines() if line.startswith("Environment=")
    )


def test_the_api_asks_the_other_units_on_their_ports() -> None:
    from urllib.parse import urlsplit

    ports = {"alerts": int(_environment("ioc-alerts.service")["IOC_HTTP_PORT"]),
             "ingest-1": int(_environment("ioc-ingest@.service")["IOC_HTTP_PORT"].replace("%i", "1"))}  # fmt: skip
    api = _environment("ioc-api.service")
    assert int(api["IOC_HTTP_PORT"]) not in ports.values()
    peers = {urlsplit(u).fragment: urlsplit(u).port for u in api["IOC_PEER_URLS"].split(",")}
    assert peers == ports
