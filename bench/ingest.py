"""Ingest benchmark of `ioc run` as shipped: one command, prints figures (a benchmark, not a timed test).

    python bench/ingest.py [--phase a|b|c] [--entities 1000] [--batched 10000] [--single 50000]
                           [--series 100000] [--reference-rows 1000000] [--publishers 1]
                           [--ingest-processes N] [--timeout 120] [--profile DIR] [--database ioc_bench]

Sets up, each through its own command: a private Mosquitto with deploy/mosquitto/mosquitto.conf and its
pattern ACL (accounts ioc and ioc-simulator), a fresh database (`ioc migrate`), an inventory of the
entities the publisher uses (`ioc inventory load`: kiosks behind links, and services, so the default
alert rules evaluate them), then starts `ioc run` with its default roles as a process of its own and
waits for /readyz and for a first sample to be stored. It talks to the service only through MQTT, the
store and HTTP, so it holds whatever process layout `ioc run` has.

Each phase's messages are published at QoS 1 by a publisher process (paho-mqtt 2, MQTT v5) to
`ioc/v1/metrics/{kind}/{id}`, JSON sample arrays (contract section 2), every sample with a ts of its own
phase's range. A phase's time runs from the first publish to the commit of the last batch holding its
samples (the writer's NOTIFY, seen by a LISTEN here), and ends only once an exact count of the phase's ts
range in `samples` equals what was published. Phases:
  (a) 100-sample messages, series already known: samples/s stored, and % of a raw binary COPY into a
      one-index reference table of the same row shape (measured just before and just after (a));
  (b) single-sample messages: messages/s stored;
  (c) 100,000 live series: each 100-sample message brings 100 new series: samples/s stored.
Beside each phase: what the publisher managed on its own, CPU per process group (cores), and the peak
RSS of all the service's processes together (`ioc run` and its children). At the end, every phase is
checked by identity (series key and ts): count, no sample stored twice, sum of values, dead letters.
--profile DIR records each phase with py-spy (--gil) on `ioc run` and every process under it, beside the
OS CPU time of each of their threads: collapsed stacks, an SVG flamegraph and a top list (threads by CPU
and GIL share, then functions) per phase. py-spy pauses each process to sample it: take the figures from
a run without --profile.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiling import Profiler
from resources import CpuMeter, RssSampler, format_cpu
from stack import PUBLISHER_USER, SERVICE_USER, Broker, IocRun, free_port, fresh_database, service_env
from store_probe import CommitWatch, reference_copy_rate, stored_count, verify
from workload import Phase, inventory_yaml

ADMIN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PUBLISHER = Path(__file__).with_name("publisher.py")
QUIET_S = 1.0  # no commit for this long after the last acknowledgement: time for an exact count
RSS_TARGET_MB = 400


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its target (the issue's), printed on its phase's line and in the summary."""

    label: str
    value: float
    target: float
    unit: str  # "samples/s", "msg/s", "MB", or "of the reference COPY" (value and target are shares)
    below: bool = False  # the target is an upper bound

    @property
    def met(self) -> bool:
        return self.value < self.target if self.below else self.value >= self.target

    def _number(self, x: float) -> str:
        return f"{x:.1%}" if self.unit.startswith("of ") else f"{x:,.0f}"

    def __str__(self) -> str:
        bound = "<" if self.below else ">="
        verdict = "met" if self.met else "MISSED"
        return f"{self._number(self.value)} {self.unit} [target {bound} {self._target()}: {verdict}]"

    def _target(self) -> str:
        return self._number(self.target) + (" MB" if self.unit == "MB" else "")

    def row(self) -> str:
        bound = "<" if self.below else ">="
        value = self._number(self.value) + ("" if self.unit.startswith("of ") else f" {self.unit}")
        verdict = "met" if self.met else "MISSED"
        return f"  {self.label:<40} {value:>16}   target {bound} {self._target():<9} {verdict}"


@dataclass
class PhaseResult:
    name: str
    phase: Phase
    stored: int
    seconds: float  # first publish -> last commit
    publish_s: float  # first publish -> broker acknowledged every message
    cpu: str
    rss_mb: float
    rss_processes: int
    notes: list[str] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.stored / self.seconds

    @property
    def messages_per_s(self) -> float:
        return self.phase.messages * self.stored / self.phase.samples() / self.seconds


