"""The kiosk agent reads this machine's health through psutil."""

from __future__ import annotations

from types import SimpleNamespace

import psutil

from collectors.probes.kiosk_agent import collect_kiosk, hottest_temperature


def test_reads_this_machine() -> None:
    metrics = collect_kiosk("/")
    assert {"cpu_pct", "mem_pct", "disk_free_pct"} <= metrics.keys()
    assert 0 <= metrics["cpu_pct"] <= 100 * (psutil.cpu_count() or 1)
    assert 0 < metrics["mem_pct"] < 100
    assert 0 <= metrics["disk_free_pct"] <= 100
    usage = psutil.disk_usage("/")
    assert abs(metrics["disk_free_pct"] - 100 * usage.free / usage.total) < 1
    if "temp_c" in metrics:
        assert metrics["temp_c"] == hottest_temperature()


def test_temperature_is_the_hottest_sensor_or_absent() -> None:
    reading = SimpleNamespace
    sensors = {"coretemp": [reading(current=48.0), reading(current=61.5)], "acpitz": [reading(current=40.0)]}
    assert hottest_temperature(SimpleNamespace(sensors_temperatures=lambda: sensors)) == 61.5
    assert hottest_temperature(SimpleNamespace(sensors_temperatures=dict)) is None
    assert hottest_temperature(SimpleNamespace()) is None  # the OS exposes no sensors (Windows, macOS)
