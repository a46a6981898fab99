"""What the service's processes use while the ingest bench runs: RSS of them all together (sampled, peak
kept) and CPU per process group over a phase."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psutil

ProcessLister = Callable[[], list[psutil.Process]]


class RssSampler:
    """Sums the RSS of every process `processes()` lists, every `interval` s; keeps each sample's time."""

    def __init__(self, processes: ProcessLister, interval: float = 0.2):
        self._processes = processes
        self._interval = interval
        self._samples: list[tuple[float, int, int]] = []  # (time, total bytes, processes)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            total, count = 0, 0
            for proc in self._processes():
                try:
                    total += proc.memory_info().rss
                    count += 1
                except psutil.Error:
                    pass
            with self._lock:
                self._samples.append((time.time(), total, count))

    def peak(self, since: float = 0.0) -> tuple[float, int]:
        """Peak total RSS in MB since `since`, and how many processes it summed."""
        with self._lock:
            window = [(total, count) for t, total, count in self._samples if t >= since]
        if not window:
            return float("nan"), 0
        total, count = max(window)
        return total / 2**20, count

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    found = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
    return found


class CpuMeter:
    """CPU of named process groups between `start()` and `stop()`, in cores (CPU seconds per second)."""

    def __init__(self, groups: dict[str, ProcessLister]):
        self._groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._t0 = 0.0
        self._machine0 = 0.0
        self.machine = 0.0  # cores busy on the whole machine, whoever used them, from start() to stop()

    def start(self) -> None:
        self._t0 = time.time()
        self._machine0 = _machine_busy_s()
        self._start = {name: cpu_seconds(lister()) for name, lister in self._groups.items()}

    def stop(self, wall_s: float | None = None) -> dict[str, dict[int, float]]:
        """Per group, per pid: cores busy on average over `wall_s` (default: since `start()`); a process
        started meanwhile counts from its start."""
        wall = max(wall_s if wall_s is not None else time.time() - self._t0, 1e-9)
        used = {}
        for name, lister in self._groups.items():
            before = self._start.get(name, {})
            now = cpu_seconds(lister())
            used[name] = {pid: (cpu - before.get(pid, 0.0)) / wall for pid, cpu in now.items()}
        self.machine = (_machine_busy_s() - self._machine0) / max(time.time() - self._t0, 1e-9)
        return used


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, every process), idle and I/O wait left out."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def format_cpu(used: dict[str, dict[int, float]], extra: dict[str, float], summed: tuple[str, ...] = ()) -> str:
    """`name total (per pid)`; groups in `summed` only with their process count."""
    parts = []
    for name, per_pid in used.items():
        total = sum(per_pid.values())
        if name in summed:
            parts.append(f"{name} {total:.2f} ({len(per_pid)} processes)")
        elif len(per_pid) > 1:
            detail = ", ".join(f"{pid} {cores:.2f}" for pid, cores in sorted(per_pid.items()))
            parts.append(f"{name} {total:.2f} ({len(per_pid)} processes: {detail})")
        else:
            parts.append(f"{name} {total:.2f}")
    parts += [f"{name} {cores:.2f}" for name, cores in extra.items()]
    return "; ".join(parts)
