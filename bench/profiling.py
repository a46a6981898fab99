"""--profile of the ingest bench: py-spy on `ioc run` and every process under it, one recording per phase,
beside the operating system's CPU time of each of their threads.

py-spy records with `--gil`: a thread's samples are the time it held the GIL, i.e. ran Python; the OS
figures add what threads did without it (libpq, numpy, the kernel). py-spy's default mode is not used:
on this machine it counted threads waiting in `Condition.wait` as running.
Per phase: `{name}.collapsed` (collapsed stacks), `{name}.svg` (flamegraph), `{name}.top.txt`.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil
from flamegraph import write_svg
from resources import ProcessLister

_LINE = re.compile(r":\d+\)$")
_THREAD = re.compile(r"^thread \((\d+)\)(?:: (.*))?$")


def thread_cpu(procs: list[psutil.Process]) -> dict[int, tuple[int, float]]:
    """Native thread id -> (pid, CPU seconds so far) of every thread of `procs`."""
    found = {}
    for proc in procs:
        try:
            for t in proc.threads():
                found[t.id] = (proc.pid, t.user_time + t.system_time)
        except psutil.Error:
            pass
    return found


class Profiler:
    def __init__(self, folder: Path, processes: ProcessLister, rate: int = 100):
        self.folder, self.processes, self.rate = folder, processes, rate
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self._proc: subprocess.Popen | None = None
        self._name = ""
        self._started = 0.0
        self._threads: dict[int, tuple[int, float]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, pid: int) -> None:
        self._name, self._started = name, time.time()
        self._threads = thread_cpu(self.processes())
        self._proc = subprocess.Popen(
            [self.exe, "record", "--pid", str(pid), "--subprocesses", "--threads", "--gil", "--rate", str(self.rate),
             "--format", "raw", "--output", str(self.folder / f"{name}.collapsed")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self, wall_s: float | None = None) -> list[Path]:
        """Stops the recording (`wall_s`: the seconds it measures, default since `start()`); returns the
        files written."""
        if self._proc is None:
            return []
        wall = max(wall_s if wall_s is not None else time.time() - self._started, 1e-9)
        now = thread_cpu(self.processes())
        cores = {tid: (pid, (cpu - self._threads.get(tid, (pid, 0.0))[1]) / wall) for tid, (pid, cpu) in now.items()}
        self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        self._proc = None
        collapsed = self.folder / f"{self._name}.collapsed"
        if not collapsed.exists():
            print(f"    py-spy wrote nothing: {err.decode(errors='replace').strip()[-500:]}")
            return []
        stacks = read_collapsed(collapsed)
        top = self.folder / f"{self._name}.top.txt"
        top.write_text(top_report(self._name, stacks, self.rate, wall, cores))
        svg = self.folder / f"{self._name}.svg"
        write_svg(stacks, svg, title=f"{self._name}: ioc run and every process under it, GIL holder sampled")
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


def top_report(
    name: str,
    stacks: Counter[tuple[str, ...]],
    rate: int,
    wall_s: float,
    cores: dict[int, tuple[int, float]],
    limit: int = 25,
) -> str:
    """Threads by CPU (OS) and GIL share (py-spy), then per thread its functions by own and total time."""
    by_thread: dict[int, Counter[tuple[str, ...]]] = defaultdict(Counter)
    names: dict[int, str] = {}
    for stack, count in stacks.items():
        match = next((m for f in stack if (m := _THREAD.match(f))), None)
        tid = int(match.group(1)) if match else -1
        names[tid] = (match.group(2) or "") if match else "?"
        # Functions, not lines: "f (file.py:12)" and "f (file.py:30)" are one entry.
        code = tuple(_LINE.sub(")", f) for f in stack if not f.startswith(("process ", "thread (")))
        by_thread[tid][code] += count
    per_second = rate * wall_s  # samples of a thread that held the GIL all the time
    held = sum(stacks.values()) / per_second
    lines = [
        f"{name}: {wall_s:.1f} s from the first publish to the last commit; py-spy --gil at {rate} Hz.",
        f"The GIL was held {held:.0%} of the time (summed over processes). Threads by CPU:",
        "",
        "  cores (OS)  GIL held  pid     thread",
    ]
    for tid in sorted(set(cores) | set(by_thread), key=lambda t: -cores.get(t, (0, 0.0))[1]):
        pid, busy = cores.get(tid, (0, 0.0))
        gil = sum(by_thread[tid].values()) / per_second if tid in by_thread else 0.0
        if busy >= 0.005 or gil >= 0.005:
            lines.append(f"  {busy:10.2f}  {gil:8.0%}  {pid:<7} {names.get(tid, '')} ({tid})")
    lines.append("")
    for tid, counter in sorted(by_thread.items(), key=lambda item: -sum(item[1].values())):
        n = sum(counter.values())
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        for code, count in counter.items():
            if code:
                own[code[-1]] += count
            for frame in set(code):
                inclusive[frame] += count
        lines.append(f"== {names.get(tid, '?')} ({tid}): held the GIL {n / per_second:.0%} of the time")
        lines.append("   own time (share of this thread's samples):")
        lines += [f"   {c / n:6.1%}  {frame}" for frame, c in own.most_common(limit)]
        lines.append("   total time:")
        lines += [f"   {c / n:6.1%}  {frame}" for frame, c in inclusive.most_common(limit)]
        lines.append("")
    return "\n".join(lines)
