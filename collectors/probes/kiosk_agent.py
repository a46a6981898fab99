"""Kiosk agent: the kiosk's own health via psutil: `cpu_pct`, `mem_pct`, `disk_free_pct`, `temp_c`.

Runs on the kiosk itself for the one `kiosk` entity it is (`ioc probe kiosk --entity ID`). Keys beside
the core ones: `disk_path` (default `/`, `C:\\` on Windows). `temp_c` is the hottest sensor the OS
exposes (Linux and FreeBSD); where it exposes none the metric is left out, not faked.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import psutil

from collectors.probes.http import ProbeConfigError
from ioc.inventory import Entity


def disk_path_for(entity: Entity) -> str:
    path = entity.attrs.get("disk_path", "C:\\" if os.name == "nt" else "/")
    if not isinstance(path, str) or not path:
        raise ProbeConfigError(f"{entity.ref}: disk_path must be a path")
    return path


def hottest_temperature(ps: ModuleType | Any = psutil) -> float | None:
    read = getattr(ps, "sensors_temperatures", None)
    if read is None:
        return None
    try:
        sensors = read()
    except (OSError, RuntimeError):
        return None
    readings = [t.current for entries in sensors.values() for t in entries if t.current is not None and t.current > 0]
    return round(max(readings), 1) if readings else None


def collect_kiosk(disk_path: str = "/", ps: ModuleType | Any = psutil) -> dict[str, float]:
    """One reading of the kiosk's health."""
    disk = ps.disk_usage(disk_path)
    metrics: dict[str, float] = {
        # interval=None compares with the previous call, so the agent never blocks here.
        "cpu_pct": round(float(ps.cpu_percent(interval=None)), 1),
        "mem_pct": round(float(ps.virtual_memory().percent), 1),
        "disk_free_pct": round(100.0 * disk.free / disk.total, 2) if disk.total else 0.0,
    }
    temp = hottest_temperature(ps)
    if temp is not None:
        metrics["temp_c"] = temp
    return metrics
