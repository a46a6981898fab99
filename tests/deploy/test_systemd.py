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