class Bench:
    def __init__(self, args: argparse.Namespace, broker: Broker, service: IocRun, dsn: str):
        self.args, self.broker, self.service, self.dsn = args, broker, service, dsn
        self.watch = CommitWatch(dsn)
        self.count_conn = psycopg.connect(dsn, autocommit=True)
        self.rss = RssSampler(service.processes)
        mosquitto = psutil.Process(broker.pid)
        self.cpu = CpuMeter({"ioc run": service.processes, "postgres": self.backends, "mosquitto": lambda: [mosquitto]})
        self.profiler = Profiler(Path(args.profile), service.processes) if args.profile else None
        self.next_t0 = 0.0
        self.ranges: list[tuple[str, Phase]] = []

    def backends(self) -> list[psutil.Process]:
        """PostgreSQL backends serving the bench's database (the service's, and the bench's own LISTEN)."""
        rows = self.count_conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        procs = []
        for (pid,) in rows:
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        return procs

    def new_phase(self, shape: str, messages: int) -> Phase:
        """A phase whose sample timestamps start now (just before) and follow every earlier phase's."""
        phase = Phase(shape, messages, self.args.entities, max(time.time() - 1.0, self.next_t0))
        self.next_t0 = phase.t0 + phase.span_s() + 1.0
        return phase

    def first_sample(self) -> tuple[float, int]:
        """Publish single samples until one is stored (the broker drops what comes before the service's
        subscription exists): seconds until the first was stored, and how many were published."""
        started = time.time()
        probes: list[Phase] = []
        while time.time() < started + self.args.timeout:
            probes.append(self.new_phase("single", 1))
            for proc in self.publish(probes[-1], parts=1):
                proc.communicate()
            until = time.time() + 3.0
            while time.time() < until:
                if any(self.watch.last_commit(*p.ts_range()) for p in probes):
                    return time.time() - started, len(probes)
                time.sleep(0.02)
        raise SystemExit(f"no sample stored within {self.args.timeout} s of publishing; see {self.service.log}")

    def publish(self, phase: Phase, parts: int, on_go: Callable[[], None] = lambda: None) -> list[subprocess.Popen]:
        """Start the publisher processes, wait until their payloads are built, and set them going."""
        procs = []
        for index in range(parts):
            spec = {"host": "127.0.0.1", "port": self.broker.port, "username": PUBLISHER_USER,
                    "password": self.broker.passwords[PUBLISHER_USER], "part": [index, parts],
                    "phase": {"shape": phase.shape, "messages": phase.messages, "entities": phase.entities,
                              "t0": phase.t0}}  # fmt: skip
            procs.append(subprocess.Popen([sys.executable, str(PUBLISHER), orjson.dumps(spec).decode()],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))  # fmt: skip
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"publisher exited with code {proc.wait()}")
        on_go()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return procs

    def run(self, name: str, phase: Phase, quiet: bool = False) -> PhaseResult:
        """Publish one phase and wait until every sample of it is in the store (or the store stalls)."""
        self.ranges.append((name, phase))
        mark = time.time()
        procs = self.publish(phase, self.args.publishers, on_go=lambda: self.measure_from(name))
        results: list[dict] = []
        readers = [threading.Thread(target=_read_result, args=(proc, results)) for proc in procs]
        for reader in readers:
            reader.start()
        stored, end, notes = self.wait_stored(name, phase, lambda: len(results) == len(procs), quiet)
        for reader in readers:
            reader.join()
        for proc in procs:
            proc.wait()
        errors = [r.get("error", "no result") for r in results if "all_acked" not in r]
        if errors or len(results) != len(procs):
            raise SystemExit(f"{name}: publisher failed: {errors}")
        first = min(r["first_publish"] for r in results)
        acked = max(r["all_acked"] for r in results)
        used = self.cpu.stop(wall_s=end - first)
        if self.profiler and (written := self.profiler.stop(wall_s=end - first)):
            notes.append(f"profile: {', '.join(str(p) for p in written)}")
        publisher_cores = sum(r["cpu_s"] for r in results) / max(acked - first, 1e-9)
        extra = {"publisher (while publishing)": publisher_cores, "whole machine, anyone's": self.cpu.machine}
        cpu = format_cpu(used, extra, summed=("postgres",))
        rss, rss_procs = self.rss.peak(since=mark)
        return PhaseResult(name, phase, stored, end - first, acked - first, cpu, rss, rss_procs, notes)

    def measure_from(self, name: str) -> None:
        """Just before the first publish: CPU counters, and py-spy if asked for (file names: a, b, c, ...)."""
        self.cpu.start()
        if self.profiler:
            self.profiler.start(name.split(" ")[0].strip("()"), self.service.pid)

    def wait_stored(
        self, name: str, phase: Phase, published: Callable[[], bool], quiet: bool
    ) -> tuple[int, float, list[str]]:
        """Wait for the phase's samples: samples stored, when the last batch holding any committed, notes.

        Cheap while it runs (the NOTIFY of each commit); exact at the end: once the publisher is done and
        no commit came for QUIET_S, count the phase's ts range, again after each later commit."""
        t0, t1 = phase.ts_range()
        expected = phase.samples()
        notes: list[str] = []
        stored, counted_for, counted_at, progress = 0, -1.0, 0.0, time.time()
        while True:
            time.sleep(0.05)
            now = time.time()
            if (code := self.service.exit_code()) is not None:
                raise SystemExit(f"{name}: ioc run exited with code {code}; see {self.service.log}")
            last = self.watch.last_commit(t0, t1)
            progress = max(progress, last or 0.0)
            if now - progress > self.args.timeout:
                if not published():
                    raise SystemExit(f"{name}: no commit for {self.args.timeout:.0f} s while publishing")
                notes.append(
                    f"GAVE UP: {expected - stored:,} samples not stored {self.args.timeout:.0f} s after a commit"
                )
                break
            if not published() or now - progress < QUIET_S:
                continue
            if (last or 0.0) != counted_for or (last is None and now - counted_at > 2):
                counted_for, counted_at = last or 0.0, now
                stored = stored_count(self.count_conn, t0, t1)
                if stored >= expected:
                    break
                if not quiet:
                    print(f"  ... {stored:,} of {expected:,} stored, {now - progress:.1f} s since a commit")
        if last is None:
            notes.append("no NOTIFY seen: the end time is that of the exact count (coarse)")
        return stored, last if last is not None else counted_at, notes


