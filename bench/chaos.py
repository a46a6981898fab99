"""The chaos suite: `ioc run` as shipped, faults injected from outside, and what each one cost.

    .venv/bin/python bench/chaos.py [--only broker-restart,leader-kill] [--outage-s 300] [--kiosks 40]

It runs a PostgreSQL cluster and a Mosquitto of its own (ioc.local_services, so it can stop and restart
them without touching the machine's), `ioc run` with its default roles, a second `ioc run --role alerts`
as standby, a webhook receiver, and a fleet of kiosks and one portal publishing twice a second at QoS 1.

Every scenario holds an incident open across its fault: the portal reports `incident_active 1`, its page
must arrive, the fault is injected and cleared, the incident closes and its resolve page must arrive.
At the end, for the samples stamped in each scenario's window, it prints: published (acknowledged by
the broker), stored, duplicated, lost; and pages: expected (the incident's firing and resolved), sent,
doubled, missing, and any other page (unexpected). Target: 0 lost, 0 duplicated, 0 doubled or missing.
Needs root for the spool's full disk (a tmpfs); it skips with the reason otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_stack import (
    INCIDENT_RULE,
    INCIDENT_SERVICE,
    RULES_YAML,
    Fleet,
    Receiver,
    SpoolDisk,
    inventory_yaml,
    kill9,
    metric_value,
    role_processes,
    routes_yaml,
)
from stack import IocRun, ioc_command, service_env

from ioc.local_services import Account, LocalMosquitto, LocalPostgres, free_port, state_dir

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    name: str
    t0: float
    t1: float = 0.0
    skipped: str = ""
    notes: list[str] = field(default_factory=list)
    firing_after_s: float | None = None
    closed_at: float | None = None
    resolved_after_s: float | None = None


class Suite:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = (ROOT / "var" / "chaos").resolve()
        if (self.work / "spool").is_mount():  # left by a run that was killed
            subprocess.run(["umount", "-l", str(self.work / "spool")], check=False)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        pg_account, mq_account = Account.for_service("postgres"), Account.for_service("mosquitto")
        for name in ("chaos-pg", "chaos-broker"):
            shutil.rmtree(ROOT / "var" / name, ignore_errors=True)
        pg_dir = state_dir("chaos-pg", pg_account, ROOT / "var") / "data"
        self.pg = LocalPostgres(pg_dir, account=pg_account, tcp_password="chaos")
        self.broker = LocalMosquitto(state_dir("chaos-broker", mq_account, ROOT / "var"), account=mq_account)
        self.receiver = Receiver()
        self.spool = SpoolDisk(self.work / "spool")
        # `ioc run` takes IOC_HTTP_PORT and the next ones (alerts +1, ingest +2...): the standby sits above them.
        self.http_port = free_port()
        self.standby_port = self.http_port + 10
        self.outcomes: list[Outcome] = []

    # --- the stack -------------------------------------------------------------------------------
    def env(self, port: int) -> dict[str, str]:
        (self.work / "rules").mkdir(exist_ok=True)
        (self.work / "rules" / "chaos.yaml").write_text(RULES_YAML)
        (self.work / "routes.yaml").write_text(routes_yaml(self.receiver.url))
        extra = {
            "IOC_RULES_DIR": str(self.work / "rules"),
            "IOC_ALERT_ROUTES_FILE": str(self.work / "routes.yaml"),
            "IOC_LOG_LEVEL": "WARNING",
        }
        return service_env(self.pg.tcp_dsn("ioc"), self.broker.url, port, self.work, extra)

    def start(self) -> None:
        self.pg.start()
        self.broker.start()
        with psycopg.connect(self.pg.tcp_dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE ioc")
        inventory = self.work / "inventory.yaml"
        inventory.write_text(inventory_yaml(self.args.kiosks), encoding="utf-8")
        for args in (("migrate",), ("inventory", "load", str(inventory))):
            done = subprocess.run(ioc_command(*args), env=self.env(self.http_port), cwd=self.work,
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode:
                raise SystemExit(f"ioc {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        if SpoolDisk.why_not() is None:
            self.spool.mount()
        self.run = IocRun(self.env(self.http_port), self.http_port, self.work).start()
        self.run.wait_ready()
        self.standby = self.start_standby() if not self.args.no_standby else None
        self.fleet = Fleet("127.0.0.1", self.broker.port, self.args.kiosks).start()
        time.sleep(10)  # every entity has reported: nothing is silent when the first scenario starts

    def start_standby(self) -> IocRun:
        standby = IocRun(self.env(self.standby_port), self.standby_port, self.work)
        standby.log = self.work / "ioc-alerts-standby.log"
        with standby.log.open("ab") as log:
            standby.started = time.time()
            standby.proc = subprocess.Popen(
                ioc_command("run", "--role", "alerts"), env=standby.env, cwd=self.work, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        standby.wait_ready(60)
        return standby

    def stop(self) -> None:
        for part in (getattr(self, "fleet", None),):
            if part:
                part.stop()
        for run in (getattr(self, "standby", None), getattr(self, "run", None)):
            if run:
                print(f"  {run.stop()}")
        self.spool.unmount()
        self.broker.stop()
        self.pg.stop()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            self.fleet.resend_stale()
            time.sleep(0.5)

    def hold(self, seconds: float) -> None:
        """Let time pass while the fleet's retries go on."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.fleet.resend_stale()
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    # --- a scenario ------------------------------------------------------------------------------
    def scenario(self, name: str, fault: Callable[[Outcome], None], skip: str | None = None) -> None:
        out = Outcome(name, time.time())
        self.outcomes.append(out)
        if skip:
            out.skipped, out.t1 = skip, time.time()
            print(f"- {name}: skipped ({skip})", flush=True)
            return
        print(f"- {name} ...", flush=True)
        self.fleet.incident = True
        opened = time.time()
        page = self.receiver.wait(out.t0, INCIDENT_RULE, "firing", 60)
        out.firing_after_s = page.received - opened if page else None
        print(f"  incident page after {_s(out.firing_after_s)}; injecting the fault", flush=True)
        fault(out)
        self.wait_ready()
        if self.fleet.incident:
            self.hold(5)
            self.close_incident(out)
        assert out.closed_at is not None
        page = self.receiver.wait(out.closed_at, INCIDENT_RULE, "resolved", 180)
        out.resolved_after_s = page.received - out.closed_at if page else None
        print(f"  resolve page after {_s(out.resolved_after_s)}", flush=True)
        self.hold(10)  # a doubled page would come now
        out.t1 = time.time()

    def close_incident(self, out: Outcome) -> None:
        self.fleet.incident = False
        out.closed_at = time.time()

    # --- the faults ------------------------------------------------------------------------------
    def broker_restart(self, out: Outcome) -> None:
        self.broker.stop()
        self.hold(3)
        self.broker.start()

    def store_restart(self, out: Outcome) -> None:
        self.pg.stop()
        self.hold(2)
        self.pg.start()

    def store_outage(self, out: Outcome) -> None:
        self.pg.stop()
        self.hold(self.args.outage_s)
        self.pg.start()

    def kill_role(self, role: str) -> Callable[[Outcome], None]:
        def fault(out: Outcome) -> None:
            pids = kill9(role_processes(self.run.pid, role))
            out.notes.append(f"kill -9 {role} pid {pids}")
            self.hold(3)

        return fault

    def spool_full(self, out: Outcome) -> None:
        self.spool.fill()
        self.pg.stop()
        self.hold(60)
        self.pg.start()
        self.hold(10)
        self.spool.free()

    def clock_jump(self, out: Outcome) -> None:
        """The devices' clock steps 2 minutes ahead, then back (a kiosk whose NTP comes and goes)."""
        # A quarter second off the fleet's half-second ticks: no sample stamped ahead shares a `ts` with one
        # sent later at that time (the store would rightly keep one of the two).
        self.fleet.clock_offset_s = 120.25
        self.hold(20)
        self.fleet.clock_offset_s = 0.0
        self.hold(125)  # the window then holds every sample stamped ahead

    def leader_kill(self, out: Outcome) -> None:
        ports = {"supervised": self.http_port + 1, "standby": self.standby_port}
        leaders = {name: metric_value(port, "ioc_alerts_leader") for name, port in ports.items()}
        out.notes.append(f"ioc_alerts_leader before: {leaders}")
        if leaders.get("standby") == 1 and self.standby is not None:
            assert self.standby.proc is not None
            self.standby.proc.kill()
            out.notes.append(f"killed the standby process (it led), pid {self.standby.pid}")
            self.hold(1)
            self.close_incident(out)  # the resolve must come from the new leader
            self.hold(20)
            self.standby = self.start_standby()
        else:
            pids = kill9(role_processes(self.run.pid, "alerts"))
            out.notes.append(f"killed the supervised alerts process, pid {pids}")
            self.hold(1)
            self.close_incident(out)
            self.hold(20)
        after = {name: metric_value(port, "ioc_alerts_leader") for name, port in ports.items()}
        out.notes.append(f"ioc_alerts_leader after: {after}")

    # --- the run ---------------------------------------------------------------------------------
    def run_all(self) -> None:
        plan: list[tuple[str, Callable[[Outcome], None], str | None]] = [
            ("broker restart", self.broker_restart, None),
            ("store restart", self.store_restart, None),
            (f"store outage {self.args.outage_s:.0f} s", self.store_outage, None),
            ("kill -9 ingest", self.kill_role("ingest"), None),
            ("kill -9 alerts", self.kill_role("alerts"), None),
            ("kill -9 api", self.kill_role("api"), None),
            ("spool disk full", self.spool_full, SpoolDisk.why_not()),
            ("device clock jump +120 s and back", self.clock_jump, None),
            ("leader kill during an incident", self.leader_kill,
             "run without a standby (--no-standby)" if self.args.no_standby else None),
        ]  # fmt: skip
        only = set(self.args.only.split(",")) if self.args.only else None
        for name, fault, skip in plan:
            slug = name.split(" ")[0] if not name.startswith("kill") else name.replace("kill -9 ", "kill-")
            if only and not ({slug, name} & only or any(o in name for o in only)):
                continue
            self.scenario(name, fault, skip)
            self.hold(3)
        self.fleet.incident = False
        print("- settling: the fleet stops, the store catches up ...", flush=True)
        self.fleet.pause()
        self.settle()

    def settle(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            self.fleet.resend_stale(5)
            stored = self.stored_between(min(o.t0 for o in self.outcomes), time.time())[1]
            if stored == last and self.fleet.unacked() == 0:
                break
            last = stored
            time.sleep(5)

    def stored_between(self, t0: float, t1: float) -> tuple[int, int]:
        """(rows, distinct (series, ts)) of the fleet's samples stamped in [t0, t1)."""
        sql = """SELECT count(*), count(DISTINCT (s.series_id, s.ts))
                 FROM samples s JOIN series r ON r.id = s.series_id
                 WHERE (r.entity LIKE 'chaos-k%%' OR r.entity = %s)
                   AND s.ts >= to_timestamp(%s) AND s.ts < to_timestamp(%s)"""
        with psycopg.connect(self.pg.tcp_dsn("ioc")) as conn:
            row = conn.execute(sql, (INCIDENT_SERVICE, int(t0), int(t1))).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def report(self) -> int:
        print()
        print(
            "| scenario | published | acked | stored | duplicated | lost | pages expected | sent | doubled | missing "
            "| unexpected | page after / resolve after |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        bad = 0
        for out in self.outcomes:
            if out.skipped:
                print(f"| {out.name} | skipped: {out.skipped} |||||||||||")
                continue
            s0, s1 = int(out.t0), int(out.t1)
            generated = sum(n for sec, n in self.fleet.generated.items() if s0 <= sec < s1)
            acked = sum(n for sec, n in self.fleet.acked.items() if s0 <= sec < s1)
            rows, distinct = self.stored_between(s0, s1)
            lost = max(0, acked - distinct)
            duplicated = rows - distinct
            pages = [p for p in self.receiver.pages if out.t0 <= p.received < out.t1]
            incident = Counter(p.status for p in pages if p.alertname == INCIDENT_RULE)
            sent = incident["firing"] + incident["resolved"]
            doubled = max(0, incident["firing"] - 1) + max(0, incident["resolved"] - 1)
            missing = (incident["firing"] == 0) + (incident["resolved"] == 0)
            others = Counter(f"{p.alertname} {p.entity} {p.status}" for p in pages if p.alertname != INCIDENT_RULE)
            unexpected = ", ".join(f"{k} x{v}" for k, v in others.most_common(4)) or "0"
            if len(others) > 4:
                unexpected += f" (+{len(others) - 4} more)"
            timing = f"{_s(out.firing_after_s)} / {_s(out.resolved_after_s)}"
            print(f"| {out.name} | {generated} | {acked} | {distinct} | {duplicated} | {lost} | 2 | {sent} | {doubled} "
                  f"| {missing} | {unexpected} | {timing} |")  # fmt: skip
            bad += lost + duplicated + doubled + missing + sum(others.values())
            for note in out.notes:
                print(f"|   {note} |||||||||||")
        t0, t1 = int(min(o.t0 for o in self.outcomes)), int(time.time()) + 1
        acked = sum(n for sec, n in self.fleet.acked.items() if t0 <= sec < t1)
        rows, distinct = self.stored_between(t0, t1)
        with psycopg.connect(self.pg.tcp_dsn("ioc")) as conn:
            dead = conn.execute("SELECT count(*) FROM dead_letters WHERE topic LIKE %s", ("%chaos-%",)).fetchone()
        generated = sum(n for sec, n in self.fleet.generated.items() if t0 <= sec < t1)
        print(
            f"| whole run | {generated} | {acked} | {distinct} | {rows - distinct} "
            f"| {max(0, acked - distinct)} | | | | | dead letters: {dead[0] if dead else '?'} | |"
        )
        print(f"\nfleet: {sum(self.fleet.generated.values())} samples generated, {self.fleet.resent} messages re-sent "
              f"after a reconnect or a lost acknowledgement, {self.fleet.unacked()} still unacknowledged")  # fmt: skip
        print("verdict:", "target met (0 lost, 0 duplicated, 0 doubled, missing or unexpected pages)" if bad == 0
              else f"target missed: {bad} lost, duplicated or wrong pages in all")  # fmt: skip
        return 0 if bad == 0 else 1


def _s(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated scenario names or words of them (e.g. broker,leader)")
    parser.add_argument("--outage-s", type=float, default=300.0, help="length of the store outage (default 300)")
    parser.add_argument("--kiosks", type=int, default=40, help="kiosks in the fleet (default 40, each 4 metrics)")
    parser.add_argument("--no-standby", action="store_true", help="no second alerts process")
    args = parser.parse_args()
    suite = Suite(args)
    try:
        suite.start()
        suite.run_all()
        return suite.report()
    finally:
        suite.stop()


if __name__ == "__main__":
    sys.exit(main())
