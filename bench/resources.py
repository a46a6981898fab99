"""What the service's processes use while the ingest bench runs: RSS of them all together (sampled, peak
kept), CPU per process group over a phase, and py-spy profiles of every service process."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import psutil
from flamegraph import write_svg

_LINE = re.compile(r":\d+\)$")
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


class Profiler:
    """py-spy on the `ioc run` process and, with --subprocesses, every process under it (so the layout
    does not matter), one recording per phase: collapsed stacks, an SVG flamegraph and a top list."""

    def __init__(self, folder: Path, rate: int = 100):
        self.folder = folder
        self.rate = rate
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self._proc: subprocess.Popen | None = None
        self._name = ""
        self._started = 0.0
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, pid: int) -> None:
        self._name = name
        self._started = time.time()
        self._proc = subprocess.Popen(
            [self.exe, "record", "--pid", str(pid), "--subprocesses", "--threads", "--rate", str(self.rate),
             "--format", "raw", "--output", str(self.folder / f"{name}.collapsed")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self, wall_s: float | None = None) -> list[Path]:
        """Stops the recording (`wall_s`: the seconds it measures, default since `start()`); returns the
        files written."""
        if self._proc is None:
            return []
        wall = wall_s if wall_s is not None else time.time() - self._started
        self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        self._proc = None
        collapsed = self.folder / f"{self._name}.collapsed"
        if not collapsed.exists():
            print(f"  py-spy wrote nothing: {err.decode(errors='replace').strip()[-500:]}")
            return []
        stacks = read_collapsed(collapsed)
        top = self.folder / f"{self._name}.top.txt"
        top.write_text(top_report(stacks, self.rate, wall))
        svg = self.folder / f"{self._name}.svg"
        write_svg(stacks, svg, title=f"{self._name}: ioc run, all processes and threads (CPU samples)")
        return [collapsed, svg, top]


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    pending = ""
    for line in path.read_text(errors="replace").splitlines():
        pending += line
        frames, _, count = pending.rpartition(" ")
        if not (frames and count.isdigit()):
            pending += "\\n"  # a command line with a newline in it: the record goes on on the next line
            continue
        stacks[tuple(_frames(frames))] += int(count)
        pending = ""
    return stacks


def _frames(text: str) -> list[str]:
    """Split on `;`, except inside a process frame's quoted command line (`python -c "...; main()"`)."""
    frames: list[str] = []
    for piece in text.split(";"):
        if frames and frames[-1].count('"') % 2:
            frames[-1] += ";" + piece
        else:
            frames.append(piece)
    return frames


def top_report(stacks: Counter[tuple[str, ...]], rate: int, wall_s: float, limit: int = 25) -> str:
    """Per process and thread: CPU in cores (a busy thread gets `rate` samples a second), then functions by
    own and total time."""
    by_thread: dict[tuple[str, str], Counter[tuple[str, ...]]] = defaultdict(Counter)
    for stack, count in stacks.items():
        procs = [f for f in stack if f.startswith("process ")]
        thread = next((f for f in stack if f.startswith("thread (")), "thread ?")
        # Functions, not lines: "f (file.py:12)" and "f (file.py:30)" are one entry.
        code = tuple(_LINE.sub(")", f) for f in stack if not f.startswith(("process ", "thread (")))
        by_thread[(procs[-1] if procs else "process ?", thread)][code] += count
    total = max(sum(stacks.values()), 1)
    per_core = rate * max(wall_s, 1e-9)  # samples one fully busy thread gives over the recording
    lines = [
        f"{total} samples at {rate} Hz over {wall_s:.1f} s. py-spy samples a thread only while it runs, or"
        " waits for a CPU (so on a busy machine some waits count); 'cores' = samples / (rate x seconds).",
        "",
    ]
    by_process: dict[str, int] = Counter()
    for (proc, _), counter in by_thread.items():
        by_process[proc] += sum(counter.values())
    for proc, n in sorted(by_process.items(), key=lambda item: -item[1]):
        lines.append(f"{n / total:6.1%}  {n / per_core:.2f} cores  {proc}")
    lines.append("")
    for (proc, thread), counter in sorted(by_thread.items(), key=lambda item: -sum(item[1].values())):
        n = sum(counter.values())
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        for code, count in counter.items():
            if code:
                own[code[-1]] += count
            for frame in set(code):
                inclusive[frame] += count
        lines.append(f"== {proc} / {thread}: {n} samples, {n / total:.1%} of all, {n / per_core:.2f} cores")
        lines.append("   own time:")
        lines += [f"   {c / n:6.1%}  {frame}" for frame, c in own.most_common(limit)]
        lines.append("   total time:")
        lines += [f"   {c / n:6.1%}  {frame}" for frame, c in inclusive.most_common(limit)]
        lines.append("")
    return "\n".join(lines)