def _read_result(proc: subprocess.Popen, results: list[dict]) -> None:
    assert proc.stdout is not None
    results.append(orjson.loads(proc.stdout.readline() or "{}"))


def print_result(result: PhaseResult, *figures: Figure) -> None:
    p = result.phase
    rss = Figure("RSS peak", result.rss_mb, RSS_TARGET_MB, "MB", below=True)
    print(f"{result.name}: {', '.join(str(f) for f in figures)}")
    print(
        f"    {result.stored:,} of {p.samples():,} samples ({p.messages:,} messages) stored in {result.seconds:.2f} s"
        f" from the first publish; the publisher had them all acknowledged by the broker after"
        f" {result.publish_s:.2f} s ({p.messages / result.publish_s:,.0f} msg/s)"
    )
    print(f"    cpu, cores busy of {os.cpu_count()}: {result.cpu}")
    print(f"    RSS of the service's {result.rss_processes} processes together, peak: {rss}")
    for note in result.notes:
        print(f"    {note}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["a", "b", "c"], action="append", help="run only this phase (repeatable)")
    parser.add_argument("--entities", type=int, default=1000, help="inventory entities the messages go to")
    parser.add_argument("--batched", type=int, default=10_000, help="(a) messages of 100 samples")
    parser.add_argument("--single", type=int, default=50_000, help="(b) single-sample messages")
    parser.add_argument("--series", type=int, default=100_000, help="(c) new series, 100 a message")
    parser.add_argument("--reference-rows", type=int, default=1_000_000, help="rows of each reference COPY")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes sharing each phase")
    parser.add_argument("--ingest-processes", type=int, help="IOC_INGEST_PROCESSES for ioc run (if it has it)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds without a commit before giving up")
    parser.add_argument("--profile", metavar="DIR", help="py-spy every service process, per phase, into DIR")
    parser.add_argument("--database", default="ioc_bench", help="database to (re)create on the local server")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, broker config)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    phases = args.phase or ["a", "b", "c"]
    workdir = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{args.database}"
    http_port = free_port()
    broker = Broker(workdir)
    extra = {"IOC_INGEST_PROCESSES": str(args.ingest_processes)} if args.ingest_processes else {}
    env = service_env(dsn, broker.url(SERVICE_USER), http_port, workdir, extra)
    inventory = workdir / "inventory.yaml"
    inventory.write_text(inventory_yaml(args.entities))
    service = IocRun(env, http_port, workdir)
    bench = None
    keep = args.keep
    exactly_once = False
    try:
        broker.start()
        print(fresh_database(ADMIN, args.database, env, inventory, workdir))
        service.start()
        ready_s = service.wait_ready()
        bench = Bench(args, broker, service, dsn)
        first_s, probes = bench.first_sample()
        print(
            f"ioc run: /readyz 200 after {ready_s:.1f} s, first sample stored after {ready_s + first_s:.1f} s"
            f" ({probes} single-sample messages published one by one until one was stored);"
            f" {len(service.processes())} processes; {os.cpu_count()} CPUs on this machine"
        )
        for proc in service.processes()[1:]:  # the layout, when ioc run has children
            with contextlib.suppress(psutil.Error):
                print(f"    child {proc.pid}: {' '.join(proc.cmdline())[-100:]}")
        warm = bench.run("warm-up", bench.new_phase("batched", args.entities), quiet=True)
        print(f"warm-up (every entity's series created): {warm.stored:,} samples in {warm.seconds:.2f} s\n")
        figures = run_phases(bench, args, phases)
        rss, count = bench.rss.peak()
        figures.append(Figure(f"RSS peak, {count} service processes together", rss, RSS_TARGET_MB, "MB", below=True))
        exactly_once = check_exactly_once(bench)
        print("\nsummary (this machine; figures move with its load):")
        print("\n".join(f.row() for f in figures))
        print(f"  {'every sample stored exactly once':<40} {'yes' if exactly_once else 'NO':>16}")
    finally:
        if bench is not None:
            bench.rss.stop()
            bench.watch.close()
            bench.count_conn.close()
        keep = keep or not exactly_once
        if service.proc is not None:
            print(service.stop())
            errors, first = service.log_problems()
            if errors:
                keep = True
                print(f"ioc run logged {errors} ERROR/Traceback lines; first distinct ones:")
                print("\n".join(f"    {line}" for line in first))
        broker.stop()
        if keep:
            print(f"work folder kept: {workdir} (ioc-run.log, broker/mosquitto.log, inventory.yaml)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if exactly_once else 1)


def run_phases(bench: Bench, args: argparse.Namespace, phases: list[str]) -> list[Figure]:
    figures = []
    if "a" in phases:
        ref_before = reference_copy_rate(bench.dsn, args.reference_rows)
        a = bench.run("(a) 100-sample messages", bench.new_phase("batched", args.batched))
        ref_after = reference_copy_rate(bench.dsn, args.reference_rows)
        ref = (ref_before + ref_after) / 2
        new = [
            Figure("(a) 100-sample messages", a.samples_per_s, 100_000, "samples/s"),
            Figure("(a) share of the reference COPY", a.samples_per_s / ref, 0.40, "of the reference COPY"),
        ]
        print_result(a, *new)
        print(
            f"    reference: binary COPY of {args.reference_rows:,} rows into a table with one unique index,"
            f" {ref_before:,.0f} rows/s just before (a), {ref_after:,.0f} just after, mean {ref:,.0f}"
        )
        figures += new
    if "b" in phases:
        b = bench.run("(b) single-sample messages", bench.new_phase("single", args.single))
        figures.append(Figure("(b) single-sample messages", b.messages_per_s, 10_000, "msg/s"))
        print_result(b, figures[-1])
    if "c" in phases:
        c = bench.run(f"(c) {args.series:,} live series", bench.new_phase("new_series", args.series // 100))
        figures.append(Figure("(c) 100 new series a message", c.samples_per_s, 100_000, "samples/s"))
        print_result(c, figures[-1])
    return figures


def check_exactly_once(bench: Bench) -> bool:
    """Every phase by sample identity: each published sample stored once, nothing else."""
    print("\nexactly once (by series key and ts, each phase's own ts range; dead letters of the whole run):")
    ok = True
    for name, phase in bench.ranges:
        v = verify(bench.count_conn, *phase.ts_range())
        problems = v.problems(phase.samples(), phase.expected_value_sum(), phase.expected_series())
        ok = ok and not problems
        verdict = "; ".join(problems) if problems else "every sample stored exactly once"
        print(
            f"    {name}: published {phase.samples():,}, stored {v.rows:,}, distinct {v.distinct:,},"
            f" in {v.series:,} series: {verdict}"
        )
    return ok


if __name__ == "__main__":
    main()
